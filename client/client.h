/*
 * The sluice command-line client: shared state of one invocation and the
 * table of commands. Each command lives in its own file (cmd_*.c) and gets
 * the arguments after its name.
 *
 * Exit codes: 0 success, 1 error (the master refused, unreachable, ...),
 * 2 usage error (unknown command or option, missing argument).
 */
#ifndef SLUICE_CLIENT_H
#define SLUICE_CLIENT_H

#include "config.h"
#include "envelope.h"
#include "rpc.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>

enum { EXIT_OK = 0, EXIT_ERR = 1, EXIT_USAGE = 2 };

typedef struct {
	sl_conf *conf;
	const char *master_url;
	auth_key key;
	rpc_opts rpc;
	rpc_client *master;
} client;

typedef struct {
	const char *name;
	const char *summary;
	const char *usage; /* full help text */
	int (*run)(client *c, int argc, char **argv);
	int needs_master; /* connect before run */
} client_cmd;

/* Calls the master; prints the error and returns EXIT_ERR on failure. */
int client_call(client *c, uint32_t type, const void *pb_msg, envelope *reply);

/* Runs one REST operation of docs/openapi.yaml through the master
 * (MSG_API_CALL): path is the API path ("/api/v1/channels"), query "" or
 * after '?', body NULL or a JSON object. Returns the answer's JSON (caller
 * deletes it) when the status is 2xx; otherwise prints the API's error
 * message and returns NULL. */
cJSON *client_api(client *c, const char *method, const char *path, const char *query,
                  const cJSON *body);
/* A member of o as a string ("" when absent) or a number (0). */
const char *json_str(const cJSON *o, const char *k);
long long json_num(const cJSON *o, const char *k);
/* Prints o: indented, or on one line. */
void json_print(const cJSON *o, bool pretty);

/* Prints a command's usage to f. */
void client_cmd_usage(const client_cmd *cmd, FILE *f);

extern const client_cmd cmd_workers;
extern const client_cmd cmd_submit;
extern const client_cmd cmd_jobs;
extern const client_cmd cmd_stop;
extern const client_cmd cmd_publish;
extern const client_cmd cmd_start;
extern const client_cmd cmd_pause;
extern const client_cmd cmd_resume;
extern const client_cmd cmd_alerts;
extern const client_cmd cmd_transitions;
extern const client_cmd cmd_config;
extern const client_cmd cmd_monitor;
extern const client_cmd cmd_standalone;
extern const client_cmd cmd_new_job;
extern const client_cmd cmd_channels;
extern const client_cmd cmd_summary;
extern const client_cmd cmd_run_config;
extern const client_cmd cmd_logs;

/* sluice config import FILE [--name N] [--start] [--json] (argv after
 * "import"). */
int config_import(client *c, int argc, char **argv);

/* Prints completed batches of job until Ctrl-C, the job ends or
 * duration_ms (0 = no limit) passes. show_output: bit 0 print() lines,
 * MONITOR_JSON one JSON object per batch instead of the text line. */
#define MONITOR_JSON 2
int monitor_job(client *c, const char *job, int64_t duration_ms, int show_output);

#endif
