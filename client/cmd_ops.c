/*
 * sluice alerts | transitions | config export: the REST API's read views of
 * one job (docs/openapi.yaml) through the cluster RPC (MSG_JOB_QUERY), so
 * the CLI and the API show the same data. Table output by default, the
 * API's JSON with --json (config export always prints JSON).
 */
#include "client.h"
#include "msgtypes.h"
#include "job.pb-c.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Asks the master for view `what` of job; returns the parsed JSON or NULL
 * (the error printed). */
static cJSON *query(client *c, const char *job, const char *what)
{
	envelope rep;
	Sluice__JobQuery q = SLUICE__JOB_QUERY__INIT;
	q.job = (char *)job;
	q.what = (char *)what;
	if (client_call(c, MSG_JOB_QUERY, &q, &rep) != EXIT_OK)
		return NULL;
	Sluice__JobQueryReply *r =
	    sluice__job_query_reply__unpack(NULL, rep.payload_len, rep.payload);
	envelope_release(&rep);
	cJSON *o = r ? cJSON_Parse(r->json) : NULL;
	if (o == NULL) {
		fprintf(stderr, "sluice: malformed reply from the master\n");
	} else if (r->status != 200) {
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
		fprintf(stderr, "sluice: %s\n",
		        cJSON_IsString(e) ? e->valuestring : "request refused");
		cJSON_Delete(o);
		o = NULL;
	}
	if (r != NULL)
		sluice__job_query_reply__free_unpacked(r, NULL);
	return o;
}

/* Parses "[--json] JOB"; returns the job or NULL (usage printed). */
static const char *job_arg(const client_cmd *cmd, int argc, char **argv, bool *json)
{
	const char *job = NULL;
	*json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			*json = true;
		else if (argv[i][0] != '-' && job == NULL)
			job = argv[i];
		else
			job = NULL, i = argc;
	}
	if (job == NULL) {
		fprintf(stderr, "sluice %s: exactly one job name or id is required\n",
		        cmd->name);
		client_cmd_usage(cmd, stderr);
	}
	return job;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : "";
}

static long long num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

static void print_json(const cJSON *o, bool pretty)
{
	char *txt = pretty ? cJSON_Print(o) : cJSON_PrintUnformatted(o);
	printf("%s\n", txt);
	cJSON_free(txt);
}

static int alerts_run(client *c, int argc, char **argv)
{
	bool json;
	const char *job = job_arg(&cmd_alerts, argc, argv, &json);
	if (job == NULL)
		return EXIT_USAGE;
	cJSON *o = query(c, job, "alerts");
	if (o == NULL)
		return EXIT_ERR;
	if (json) {
		print_json(o, false);
	} else {
		printf("%-5s %-14s %-8s %-9s %-7s %8s  %s\n", "ID", "AT_MS", "CHANNEL",
		       "EVENT", "OUTCOME", "ATTEMPTS", "SUMMARY / ERROR");
		const cJSON *a;
		cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(o, "alerts"))
		    printf("%-5lld %-14lld %-8s %-9s %-7s %8lld  %s%s%s\n", num(a, "id"),
		           num(a, "at_ms"), str(a, "channel"), str(a, "event"),
		           str(a, "outcome"), num(a, "attempts"), str(a, "summary"),
		           str(a, "error")[0] ? " / " : "", str(a, "error"));
	}
	cJSON_Delete(o);
	return EXIT_OK;
}

static int transitions_run(client *c, int argc, char **argv)
{
	bool json;
	const char *job = job_arg(&cmd_transitions, argc, argv, &json);
	if (job == NULL)
		return EXIT_USAGE;
	cJSON *o = query(c, job, "transitions");
	if (o == NULL)
		return EXIT_ERR;
	if (json) {
		print_json(o, false);
	} else {
		printf("%-4s %-14s %-9s %-9s %-28s %s\n", "SEQ", "AT_MS", "FROM", "TO",
		       "WHO", "WHY");
		const cJSON *t;
		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(o, "transitions"))
		    printf("%-4lld %-14lld %-9s %-9s %-28s %s\n", num(t, "seq"),
		           num(t, "at_ms"), str(t, "from")[0] ? str(t, "from") : "-",
		           str(t, "to"), str(t, "who"), str(t, "why"));
	}
	cJSON_Delete(o);
	return EXIT_OK;
}

static int config_run(client *c, int argc, char **argv)
{
	bool json;
	if (argc >= 2 && strcmp(argv[1], "import") == 0)
		return config_import(c, argc - 2, argv + 2);
	if (argc < 2 || strcmp(argv[1], "export") != 0) {
		fprintf(stderr,
		        "sluice config: the subcommand is 'export' or 'import'\n");
		client_cmd_usage(&cmd_config, stderr);
		return EXIT_USAGE;
	}
	const char *job = job_arg(&cmd_config, argc - 1, argv + 1, &json);
	if (job == NULL)
		return EXIT_USAGE;
	cJSON *o = query(c, job, "config");
	if (o == NULL)
		return EXIT_ERR;
	print_json(o, !json);
	cJSON_Delete(o);
	return EXIT_OK;
}

const client_cmd cmd_alerts = {
    .name = "alerts",
    .summary = "list a job's alerts (sent or failed)",
    .usage = "usage: sluice alerts [--json] JOB\n"
             "Every alert raised for JOB, oldest first: channel, firing/resolved,\n"
             "sent or failed after how many attempts, and the last error. Where alerts\n"
             "go is the job's sluice.alerts.* configuration (docs/operations.md).\n",
    .run = alerts_run,
    .needs_master = 1,
};

const client_cmd cmd_transitions = {
    .name = "transitions",
    .summary = "list a job's lifecycle transitions (who, why)",
    .usage = "usage: sluice transitions [--json] JOB\n"
             "Every state change of JOB, oldest first, with who asked and why.\n",
    .run = transitions_run,
    .needs_master = 1,
};

const client_cmd cmd_config = {
    .name = "config",
    .summary = "export a job's full configuration as JSON, or import one",
    .usage = "usage: sluice config export [--json] JOB\n"
             "       sluice config import FILE [--name NAME] [--start] [--json]\n"
             "export prints JOB's configuration (name, library SHA-256, batch interval,\n"
             "every key it was submitted with, its graph) as JSON; --json on one line.\n"
             "import publishes (or with --start starts) the same job again from such a\n"
             "file, under its name or NAME, with the library the master holds by that\n"
             "SHA-256 (the file carries the hash, not the library).\n",
    .run = config_run,
    .needs_master = 1,
};
