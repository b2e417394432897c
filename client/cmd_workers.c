/* sluice workers: the cluster's workers as a table (or JSON). */
#include "client.h"
#include "msgtypes.h"
#include "cluster.pb-c.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

#include <string.h>
#include <time.h>

static void fmt_time(int64_t ms, char *out, size_t len)
{
	if (ms <= 0) {
		snprintf(out, len, "-");
		return;
	}
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The workers with the REST API's field names, plus the last heartbeat. */
static void print_json(const Sluice__ListWorkersReply *r)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "workers");
	for (size_t i = 0; i < r->n_workers; i++) {
		const Sluice__WorkerInfo *w = r->workers[i];
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "id", w->worker_id);
		cJSON_AddStringToObject(x, "address", w->rpc_url);
		cJSON_AddNumberToObject(x, "slots", w->slots);
		cJSON_AddNumberToObject(x, "memory", (double)w->memory_bytes);
		cJSON_AddStringToObject(x, "state", w->state);
		cJSON_AddNumberToObject(x, "last_heartbeat_ms",
		                        (double)w->last_heartbeat_ms);
		cJSON_AddItemToArray(a, x);
	}
	char *txt = cJSON_PrintUnformatted(o);
	printf("%s\n", txt);
	cJSON_free(txt);
	cJSON_Delete(o);
}

static int workers_run(client *c, int argc, char **argv)
{
	envelope rep;
	bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
	if (argc > 1 && !json) {
		fprintf(stderr, "sluice workers: unexpected argument '%s'\n", argv[1]);
		client_cmd_usage(&cmd_workers, stderr);
		return EXIT_USAGE;
	}
	Sluice__ListWorkers q = SLUICE__LIST_WORKERS__INIT;
	int rv = client_call(c, MSG_LIST_WORKERS, &q, &rep);
	if (rv != EXIT_OK)
		return rv;
	Sluice__ListWorkersReply *r =
	    sluice__list_workers_reply__unpack(NULL, rep.payload_len, rep.payload);
	envelope_release(&rep);
	if (r == NULL) {
		fprintf(stderr, "sluice: malformed reply from the master\n");
		return EXIT_ERR;
	}
	if (json) {
		print_json(r);
		sluice__list_workers_reply__free_unpacked(r, NULL);
		return EXIT_OK;
	}
	printf("%-12s %-28s %5s %9s %-6s %s\n", "ID", "ADDRESS", "SLOTS", "MEMORY",
	       "STATE", "LAST HEARTBEAT");
	for (size_t i = 0; i < r->n_workers; i++) {
		Sluice__WorkerInfo *w = r->workers[i];
		char when[32], mem[32];
		fmt_time(w->last_heartbeat_ms, when, sizeof(when));
		snprintf(mem, sizeof(mem), "%lluMiB",
		         (unsigned long long)(w->memory_bytes >> 20));
		printf("%-12s %-28s %5u %9s %-6s %s\n", w->worker_id, w->rpc_url,
		       w->slots, mem, w->state, when);
	}
	sluice__list_workers_reply__free_unpacked(r, NULL);
	return EXIT_OK;
}

const client_cmd cmd_workers = {
    .name = "workers",
    .summary = "list the cluster's workers",
    .usage = "usage: sluice workers [--json]\n"
             "Lists every worker the master knows: id, address, slots, memory budget,\n"
             "state (ALIVE or LOST) and the time of its last heartbeat (UTC).\n",
    .run = workers_run,
    .needs_master = 1,
};
