/*
 * A job's log lines of this process (logq.h), from the lines log.c keeps.
 */
#include "logq.h"

#include "log.h"
#include "msgtypes.h"
#include "sluice/err.h"
#include "ops.pb-c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *name;
	char id_job[32], id_paren[32];
} logq_match;

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* Whether s occurs in line as a whole word (not inside a longer name). */
static bool has_word(const char *line, const char *s)
{
	size_t n = strlen(s);
	for (const char *p = line; n && (p = strstr(p, s)) != NULL; p++) {
		bool left = p == line || !name_char(p[-1]);
		char r = p[n];
		/* a trailing '.' ends a sentence, not a name */
		bool right = !name_char(r) || (r == '.' && !name_char(p[n + 1]));
		if (left && right)
			return true;
	}
	return false;
}

static bool line_matches(const char *line, void *arg)
{
	const logq_match *m = arg;
	return has_word(line, m->name) || has_word(line, m->id_job) ||
	       strstr(line, m->id_paren) != NULL;
}

static void match_init(logq_match *m, const char *name, uint64_t id)
{
	m->name = name;
	snprintf(m->id_job, sizeof(m->id_job), "job %" PRIu64, id);
	snprintf(m->id_paren, sizeof(m->id_paren), "(id %" PRIu64 ",", id);
}

bool logq_line_matches(const char *line, const char *name, uint64_t id)
{
	logq_match m;
	match_init(&m, name, id);
	return line_matches(line, &m);
}

size_t logq_collect(const char *name, uint64_t id, const char *since, size_t limit,
                    char **out)
{
	logq_match m;
	match_init(&m, name, id);
	if (limit == 0 || limit > LOGQ_MAX_LINES)
		limit = LOGQ_MAX_LINES;
	char **all = malloc(LOG_KEEP_LINES * sizeof(*all));
	size_t n = all ? log_recent(since, line_matches, &m, all, LOG_KEEP_LINES) : 0;
	size_t skip = n > limit ? n - limit : 0;
	for (size_t i = 0; i < skip; i++)
		free(all[i]);
	if (n > skip)
		memcpy(out, all + skip, (n - skip) * sizeof(*out));
	free(all);
	return n - skip;
}

bool logq_since_ok(const char *s)
{
	if (strlen(s) > 24)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || strchr("-T:.Z", *s) != NULL))
			return false;
	return true;
}

int logq_handle(const envelope *req, rpc_reply *rep)
{
	Sluice__LogQuery *q =
	    sluice__log_query__unpack(NULL, req->payload_len, req->payload);
	if (q == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed LogQuery");
	if (!logq_since_ok(q->since) || q->job[0] == '\0') {
		sluice__log_query__free_unpacked(q, NULL);
		return rpc_reply_error(rep, SL_EINVAL, "LogQuery: bad job or since");
	}
	char **lines = malloc(LOGQ_MAX_LINES * sizeof(*lines));
	size_t n = lines ? logq_collect(q->job, q->job_id, q->since, q->limit, lines) : 0;
	Sluice__LogQueryReply out = SLUICE__LOG_QUERY_REPLY__INIT;
	out.lines = lines;
	out.n_lines = n;
	rpc_reply_set(rep, MSG_LOG_QUERY_REPLY, &out);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	sluice__log_query__free_unpacked(q, NULL);
	return SL_OK;
}
