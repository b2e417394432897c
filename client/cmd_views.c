/*
 * sluice summary | run-config | config import: job views and changes of the
 * REST API (docs/openapi.yaml) through client_api, so the CLI and the API
 * show and do the same. Tables by default, the API's JSON with --json.
 */
#include "client.h"

#include <stdlib.h>
#include <string.h>

/* "[--json] JOB rest...": the job (argv index in *at) or NULL. */
static const char *job_of(int argc, char **argv, bool *json, int *at)
{
	*json = false;
	const char *job = NULL;
	for (int i = 1; i < argc && job == NULL; i++) {
		if (strcmp(argv[i], "--json") == 0)
			*json = true;
		else if (argv[i][0] != '-')
			job = argv[i], *at = i;
	}
	for (int i = *at + 1; job && i < argc; i++)
		*json |= strcmp(argv[i], "--json") == 0;
	return job;
}

static void print_buckets(const char *title, const cJSON *a)
{
	printf("%s\n%-14s %8s %7s %10s %10s %12s %14s\n", title, "START_MS", "BATCHES",
	       "FAILED", "RECORDS", "REC/S", "MEAN_PROC_MS", "MAX_DELAY_MS");
	const cJSON *b;
	cJSON_ArrayForEach(b, a)
	{
		const cJSON *r =
		    cJSON_GetObjectItemCaseSensitive(b, "records_per_second");
		const cJSON *p =
		    cJSON_GetObjectItemCaseSensitive(b, "mean_processing_ms");
		printf("%-14lld %8lld %7lld %10lld %10.1f %12.1f %14lld\n",
		       json_num(b, "start_ms"), json_num(b, "batches"),
		       json_num(b, "batches_failed"), json_num(b, "records"),
		       cJSON_IsNumber(r) ? r->valuedouble : 0,
		       cJSON_IsNumber(p) ? p->valuedouble : 0,
		       json_num(b, "max_total_delay_ms"));
	}
}

static int summary_run(client *c, int argc, char **argv)
{
	bool json;
	int at = 0;
	const char *job = job_of(argc, argv, &json, &at);
	if (job == NULL) {
		client_cmd_usage(&cmd_summary, stderr);
		return EXIT_USAGE;
	}
	char path[300];
	snprintf(path, sizeof(path), "/api/v1/jobs/%.200s/summary", job);
	cJSON *o = client_api(c, "GET", path, "", NULL);
	if (o == NULL)
		return EXIT_ERR;
	if (json) {
		json_print(o, false);
	} else {
		printf(
		    "job %s (%s): %lld records in %lld batches (%lld failed); history of "
		    "%lld batches since %lld\n",
		    json_str(o, "job"), json_str(o, "state"),
		    json_num(o, "total_records"), json_num(o, "batches_done"),
		    json_num(o, "batches_failed"), json_num(o, "history_batches"),
		    json_num(o, "history_since_ms"));
		print_buckets("per minute:",
		              cJSON_GetObjectItemCaseSensitive(o, "per_minute"));
		print_buckets("per hour:",
		              cJSON_GetObjectItemCaseSensitive(o, "per_hour"));
	}
	cJSON_Delete(o);
	return EXIT_OK;
}

/* "set K=V..." into {"set": {...}}; NULL on a malformed pair. */
static cJSON *set_body(int argc, char **argv)
{
	cJSON *b = cJSON_CreateObject();
	cJSON *set = cJSON_AddObjectToObject(b, "set");
	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');
		if (strcmp(argv[i], "--json") == 0)
			continue;
		if (eq == NULL || eq == argv[i]) {
			fprintf(stderr,
			        "sluice run-config: expected KEY=VALUE, got '%s'\n",
			        argv[i]);
			cJSON_Delete(b);
			return NULL;
		}
		char key[256];
		snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
		cJSON_AddStringToObject(set, key, eq + 1);
	}
	return b;
}

static int run_config_run(client *c, int argc, char **argv)
{
	bool json;
	int at = 0;
	const char *job = job_of(argc, argv, &json, &at);
	bool set = job && at + 1 < argc && strcmp(argv[at + 1], "set") == 0;
	cJSON *body = set ? set_body(argc - at - 2, argv + at + 2) : NULL;
	if (job == NULL || (set && body == NULL) || (!set && at + 1 < argc && !json)) {
		client_cmd_usage(&cmd_run_config, stderr);
		return EXIT_USAGE;
	}
	char path[300];
	snprintf(path, sizeof(path), "/api/v1/jobs/%.200s/run-config", job);
	cJSON *o = client_api(c, set ? "POST" : "GET", path, "", body);
	cJSON_Delete(body);
	if (o == NULL)
		return EXIT_ERR;
	const cJSON *kv,
	    *group = cJSON_GetObjectItemCaseSensitive(o, set ? "applied" : "conf");
	if (json) {
		json_print(o, false);
	} else if (set) {
		cJSON_ArrayForEach(kv, group)
		    printf("%s: takes effect %s\n", kv->string,
		           strcmp(kv->valuestring, "live") == 0 ? "now (live)"
		                                                : "at the next start");
	} else {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "input_rate");
		printf(
		    "mode %s, %lld CUs, receiver maxRate %lld, kafka maxRatePerPartition "
		    "%lld\n",
		    json_str(o, "mode"), json_num(o, "cus"),
		    json_num(r, "receiver_max_rate"),
		    json_num(r, "kafka_max_rate_per_partition"));
		cJSON_ArrayForEach(kv, group)
		    printf("%s=%s\n", kv->string, kv->valuestring);
	}
	cJSON_Delete(o);
	return EXIT_OK;
}

/* Reads a whole (small) file as JSON; NULL with the reason printed. */
static cJSON *read_json(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[1 << 20];
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	bool whole = f && feof(f);
	if (f != NULL)
		fclose(f);
	buf[n] = '\0';
	cJSON *o = whole ? cJSON_Parse(buf) : NULL;
	if (o == NULL)
		fprintf(stderr, "sluice config import: %s: %s\n", path,
		        f == NULL ? "cannot read it"
		        : !whole  ? "larger than 1 MiB"
		                  : "not JSON (the output of sluice config export)");
	return o;
}

int config_import(client *c, int argc, char **argv)
{
	const char *file = NULL, *name = NULL;
	bool json = false, start = false;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--start") == 0)
			start = true;
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (argv[i][0] != '-' && file == NULL)
			file = argv[i];
		else
			file = NULL, i = argc;
	}
	if (file == NULL) {
		client_cmd_usage(&cmd_config, stderr);
		return EXIT_USAGE;
	}
	cJSON *body = read_json(file);
	if (body == NULL)
		return EXIT_ERR;
	if (name != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(body, "name",
		                                       cJSON_CreateString(name));
	cJSON *o = client_api(c, "POST", "/api/v1/jobs", start ? "start=true" : "", body);
	cJSON_Delete(body);
	if (o == NULL)
		return EXIT_ERR;
	if (json)
		json_print(o, false);
	else
		printf("job %s (id %lld) %s, library %.16s\n", json_str(o, "name"),
		       json_num(o, "id"), json_str(o, "state"),
		       json_str(o, "library_hash"));
	cJSON_Delete(o);
	return EXIT_OK;
}

const client_cmd cmd_summary = {
    .name = "summary",
    .summary = "a job's totals and its records per minute and per hour",
    .usage = "usage: sluice summary [--json] JOB\n"
             "Total records and batches of JOB, then per minute and per hour: batches,\n"
             "failures, records, records/s, mean processing time and largest total\n"
             "delay, over the finished batches the master keeps (its last 512).\n",
    .run = summary_run,
    .needs_master = 1,
};

const client_cmd cmd_run_config = {
    .name = "run-config",
    .summary = "show or change a job's run configuration",
    .usage = "usage: sluice run-config [--json] JOB [set KEY=VALUE...]\n"
             "Shows JOB's mode, CUs, input rate and run keys (spark.*, sluice.run.*);\n"
             "with set, changes them (each checked, errors name the key). On a RUNNING\n"
             "or PAUSED job the input rate (spark.streaming.receiver.maxRate,\n"
             "spark.streaming.kafka.maxRatePerPartition) takes effect at once, the\n"
             "other keys at the next start.\n",
    .run = run_config_run,
    .needs_master = 1,
};
