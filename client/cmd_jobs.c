/* sluice submit | publish | jobs | start | pause | resume | stop | monitor:
 * job commands. */
#include "alloc.h"
#include "client.h"
#include "clock.h"
#include "msgtypes.h"
#include "proc.h"
#include "sluice/err.h"
#include "submit.h"
#include "job.pb-c.h"

#include <cjson/cJSON.h>

#include <signal.h>
#include <stdint.h>
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

/* submit and publish: the same, but submit --start runs the job at once. */
static int submit_run_as(client *c, int argc, char **argv, const client_cmd *cmd)
{
	const char *lib = NULL, *name = NULL;
	bool start = false;
	int64_t batch_ms = 1000;
	char err[512];
	sl_conf *jc = conf_new(CONF_APP_KEYS);
	int rv = EXIT_USAGE;
	for (int i = 1; i < argc; i++) {
		int r = proc_conf_arg(jc, argc, argv, &i, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "sluice %s: %s\n", cmd->name, err);
			goto out;
		}
		if (r == 1)
			continue;
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
			name = argv[++i];
		} else if (strcmp(argv[i], "--start") == 0 && cmd == &cmd_submit) {
			start = true;
		} else if (strcmp(argv[i], "--batch-interval") == 0 && i + 1 < argc) {
			if (conf_parse_duration_ms(argv[++i], &batch_ms) != SL_OK ||
			    batch_ms < 10) {
				rv = usage_err(
				    cmd, "bad --batch-interval '%s' (e.g. 500ms, 1s)",
				    argv[i]);
				goto out;
			}
		} else if (argv[i][0] != '-' && lib == NULL) {
			lib = argv[i];
		} else {
			rv = usage_err(cmd, "unknown or incomplete option '%s'", argv[i]);
			goto out;
		}
	}
	if (lib == NULL || name == NULL) {
		rv = usage_err(cmd, "%s", "a job library and --name are required");
		goto out;
	}
	rv = submit_job(c, lib, name, batch_ms, jc, start);
out:
	conf_free(jc);
	return rv;
}

static int submit_run(client *c, int argc, char **argv)
{
	return submit_run_as(c, argc, argv, &cmd_submit);
}

static int publish_run(client *c, int argc, char **argv)
{
	return submit_run_as(c, argc, argv, &cmd_publish);
}

const client_cmd cmd_submit = {
    .name = "submit",
    .summary = "submit a job library to the cluster",
    .usage = "usage: sluice submit JOB.so --name NAME [--start] [--batch-interval 1s]\n"
             "                    [--conf k=v]...\n"
             "Loads JOB.so, runs its sluice_job_define, checks the graph, and sends the\n"
             "graph, the library and the configuration to the master. The job is\n"
             "PUBLISHED (`sluice start NAME` runs it); --start runs it at once. --conf\n"
             "keys are the job's configuration: spark.* and sluice.* keys (checked) and\n"
             "the job's own keys (e.g. source.host).\n",
    .run = submit_run,
    .needs_master = 1,
};

const client_cmd cmd_publish = {
    .name = "publish",
    .summary = "publish a job library (PUBLISHED, not started)",
    .usage = "usage: sluice publish JOB.so --name NAME [--batch-interval 1s]\n"
             "                     [--conf k=v]...\n"
             "As `sluice submit` without --start: the job waits for `sluice start`.\n",
    .run = publish_run,
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

/* The jobs as JSON, with the REST API's field names (docs/openapi.yaml). */
static void jobs_print_json(const Sluice__ListJobsReply *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "jobs");
	for (size_t i = 0; i < r->n_jobs; i++) {
		const Sluice__JobInfo *j = r->jobs[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddNumberToObject(x, "id", (double)j->id);
		cJSON_AddStringToObject(x, "name", j->name);
		cJSON_AddStringToObject(x, "state", j->state);
		cJSON_AddNumberToObject(x, "batch_interval_ms",
		                        (double)j->batch_interval_ms);
		cJSON_AddNumberToObject(x, "created_ms", (double)j->created_ms);
		cJSON_AddNumberToObject(x, "batches_done", (double)j->batches_done);
		cJSON_AddNumberToObject(x, "batches_failed", (double)j->batches_failed);
		cJSON_AddNumberToObject(x, "batches_running", (double)j->batches_running);
		cJSON_AddNumberToObject(x, "records", (double)j->records);
		cJSON_AddNumberToObject(x, "last_batch_ms", (double)j->last_batch_ms);
		cJSON_AddNumberToObject(x, "receivers", (double)j->receivers);
		cJSON_AddStringToObject(x, "library_hash", j->library_hash);
		cJSON_AddStringToObject(x, "error", j->error);
		cJSON_AddItemToArray(a, x);
	}
	char *txt = cJSON_PrintUnformatted(o);
	printf("%s\n", txt);
	cJSON_free(txt);
	cJSON_Delete(o);
}

static int jobs_run(client *c, int argc, char **argv)
{
	bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
	if (argc > 1 && !json)
		return usage_err(&cmd_jobs, "unexpected argument '%s'", argv[1]);
	Sluice__ListJobsReply *r = fetch_jobs(c);
	if (r == NULL)
		return EXIT_ERR;
	if (json) {
		jobs_print_json(r);
		sluice__list_jobs_reply__free_unpacked(r, NULL);
		return EXIT_OK;
	}
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
        "usage: sluice jobs [--json]\n"
        "Lists every job: id, name, state, batch interval, batches done and failed,\n"
        "records processed, and the last error. --json: the fields of the REST\n"
        "API's GET /api/v1/jobs.\n",
    .run = jobs_run,
    .needs_master = 1,
};

static int control_run(client *c, int argc, char **argv, const client_cmd *cmd)
{
	bool graceful = false, json = false;
	const char *job = NULL, *reason = "";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--graceful") == 0 && cmd == &cmd_stop)
			graceful = true;
		else if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--reason") == 0 && i + 1 < argc)
			reason = argv[++i];
		else if (argv[i][0] != '-' && job != NULL)
			return usage_err(cmd, "%s",
			                 "exactly one job name or id is required");
		else if (argv[i][0] != '-')
			job = argv[i];
		else
			return usage_err(cmd, "unknown or incomplete option '%s'",
			                 argv[i]);
	}
	if (job == NULL)
		return usage_err(cmd, "%s", "exactly one job name or id is required");
	envelope rep;
	Sluice__JobControl q = SLUICE__JOB_CONTROL__INIT;
	q.job = (char *)job;
	q.action = (char *)cmd->name;
	q.graceful = graceful;
	q.reason = (char *)reason;
	if (client_call(c, MSG_JOB_CONTROL, &q, &rep) != EXIT_OK)
		return EXIT_ERR;
	Sluice__JobControlReply *r =
	    sluice__job_control_reply__unpack(NULL, rep.payload_len, rep.payload);
	envelope_release(&rep);
	if (r == NULL)
		return EXIT_ERR;
	if (json)
		printf("{\"job\": \"%s\", \"state\": \"%s\"}\n", job, r->state);
	else
		printf("job %s: %s\n", job, r->state);
	sluice__job_control_reply__free_unpacked(r, NULL);
	return EXIT_OK;
}

static int start_run(client *c, int argc, char **argv)
{
	return control_run(c, argc, argv, &cmd_start);
}

static int pause_run(client *c, int argc, char **argv)
{
	return control_run(c, argc, argv, &cmd_pause);
}

static int resume_run(client *c, int argc, char **argv)
{
	return control_run(c, argc, argv, &cmd_resume);
}

const client_cmd cmd_start = {
    .name = "start",
    .summary = "start a PUBLISHED, STOPPED or FAILED job",
    .usage = "usage: sluice start [--reason TEXT] [--json] JOB\n"
             "Starts JOB (name or id). A STOPPED job continues from where its\n"
             "processing stopped (the Kafka offsets its batches committed); its\n"
             "buffered blocks were dropped. A FAILED job re-runs the batch its\n"
             "failure halted (sluice.batch.onFailure=stop) and goes on.\n",
    .run = start_run,
    .needs_master = 1,
};

const client_cmd cmd_pause = {
    .name = "pause",
    .summary = "pause a RUNNING job (keeps buffered data, state, offsets)",
    .usage = "usage: sluice pause [--reason TEXT] [--json] JOB\n"
             "Stops generating batches; receivers keep receiving and running batches\n"
             "finish. A pause longer than sluice.pause.maxDuration becomes a stop.\n",
    .run = pause_run,
    .needs_master = 1,
};

const client_cmd cmd_resume = {
    .name = "resume",
    .summary = "resume a PAUSED job from exactly where it paused",
    .usage = "usage: sluice resume [--reason TEXT] [--json] JOB\n",
    .run = resume_run,
    .needs_master = 1,
};

static int stop_run(client *c, int argc, char **argv)
{
	return control_run(c, argc, argv, &cmd_stop);
}

const client_cmd cmd_stop = {
    .name = "stop",
    .summary = "stop a job",
    .usage =
        "usage: sluice stop [--graceful] [--reason TEXT] [--json] JOB\n"
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

/* One batch as a JSON line with the REST API's Batch fields. */
static void print_batch_json(const Sluice__BatchInfo *b)
{
	cJSON *x = cJSON_CreateObject();
	cJSON_AddNumberToObject(x, "batch_ms", (double)b->batch_ms);
	cJSON_AddStringToObject(x, "state", b->state);
	cJSON_AddNumberToObject(x, "input_records", (double)b->input_records);
	cJSON_AddNumberToObject(x, "scheduling_delay_ms", (double)b->scheduling_delay_ms);
	cJSON_AddNumberToObject(x, "processing_ms", (double)b->processing_ms);
	cJSON_AddNumberToObject(x, "total_delay_ms", (double)b->total_delay_ms);
	cJSON_AddNumberToObject(x, "tasks", b->tasks);
	cJSON_AddNumberToObject(x, "task_failures", b->task_failures);
	cJSON_AddStringToObject(x, "error", b->error);
	char *txt = cJSON_PrintUnformatted(x);
	printf("%s\n", txt);
	fflush(stdout);
	cJSON_free(txt);
	cJSON_Delete(x);
}

/* Backpressure (SPEC §6): the job's current rate limit and how much of
 * their time its receivers spend blocked, with the level. */
static void print_backpressure(const Sluice__BatchStatsReply *r)
{
	char rate[32] = "none", est[48] = "";
	if (r->rate >= 0)
		snprintf(rate, sizeof(rate), "%.0f records/s", r->rate);
	if (r->rate_estimate >= 0)
		snprintf(est, sizeof(est), "  estimate %.0f records/s", r->rate_estimate);
	printf("  backpressure: rate %s  blocked %.2f %s%s\n", rate, r->blocked_share,
	       r->blocked_level, est);
	if (r->state_keys > 0 || r->state_bytes > 0)
		printf("  state: %llu keys, %llu bytes\n",
		       (unsigned long long)r->state_keys,
		       (unsigned long long)r->state_bytes);
	if (r->watermark_ms != INT64_MIN || r->late_records > 0)
		printf("  event time: watermark %lld ms, %llu late records dropped\n",
		       (long long)(r->watermark_ms == INT64_MIN ? 0 : r->watermark_ms),
		       (unsigned long long)r->late_records);
	for (size_t i = 0; i < r->n_receivers; i++) {
		const Sluice__ReceiverLoad *l = r->receivers[i];
		char lr[32] = "unlimited";
		if (l->rate > 0)
			snprintf(lr, sizeof(lr), "%.0f records/s", l->rate);
		printf("    receiver %u (node %u) on %s: rate %s  blocked %.2f %s\n",
		       l->receiver_id, l->node, l->worker_id, lr, l->blocked_share,
		       l->blocked_level);
	}
	fflush(stdout);
}

static volatile int monitor_stop;

/* Polls batch statistics; prints each finished batch once. */
int monitor_job(client *c, const char *job, int64_t duration_ms, int show_output)
{
	int64_t after = 0,
	        end = duration_ms > 0 ? clock_mono_ms() + duration_ms : INT64_MAX;
	int first = 1;
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
		int printed = 0;
		for (size_t i = 0; i < r->n_batches; i++) {
			const Sluice__BatchInfo *b = r->batches[i];
			if (strcmp(b->state, "DONE") != 0 &&
			    strcmp(b->state, "FAILED") != 0)
				break;
			if (show_output & MONITOR_JSON)
				print_batch_json(b);
			else
				print_batch(b, show_output);
			after = b->batch_ms;
			printed = 1;
		}
		if (!(show_output & MONITOR_JSON) && (printed || first))
			print_backpressure(r);
		first = 0;
		/* a paused job goes on later: keep watching it */
		int ended = strcmp(r->job_state, "RUNNING") != 0 &&
		            strcmp(r->job_state, "PAUSED") != 0 && r->n_batches == 0;
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
			show &= ~1;
		} else if (strcmp(argv[i], "--json") == 0) {
			show |= MONITOR_JSON;
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
    .usage = "usage: sluice monitor JOB [--duration D] [--no-output] [--json]\n"
             "Prints each completed batch of JOB: batch time, input records, scheduling\n"
             "delay, processing time, total delay, tasks, the time from the batch's\n"
             "start to its first task starting on a worker (first-task), and the lines\n"
             "its print() outputs produced; after them, the job's backpressure: its\n"
             "current rate limit and the largest share of time a receiver spent\n"
             "blocked on its rate limiter or a full buffer, OK (<= 0.10), LOW (<= 0.5)\n"
             "or HIGH, the rate estimate, then one row per receiver (its worker,\n"
             "rate, blocked share and level). Runs until Ctrl-C, the job ends, or\n"
             "--duration passes.\n"
             "--json: one JSON object per batch, the REST API's Batch fields.\n",
    .run = monitor_run,
    .needs_master = 1,
};
