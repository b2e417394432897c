/*
 * A job's log lines from every process (joblogs.h).
 */
#include "joblogs.h"

#include "alloc.h"
#include "logq.h"
#include "msgtypes.h"
#include "sluice/err.h"
#include "ops.pb-c.h"

#include <stdlib.h>
#include <string.h>

#define JOBLOGS_WORKERS 64

struct joblogs_req {
	char *job, *since;
	uint64_t id;
	long limit;
	size_t nworkers;
	char *wid[JOBLOGS_WORKERS], *wurl[JOBLOGS_WORKERS];
};

typedef struct {
	const char *source;
	char *line;
	size_t seq; /* order of arrival: equal times keep it (qsort is not stable) */
} src_line;

joblogs_req *joblogs_prepare(master *m, const job *j, const char *since, long limit)
{
	joblogs_req *r = sl_calloc(1, sizeof(*r));
	r->job = sl_strdup(j->name);
	r->since = sl_strdup(since);
	r->id = j->id;
	r->limit = limit;
	for (size_t i = 0; i < cluster_count(m->cl) && r->nworkers < JOBLOGS_WORKERS;
	     i++) {
		const worker_entry *w = cluster_at(m->cl, i);
		if (w->state != WORKER_ALIVE)
			continue;
		r->wid[r->nworkers] = sl_strdup(w->id);
		r->wurl[r->nworkers++] = sl_strdup(w->rpc_url);
	}
	return r;
}

/* Asks one worker; appends its lines to *all. NULL, or the error. */
static char *ask_worker(master *m, joblogs_req *r, size_t k, src_line **all, size_t *n)
{
	char err[512] = "";
	rpc_client *c = NULL;
	envelope rep;
	Sluice__LogQuery q = SLUICE__LOG_QUERY__INIT;
	q.job = r->job;
	q.job_id = r->id;
	q.since = r->since;
	q.limit = (uint32_t)r->limit;
	if (rpc_client_open(&c, r->wurl[k], &m->rpc, err, sizeof(err)) != SL_OK ||
	    rpc_call_pb(c, MSG_LOG_QUERY, &q, &rep, err, sizeof(err)) != SL_OK) {
		rpc_client_close(c);
		return sl_strdup(err[0] ? err : "no answer");
	}
	Sluice__LogQueryReply *lr =
	    sluice__log_query_reply__unpack(NULL, rep.payload_len, rep.payload);
	envelope_release(&rep);
	rpc_client_close(c);
	if (lr == NULL)
		return sl_strdup("malformed LogQueryReply");
	*all = sl_realloc(*all, (*n + lr->n_lines + 1) * sizeof(**all));
	for (size_t i = 0; i < lr->n_lines; i++, (*n)++)
		(*all)[*n] = (src_line){r->wid[k], sl_strdup(lr->lines[i]), *n};
	sluice__log_query_reply__free_unpacked(lr, NULL);
	return NULL;
}

/* Time order: every line begins with its UTC timestamp. */
static int by_time(const void *a, const void *b)
{
	const src_line *x = a, *y = b;
	int c = strncmp(x->line, y->line, 24);
	if (c == 0)
		c = strcmp(x->source, y->source);
	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static void add_source(cJSON *sources, const char *name, const char *error)
{
	cJSON *s = cJSON_CreateObject();
	cJSON_AddStringToObject(s, "source", name);
	cJSON_AddBoolToObject(s, "ok", error == NULL);
	cJSON_AddStringToObject(s, "error", error ? error : "");
	cJSON_AddItemToArray(sources, s);
}

static void joblogs_free(joblogs_req *r)
{
	for (size_t k = 0; k < r->nworkers; k++) {
		sl_free(r->wid[k]);
		sl_free(r->wurl[k]);
	}
	sl_free(r->job);
	sl_free(r->since);
	sl_free(r);
}

cJSON *joblogs_gather(master *m, joblogs_req *r)
{
	char **mine = sl_malloc(LOGQ_MAX_LINES * sizeof(*mine));
	size_t nm = logq_collect(r->job, r->id, r->since, (size_t)r->limit, mine), n = 0;
	src_line *all = sl_calloc(nm + 1, sizeof(*all));
	for (size_t i = 0; i < nm; i++) {
		all[n] = (src_line){"master", sl_strdup(mine[i]), n};
		n++;
		free(mine[i]);
	}
	sl_free(mine);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "job", r->job);
	cJSON *sources = cJSON_AddArrayToObject(o, "sources");
	add_source(sources, "master", NULL);
	for (size_t k = 0; k < r->nworkers; k++) {
		char *e = ask_worker(m, r, k, &all, &n);
		add_source(sources, r->wid[k], e);
		sl_free(e);
	}
	qsort(all, n, sizeof(*all), by_time);
	size_t skip = n > (size_t)r->limit ? n - (size_t)r->limit : 0;
	cJSON *lines = cJSON_AddArrayToObject(o, "lines");
	for (size_t i = 0; i < n; i++) {
		if (i >= skip) {
			cJSON *x = cJSON_CreateObject();
			cJSON_AddStringToObject(x, "source", all[i].source);
			cJSON_AddStringToObject(x, "line", all[i].line);
			cJSON_AddItemToArray(lines, x);
		}
		sl_free(all[i].line);
	}
	sl_free(all);
	joblogs_free(r);
	return o;
}
