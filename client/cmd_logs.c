/*
 * sluice logs [--follow] [--since D] [--duration D] [--json] JOB: the job's
 * log lines from the master and every worker (GET /api/v1/jobs/{job}/logs
 * through client_api), in time order, each after the name of the process
 * it comes from. --follow asks again every second for the lines since the
 * last one shown, until Ctrl-C (or --duration). Each round asks from the
 * millisecond of the latest line shown, and skips the lines of that
 * millisecond it already printed.
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

/* What --follow has shown: the latest timestamp printed and the lines
 * printed with it (lines are asked for again from that millisecond on). */
typedef struct {
	char ts[32];
	char **keys;
	size_t n;
} shown;

static bool was_shown(const shown *sh, const char *key)
{
	for (size_t i = 0; i < sh->n; i++)
		if (strcmp(sh->keys[i], key) == 0)
			return true;
	return false;
}

static void note_shown(shown *sh, const char *ts, const char *key)
{
	if (strcmp(ts, sh->ts) != 0) {
		for (size_t i = 0; i < sh->n; i++)
			free(sh->keys[i]);
		sh->n = 0;
		snprintf(sh->ts, sizeof(sh->ts), "%s", ts);
	}
	sh->keys = realloc(sh->keys, (sh->n + 1) * sizeof(*sh->keys));
	sh->keys[sh->n++] = strdup(key);
}

/* Prints the lines not shown yet (since sh->ts, "" = all); false on an
 * error (printed). */
static bool show(client *c, const logs_opts *o, shown *sh)
{
	char path[300], query[100];
	snprintf(path, sizeof(path), "/api/v1/jobs/%.200s/logs", o->job);
	snprintf(query, sizeof(query), "%s%s", sh->ts[0] ? "since=" : "", sh->ts);
	cJSON *r = client_api(c, "GET", path, query, NULL);
	if (r == NULL)
		return false;
	const cJSON *l;
	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(r, "lines"))
	{
		char key[2400], ts[32];
		const char *line = json_str(l, "line");
		snprintf(ts, sizeof(ts), "%.23s", line);
		snprintf(key, sizeof(key), "%s %s", json_str(l, "source"), line);
		if (strcmp(ts, sh->ts) < 0 ||
		    (strcmp(ts, sh->ts) == 0 && was_shown(sh, key)))
			continue;
		if (o->json)
			json_print(l, false);
		else
			printf("%-10s %s\n", json_str(l, "source"), line);
		note_shown(sh, ts, key);
	}
	fflush(stdout);
	cJSON_Delete(r);
	return true;
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
	shown sh = {.n = 0};
	if (o.since_ms > 0)
		iso(o.since_ms, sh.ts, sizeof(sh.ts));
	int64_t end = o.duration_ms ? clock_wall_ms() + o.duration_ms : 0;
	bool ok = show(c, &o, &sh);
	while (ok && o.follow && !stop && (end == 0 || clock_wall_ms() < end)) {
		sleep(1);
		ok = show(c, &o, &sh);
	}
	for (size_t i = 0; i < sh.n; i++)
		free(sh.keys[i]);
	free(sh.keys);
	return ok ? EXIT_OK : EXIT_ERR;
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
