/*
 * sluice logs [--follow] [--since D] [--duration D] [--json] JOB: the job's
 * log lines from the master and every worker (GET /api/v1/jobs/{job}/logs
 * through client_api), in time order, each after the name of the process
 * it comes from. --follow asks again every second for the lines since the
 * last one shown, until Ctrl-C (or --duration).
 */
#include "client.h"
#include "clock.h"
#include "proc.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
	const char *job;
	bool json, follow;
	int64_t since_ms, duration_ms;
} logs_opts;

/* "2026-11-30T11:00:00.123" for wall ms (the lines' timestamp format). */
static void iso(int64_t ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
	size_t n = strlen(out);
	snprintf(out + n, len - n, ".%03d", (int)(ms % 1000));
}

static int parse(int argc, char **argv, logs_opts *o)
{
	*o = (logs_opts){.since_ms = 0};
	for (int i = 1; i < argc; i++) {
		int64_t d;
		if (strcmp(argv[i], "--json") == 0)
			o->json = true;
		else if (strcmp(argv[i], "--follow") == 0 || strcmp(argv[i], "-f") == 0)
			o->follow = true;
		else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc &&
		         conf_parse_duration_ms(argv[i + 1], &d) == 0)
			o->since_ms = clock_wall_ms() - d, i++;
		else if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc &&
		         conf_parse_duration_ms(argv[i + 1], &d) == 0)
			o->duration_ms = d, i++;
		else if (argv[i][0] != '-' && o->job == NULL)
			o->job = argv[i];
		else
			return -1;
	}
	return o->job ? 0 : -1;
}

/* Prints the lines after the last one shown (*last: its "source line",
 * updated); returns how many were printed, -1 on an error. */
static int show(client *c, const logs_opts *o, const char *since, char **last)
{
	char path[300], query[100];
	snprintf(path, sizeof(path), "/api/v1/jobs/%.200s/logs", o->job);
	snprintf(query, sizeof(query), "%s%s", since[0] ? "since=" : "", since);
	cJSON *r = client_api(c, "GET", path, query, NULL);
	if (r == NULL)
		return -1;
	const cJSON *lines = cJSON_GetObjectItemCaseSensitive(r, "lines"), *l;
	/* with --follow, the lines up to the last one shown come again */
	bool past = *last == NULL;
	int n = 0;
	cJSON_ArrayForEach(l, lines)
	{
		char key[2400];
		snprintf(key, sizeof(key), "%s %s", json_str(l, "source"),
		         json_str(l, "line"));
		if (!past) {
			past = strcmp(key, *last) == 0;
			continue;
		}
		if (o->json)
			json_print(l, false);
		else
			printf("%-10s %s\n", json_str(l, "source"), json_str(l, "line"));
		free(*last);
		*last = strdup(key);
		n++;
	}
	if (!past) /* the last line shown is gone from the window: show all */
		n = -2;
	fflush(stdout);
	cJSON_Delete(r);
	return n;
}

static int logs_run(client *c, int argc, char **argv)
{
	logs_opts o;
	if (parse(argc, argv, &o) != 0) {
		client_cmd_usage(&cmd_logs, stderr);
		return EXIT_USAGE;
	}
	static volatile int stop;
	proc_signals(&stop);
	char since[64] = "";
	if (o.since_ms > 0)
		iso(o.since_ms, since, sizeof(since));
	char *last = NULL;
	int64_t end = o.duration_ms ? clock_wall_ms() + o.duration_ms : 0;
	int rv = show(c, &o, since, &last);
	while (rv != -1 && o.follow && !stop && (end == 0 || clock_wall_ms() < end)) {
		sleep(1);
		/* from the last line's second on: lines logged in the same
		 * millisecond as it are told apart by their text */
		if (last != NULL)
			snprintf(since, sizeof(since), "%.19s", strchr(last, ' ') + 1);
		rv = show(c, &o, since, &last);
		if (rv == -2) {
			free(last);
			last = NULL;
		}
	}
	free(last);
	return rv == -1 ? EXIT_ERR : EXIT_OK;
}

const client_cmd cmd_logs = {
    .name = "logs",
    .summary = "a job's log lines from the master and every worker",
    .usage =
        "usage: sluice logs [--follow] [--since D] [--duration D] [--json] JOB\n"
        "Lines naming JOB (its name, or its id as 'job ID'), from the last 4096\n"
        "lines each process keeps, merged in time order, each after its source\n"
        "(master or a worker id). --since 10m: only the last ten minutes. --follow:\n"
        "keep printing new lines every second until Ctrl-C (or --duration D).\n"
        "--json: one JSON object per line (source, line).\n",
    .run = logs_run,
    .needs_master = 1,
};
