/* sluice submit | jobs | stop | monitor: job commands. */
#include "alloc.h"
#include "client.h"
#include "clock.h"
#include "msgtypes.h"
#include "proc.h"
#include "sluice/err.h"
#include "submit.h"
#include "job.pb-c.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static int usage_err(const client_cmd *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "sluice %s: ", cmd->name);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	client_cmd_usage(cmd, stderr);
	return EXIT_USAGE;
}

static int submit_run(client *c, int argc, char **argv)
{
	const char *lib = NULL, *name = NULL;
	int64_t batch_ms = 1000;
	char err[512];
	sl_conf *jc = conf_new(CONF_APP_KEYS);
	int rv = EXIT_USAGE;
	for (int i = 1; i < argc; i++) {
		int r = proc_conf_arg(jc, argc, argv, &i, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "sluice submit: %s\n", err);
			goto out;
		}
		if (r == 1)
			continue;
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
			name = argv[++i];
		} else if (strcmp(argv[i], "--batch-interval") == 0 && i + 1 < argc) {
			if (conf_parse_duration_ms(argv[++i], &batch_ms) != SL_OK ||
			    batch_ms < 10) {
				rv = usage_err(
				    &cmd_submit,
				    "bad --batch-interval '%s' (e.g. 500ms, 1s)",
				    argv[i]);
				goto out;
			}
		} else if (argv[i][0] != '-' && lib == NULL) {
			lib = argv[i];
		} else {
			rv = usage_err(&cmd_submit, "unknown or incomplete option '%s'",
			               argv[i]);
			goto out;
		}
	}
	if (lib == NULL || name == NULL) {
		rv =
		    usage_err(&cmd_submit, "%s", "a job library and --name are required");
		goto out;
	}
	rv = submit_job(c, lib, name, batch_ms, jc);
out:
	conf_free(jc);
	return rv;
}

const client_cmd cmd_submit = {
    .name = "submit",
    .summary = "submit a job library to the cluster",
    .usage =
        "usage: sluice submit JOB.so --name NAME [--batch-interval 1s] [--conf k=v]...\n"
        "Loads JOB.so, runs its sluice_job_define, checks the graph, and sends the\n"
        "graph, the library and the configuration to the master. The job starts at\n"
        "once. --conf keys are the job's configuration: spark.* and sluice.* keys\n"
        "(checked) and the job's own keys (e.g. source.host).\n",
    .run = submit_run,
    .needs_master = 1,
};

static Sluice__ListJobsReply *fetch_jobs(client *c)
{
	envelope rep;
	Sluice__ListJobs q = SLUICE__LIST_JOBS__INIT;
	if (client_call(c, MSG_LIST_JOBS, &q, &rep) != EXIT_OK)
		return NULL;
	Sluice__ListJobsReply *r =
	    sluice__list_jobs_reply__unpack(NULL, rep.payload_len, rep.payload);
	envelope_release(&rep);
	if (r == NULL)
		fprintf(stderr, "sluice: malformed reply from the master\n");
	return r;
}

static int jobs_run(client *c, int argc, char **argv)
{
	if (argc > 1)
		return usage_err(&cmd_jobs, "unexpected argument '%s'", argv[1]);
	Sluice__ListJobsReply *r = fetch_jobs(c);
	if (r == NULL)
		return EXIT_ERR;
	printf("%-4s %-20s %-9s %8s %8s %7s %12s  %s\n", "ID", "NAME", "STATE",
	       "INTERVAL", "BATCHES", "FAILED", "RECORDS", "ERROR");
	for (size_t i = 0; i < r->n_jobs; i++) {
		Sluice__JobInfo *j = r->jobs[i];
		char iv[32];
		snprintf(iv, sizeof(iv), "%lldms", (long long)j->batch_interval_ms);
		printf("%-4llu %-20s %-9s %8s %8llu %7llu %12llu  %s\n",
		       (unsigned long long)j->id, j->name, j->state, iv,
		       (unsigned long long)j->batches_done,
		       (unsigned long long)j->batches_failed,
		       (unsigned long long)j->records, j->error);
	}
	sluice__list_jobs_reply__free_unpacked(r, NULL);
	return EXIT_OK;
}

const client_cmd cmd_jobs = {
    .name = "jobs",
    .summary = "list jobs with state and batch counters",
    .usage =
        "usage: sluice jobs\n"
        "Lists every job: id, name, state, batch interval, batches done and failed,\n"
        "records processed, and the last error.\n",
    .run = jobs_run,
    .needs_master = 1,
};

static int control_run(client *c, int argc, char **argv, const client_cmd *cmd)
{
	bool graceful = argc == 3 && strcmp(argv[1], "--graceful") == 0 &&
	                strcmp(cmd->name, "stop") == 0;
	if (graceful) {
		argv++;
		argc--;
	}
	if (argc != 2 || argv[1][0] == '-')
		return usage_err(cmd, "%s", "exactly one job name or id is required");
	envelope rep;
	Sluice__JobControl q = SLUICE__JOB_CONTROL__INIT;
	q.job = argv[1];
	q.action = (char *)cmd->name;
	q.graceful = graceful;
	if (client_call(c, MSG_JOB_CONTROL, &q, &rep) != EXIT_OK)
		return EXIT_ERR;
	Sluice__JobControlReply *r =
	    sluice__job_control_reply__unpack(NULL, rep.payload_len, rep.payload);
	envelope_release(&rep);
	if (r == NULL)
		return EXIT_ERR;
	printf("job %s: %s\n", argv[1], r->state);
	sluice__job_control_reply__free_unpacked(r, NULL);
	return EXIT_OK;
}

static int stop_run(client *c, int argc, char **argv)
{
	return control_run(c, argc, argv, &cmd_stop);
}

static int start_run(client *c, int argc, char **argv)
{
	return control_run(c, argc, argv, &cmd_start);
}

const client_cmd cmd_start = {
    .name = "start",
    .summary = "start a stopped or failed job again",
    .usage =
        "usage: sluice start JOB\n"
        "Runs a STOPPED or FAILED job again from its checkpoint: a batch that\n"
        "failed (sluice.batch.onFailure=stop) runs again, Kafka sources continue\n"
        "from the checkpointed offsets; a stopped job's buffered blocks are dropped.\n",
    .run = start_run,
    .needs_master = 1,
};

const client_cmd cmd_stop = {
    .name = "stop",
    .summary = "stop a job",
    .usage =
        "usage: sluice stop [--graceful] JOB\n"
        "Stops generating batches for JOB (name or id), lets running batches finish,\n"
        "stops its receivers and discards buffered blocks.\n"
        "  --graceful  first process everything the receivers received (the job is\n"
        "              STOPPING until then); spark.streaming.stopGracefullyOnShutdown\n"
        "              makes every stop of the job graceful\n",
    .run = stop_run,
    .needs_master = 1,
};

static void print_batch(const Sluice__BatchInfo *b, int show_output)
{
	printf("batch %lld  %-7s  records %8llu  sched %5lld ms  proc %6lld ms  total "
	       "%6lld ms  "
	       "tasks %u  first-task %lld ms%s%s%s\n",
	       (long long)b->batch_ms, b->state, (unsigned long long)b->input_records,
	       (long long)b->scheduling_delay_ms, (long long)b->processing_ms,
	       (long long)b->total_delay_ms, b->tasks, (long long)b->first_task_ms,
	       b->task_failures ? " (with retries)" : "", b->error[0] ? "  " : "",
	       b->error);
	for (size_t i = 0; i < b->n_offset_ranges; i++)
		printf("    offsets %s\n", b->offset_ranges[i]);
	for (size_t i = 0; show_output && i < b->n_output; i++)
		printf("    %s\n", b->output[i]);
	fflush(stdout);
}

static volatile int monitor_stop;

/* Polls batch statistics; prints each finished batch once. */
int monitor_job(client *c, const char *job, int64_t duration_ms, int show_output)
{
	int64_t after = 0,
	        end = duration_ms > 0 ? clock_mono_ms() + duration_ms : INT64_MAX;
	proc_signals(&monitor_stop);
	while (!monitor_stop && clock_mono_ms() < end) {
		envelope rep;
		Sluice__BatchStats q = SLUICE__BATCH_STATS__INIT;
		q.job = (char *)job;
		q.after_batch_ms = after;
		q.limit = 100;
		if (client_call(c, MSG_BATCH_STATS, &q, &rep) != EXIT_OK)
			return EXIT_ERR;
		Sluice__BatchStatsReply *r =
		    sluice__batch_stats_reply__unpack(NULL, rep.payload_len, rep.payload);
		envelope_release(&rep);
		if (r == NULL)
			return EXIT_ERR;
		for (size_t i = 0; i < r->n_batches; i++) {
			const Sluice__BatchInfo *b = r->batches[i];
			if (strcmp(b->state, "DONE") != 0 &&
			    strcmp(b->state, "FAILED") != 0)
				break;
			print_batch(b, show_output);
			after = b->batch_ms;
		}
		int ended = strcmp(r->job_state, "RUNNING") != 0 && r->n_batches == 0;
		sluice__batch_stats_reply__free_unpacked(r, NULL);
		if (ended)
			break;
		clock_sleep_ms(200);
	}
	return EXIT_OK;
}

static int monitor_run(client *c, int argc, char **argv)
{
	const char *job = NULL;
	int64_t dur = 0;
	int show = 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc) {
			if (conf_parse_duration_ms(argv[++i], &dur) != SL_OK)
				return usage_err(&cmd_monitor, "bad --duration '%s'",
				                 argv[i]);
		} else if (strcmp(argv[i], "--no-output") == 0) {
			show = 0;
		} else if (argv[i][0] != '-' && job == NULL) {
			job = argv[i];
		} else {
			return usage_err(&cmd_monitor, "unknown option '%s'", argv[i]);
		}
	}
	if (job == NULL)
		return usage_err(&cmd_monitor, "%s", "a job name or id is required");
	return monitor_job(c, job, dur, show);
}

const client_cmd cmd_monitor = {
    .name = "monitor",
    .summary = "show a job's batches live",
    .usage = "usage: sluice monitor JOB [--duration D] [--no-output]\n"
             "Prints each completed batch of JOB: batch time, input records, scheduling\n"
             "delay, processing time, total delay, tasks, the time from the batch's\n"
             "start to its first task starting on a worker (first-task), and the lines\n"
             "its print() outputs produced. Runs until Ctrl-C, the job ends, or\n"
             "--duration passes.\n",
    .run = monitor_run,
    .needs_master = 1,
};
