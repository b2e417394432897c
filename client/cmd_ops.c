/*
 * sluice alerts | transitions | config export: the REST API's read views of
 * one job (docs/openapi.yaml) through the cluster RPC (client_api,
 * MSG_API_CALL), so the CLI and the API show the same data. Table output by default, the
 * API's JSON with --json (config export always prints JSON).
 */
#include "client.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Asks the master for view `what` of job (GET /api/v1/jobs/JOB/WHAT);
 * returns the parsed JSON or NULL (the error printed). */
static cJSON *query(client *c, const char *job, const char *what)
{
	char path[400];
	snprintf(path, sizeof(path), "/api/v1/jobs/%.200s/%s", job, what);
	return client_api(c, "GET", path, "", NULL);
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
		json_print(o, false);
	} else {
		printf("%-5s %-14s %-8s %-9s %-7s %8s  %s\n", "ID", "AT_MS", "CHANNEL",
		       "EVENT", "OUTCOME", "ATTEMPTS", "SUMMARY / ERROR");
		const cJSON *a;
		cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(o, "alerts"))
		    printf("%-5lld %-14lld %-8s %-9s %-7s %8lld  %s%s%s\n",
		           json_num(a, "id"), json_num(a, "at_ms"),
		           json_str(a, "channel"), json_str(a, "event"),
		           json_str(a, "outcome"), json_num(a, "attempts"),
		           json_str(a, "summary"), json_str(a, "error")[0] ? " / " : "",
		           json_str(a, "error"));
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
		json_print(o, false);
	} else {
		printf("%-4s %-14s %-9s %-9s %-28s %s\n", "SEQ", "AT_MS", "FROM", "TO",
		       "WHO", "WHY");
		const cJSON *t;
		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(o, "transitions"))
		    printf("%-4lld %-14lld %-9s %-9s %-28s %s\n", json_num(t, "seq"),
		           json_num(t, "at_ms"),
		           json_str(t, "from")[0] ? json_str(t, "from") : "-",
		           json_str(t, "to"), json_str(t, "who"), json_str(t, "why"));
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
	json_print(o, !json);
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
