/*
 * The master's REST API (docs/openapi.yaml is the contract; rest.h says who
 * may call what). One routing function maps method and path to a handler;
 * handlers read the engine under the master's lock into cJSON objects and
 * answer with them, or apply a lifecycle action (lifecycle.h) exactly as the
 * JobControl message does, so the CLI and the API cannot disagree.
 */
#include "rest.h"

#include "alerts.h"
#include "alloc.h"
#include "channels.h"
#include "engine_int.h"
#include "httpd.h"
#include "jobdef.h"
#include "joblogs.h"
#include "joblag.h"
#include "jobviews.h"
#include "lifecycle.h"
#include "log.h"
#include "logq.h"
#include "mmetrics.h"
#include "runconf.h"
#include "stateplan.h"
#include "msgtypes.h"
#include "sluice/err.h"
#include "job.pb-c.h"
#include "ops.pb-c.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a request does once the master's lock is let go: read the alert
 * history, store a job's configuration (run-config), gather logs. */
typedef struct {
	uint64_t alerts_of;
	uint64_t conf_id;
	char *conf_json;
	joblogs_req *logs;
} deferred;

struct rest {
	master *m;
	httpd *http;
};

#define API "/api/v1/"

static void reply_json(httpd_res *res, int status, cJSON *o)
{
	char *txt = cJSON_PrintUnformatted(o);
	httpd_text(res, status, "application/json", txt, strlen(txt));
	cJSON_free(txt);
	cJSON_Delete(o);
}

static cJSON *job_json(const job *j)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "id", (double)j->id);
	cJSON_AddStringToObject(o, "name", j->name);
	cJSON_AddStringToObject(o, "state", job_shown_state(j));
	cJSON_AddNumberToObject(o, "state_since_ms", (double)j->state_since_ms);
	cJSON_AddNumberToObject(o, "batch_interval_ms", (double)j->interval_ms);
	cJSON_AddNumberToObject(o, "created_ms", (double)j->created_ms);
	cJSON_AddNumberToObject(o, "batches_done", (double)j->batches_done);
	cJSON_AddNumberToObject(o, "batches_failed", (double)j->batches_failed);
	cJSON_AddNumberToObject(o, "batches_running", (double)j->nbatches);
	cJSON_AddNumberToObject(o, "records", (double)j->records);
	cJSON_AddNumberToObject(o, "last_batch_ms", (double)j->last_batch_ms);
	cJSON_AddNumberToObject(o, "receivers", (double)j->rt.nrcv);
	uint64_t keys, bytes;
	stateplan_size(j, &keys, &bytes);
	cJSON_AddNumberToObject(o, "state_keys", (double)keys);
	cJSON_AddNumberToObject(o, "state_bytes", (double)bytes);
	uint64_t late;
	int64_t wm;
	stateplan_events(j, &late, &wm);
	cJSON_AddNumberToObject(o, "late_records", (double)late);
	if (wm != INT64_MIN) /* absent until an event-time window saw one */
		cJSON_AddNumberToObject(o, "watermark_ms", (double)wm);
	cJSON_AddStringToObject(o, "library_hash", j->lib_hash);
	cJSON_AddStringToObject(o, "error", j->error);
	return o;
}

static void get_jobs(struct engine *e, httpd_res *res)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "jobs");
	for (size_t i = 0; i < e->njobs; i++)
		cJSON_AddItemToArray(a, job_json(e->jobs[i]));
	reply_json(res, 200, o);
}

static void get_transitions(const job *j, httpd_res *res)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "transitions");
	for (size_t i = 0; i < j->ntrans; i++) {
		const ckpt_transition *t = &j->trans[i].t;
		cJSON *x = cJSON_CreateObject();
		cJSON_AddNumberToObject(x, "seq", t->seq);
		cJSON_AddNumberToObject(x, "at_ms", (double)t->at_ms);
		cJSON_AddStringToObject(x, "from", t->from);
		cJSON_AddStringToObject(x, "to", t->to);
		cJSON_AddStringToObject(x, "who", t->who);
		cJSON_AddStringToObject(x, "why", t->why);
		cJSON_AddItemToArray(a, x);
	}
	reply_json(res, 200, o);
}

static cJSON *batch_json(int64_t t, const char *state, uint64_t records, int64_t sched,
                         int64_t proc, int64_t total, uint32_t tasks, uint32_t fails,
                         const char *error)
{
	cJSON *x = cJSON_CreateObject();
	cJSON_AddNumberToObject(x, "batch_ms", (double)t);
	cJSON_AddStringToObject(x, "state", state);
	cJSON_AddNumberToObject(x, "input_records", (double)records);
	cJSON_AddNumberToObject(x, "scheduling_delay_ms", (double)sched);
	cJSON_AddNumberToObject(x, "processing_ms", (double)proc);
	cJSON_AddNumberToObject(x, "total_delay_ms", (double)total);
	cJSON_AddNumberToObject(x, "tasks", tasks);
	cJSON_AddNumberToObject(x, "task_failures", fails);
	cJSON_AddStringToObject(x, "error", error ? error : "");
	return x;
}

/* The latest `limit` batches: finished ones from the history, then the
 * queued and running ones. */
static void get_batches(job *j, long limit, httpd_res *res)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "batches");
	size_t live = j->nbatches, total = j->nhist + live;
	size_t skip = total > (size_t)limit ? total - (size_t)limit : 0;
	size_t start = j->nhist < BATCH_HISTORY ? 0 : j->hist_next;
	for (size_t k = skip; k < j->nhist; k++) {
		const batch_summary *h = &j->hist[(start + k) % BATCH_HISTORY];
		cJSON_AddItemToArray(
		    a, batch_json(h->time_ms, h->state == BATCH_DONE ? "DONE" : "FAILED",
		                  h->input_records, h->sched_ms, h->proc_ms, h->total_ms,
		                  h->tasks, h->task_failures, h->error));
	}
	for (size_t k = skip > j->nhist ? skip - j->nhist : 0; k < live; k++) {
		Sluice__BatchInfo bi;
		batch_summarise(j, j->batches[k], &bi);
		cJSON_AddItemToArray(a,
		                     batch_json(bi.batch_ms, bi.state, bi.input_records,
		                                bi.scheduling_delay_ms, bi.processing_ms,
		                                bi.total_delay_ms, bi.tasks,
		                                bi.task_failures, bi.error));
	}
	reply_json(res, 200, o);
}

static void get_workers(master *m, httpd_res *res)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "workers");
	for (size_t i = 0; i < cluster_count(m->cl); i++) {
		const worker_entry *w = cluster_at(m->cl, i);
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "id", w->id);
		cJSON_AddStringToObject(x, "address", w->rpc_url);
		cJSON_AddNumberToObject(x, "slots", w->slots);
		cJSON_AddNumberToObject(x, "memory", (double)w->memory);
		cJSON_AddStringToObject(x, "state",
		                        w->state == WORKER_ALIVE ? "ALIVE" : "LOST");
		cJSON_AddItemToArray(a, x);
	}
	reply_json(res, 200, o);
}

static void get_lag(job *j, httpd_res *res)
{
	joblag_row rows[256];
	size_t n = joblag_rows(j, rows, 256);
	int64_t total = 0;
	cJSON *o = cJSON_CreateObject();
	cJSON *a = cJSON_AddArrayToObject(o, "partitions");
	for (size_t i = 0; i < n && i < 256; i++) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "topic", rows[i].topic);
		cJSON_AddNumberToObject(x, "partition", rows[i].partition);
		cJSON_AddNumberToObject(x, "end_offset", (double)rows[i].end);
		cJSON_AddNumberToObject(x, "next_offset", (double)rows[i].next);
		cJSON_AddNumberToObject(x, "lag", (double)rows[i].lag);
		cJSON_AddItemToArray(a, x);
		total += rows[i].lag;
	}
	cJSON_AddNumberToObject(o, "total", (double)total);
	reply_json(res, 200, o);
}

/* ?limit=N (1..max, default def); -1 with res set on a bad value. */
static long query_limit(const char *q, httpd_res *res, long max, long def)
{
	const char *p = strstr(q, "limit=");
	if (p == NULL || (p != q && p[-1] != '&'))
		return def;
	char *end;
	long v = strtol(p + 6, &end, 10);
	if (end == p + 6 || (*end != '\0' && *end != '&') || v < 1 || v > max) {
		httpd_error(res, 400, "query parameter limit must be an integer 1..%ld",
		            max);
		return -1;
	}
	return v;
}

/* Reads {"reason": string, "graceful": bool} (all optional); false with
 * res set on a malformed body. */
static bool action_body(const httpd_req *req, char *reason, size_t rlen, bool *graceful,
                        httpd_res *res)
{
	*graceful = false;
	reason[0] = '\0';
	if (req->body_len == 0)
		return true;
	cJSON *o = cJSON_ParseWithLength((const char *)req->body, req->body_len);
	const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "reason");
	const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "graceful");
	const char *bad = !cJSON_IsObject(o)                ? "a JSON object"
	                  : r != NULL && !cJSON_IsString(r) ? "reason as a string"
	                  : g != NULL && !cJSON_IsBool(g)   ? "graceful as a boolean"
	                  : r != NULL && strlen(r->valuestring) > 500
	                      ? "a reason of at most 500 characters"
	                      : NULL;
	if (bad == NULL) {
		/* kept and shown again (transitions): invalid UTF-8 as \xNN */
		const char *why = r ? r->valuestring : "";
		log_escape(reason, rlen, why, strlen(why));
		*graceful = cJSON_IsTrue(g);
	} else {
		httpd_error(res, 400, "request body: expected %s", bad);
	}
	cJSON_Delete(o);
	return bad == NULL;
}

static void post_action(job *j, const char *action, const httpd_req *req, const char *who,
                        httpd_res *res)
{
	char reason[512], err[512];
	bool graceful;
	if (!action_body(req, reason, sizeof(reason), &graceful, res))
		return;
	int rv = lifecycle_control(j, action, graceful, who, reason, err, sizeof(err));
	if (rv != SL_OK) {
		httpd_error(res, rv == SL_ESTATE ? 409 : 400, "%s", err);
		return;
	}
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "job", j->name);
	cJSON_AddStringToObject(o, "state", job_shown_state(j));
	reply_json(res, 200, o);
}

static bool is_action(const char *s)
{
	return strcmp(s, "start") == 0 || strcmp(s, "pause") == 0 ||
	       strcmp(s, "resume") == 0 || strcmp(s, "stop") == 0;
}

/* POST run-config {"set": {key: value}}: applies it and asks for the new
 * configuration to be stored once the lock is let go (d). */
static void post_run_config(job *j, const httpd_req *req, httpd_res *res, deferred *d)
{
	char err[512];
	cJSON *o = cJSON_ParseWithLength((const char *)req->body, req->body_len);
	cJSON *out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "job", j->name);
	cJSON *applied = cJSON_AddObjectToObject(out, "applied");
	if (runconf_set(j, cJSON_GetObjectItemCaseSensitive(o, "set"), applied, err,
	                sizeof(err)) != SL_OK) {
		httpd_error(res, 400, "run-config of job '%s': %s", j->name, err);
		cJSON_Delete(out);
	} else {
		d->conf_id = j->id;
		d->conf_json = jobdef_conf_json(&j->def);
		reply_json(res, 200, out);
	}
	cJSON_Delete(o);
}

/* /api/v1/jobs/{name}/run-config: GET or POST. */
static void route_run_config(master *m, const char *name, const httpd_req *req, bool get,
                             httpd_res *res, deferred *d)
{
	job *j = jobs_find(m->engine, name);
	if (!get && strcmp(req->method, "POST") != 0)
		httpd_error(res, 405, "method %.20s not allowed on %.200s (GET or POST)",
		            req->method, req->path);
	else if (j == NULL)
		httpd_error(res, 404, "no job named '%.100s'", name);
	else if (get)
		reply_json(res, 200, runconf_json(j));
	else
		post_run_config(j, req, res, d);
}

/* GET logs?since=TIMESTAMP&limit=N: prepared here, gathered unlocked. */
static void get_logs(master *m, const job *j, const httpd_req *req, httpd_res *res,
                     deferred *d)
{
	char since[64] = "";
	const char *p = strstr(req->query, "since=");
	if (p != NULL && (p == req->query || p[-1] == '&'))
		snprintf(since, sizeof(since), "%.*s", (int)strcspn(p + 6, "&"), p + 6);
	long limit = query_limit(req->query, res, LOGQ_MAX_LINES, 1000);
	if (limit < 0)
		return;
	if (!logq_since_ok(since))
		httpd_error(res, 400,
		            "query parameter since must be a UTC timestamp like "
		            "2026-11-30T11:00:00 (a prefix of it)");
	else
		d->logs = joblogs_prepare(m, j, since, limit);
}

/* /api/v1/jobs/{job}[/{sub}] with the lock held. /alerts and /logs are
 * only noted in d: they are read after the lock is let go. */
static void route_job(master *m, const char *rest_path, const httpd_req *req, bool get,
                      const char *who, httpd_res *res, deferred *d)
{
	char name[128], sub[32] = "";
	const char *slash = strchr(rest_path, '/');
	size_t n = slash ? (size_t)(slash - rest_path) : strlen(rest_path);
	if (n == 0 || n >= sizeof(name) || (slash && strlen(slash + 1) >= sizeof(sub)) ||
	    (slash && strchr(slash + 1, '/'))) {
		httpd_error(res, 404, "no such path: %.200s", req->path);
		return;
	}
	memcpy(name, rest_path, n);
	name[n] = '\0';
	if (slash)
		snprintf(sub, sizeof(sub), "%s", slash + 1);
	if (strcmp(sub, "run-config") == 0) {
		route_run_config(m, name, req, get, res, d);
		return;
	}
	bool known = sub[0] == '\0' || strcmp(sub, "config") == 0 ||
	             strcmp(sub, "summary") == 0 || strcmp(sub, "transitions") == 0 ||
	             strcmp(sub, "batches") == 0 || strcmp(sub, "alerts") == 0 ||
	             strcmp(sub, "lag") == 0 || strcmp(sub, "logs") == 0;
	if (!known && !is_action(sub)) {
		httpd_error(res, 404, "no such path: %.200s", req->path);
		return;
	}
	if (get != known) {
		httpd_error(res, 405, "method %.20s not allowed on %.200s (use %s)",
		            req->method, req->path, known ? "GET" : "POST");
		return;
	}
	long limit = strcmp(sub, "batches") == 0
	                 ? query_limit(req->query, res, BATCH_HISTORY, 100)
	                 : 0;
	if (limit < 0)
		return;
	job *j = jobs_find(m->engine, name);
	if (j == NULL)
		httpd_error(res, 404, "no job named '%.100s'", name);
	else if (sub[0] == '\0')
		reply_json(res, 200, job_json(j));
	else if (strcmp(sub, "config") == 0)
		reply_json(res, 200, jobviews_config(j));
	else if (strcmp(sub, "summary") == 0)
		reply_json(res, 200, jobviews_summary(j));
	else if (strcmp(sub, "transitions") == 0)
		get_transitions(j, res);
	else if (strcmp(sub, "batches") == 0)
		get_batches(j, limit, res);
	else if (strcmp(sub, "alerts") == 0)
		d->alerts_of = j->id;
	else if (strcmp(sub, "logs") == 0)
		get_logs(m, j, req, res, d);
	else if (strcmp(sub, "lag") == 0)
		get_lag(j, res);
	else
		post_action(j, sub, req, who, res);
}

/* POST /api/v1/jobs: config import (jobviews_import); ?start=true starts
 * the new job at once. */
static void post_import(master *m, const httpd_req *req, const char *who, httpd_res *res)
{
	char err[600];
	cJSON *o = cJSON_ParseWithLength((const char *)req->body, req->body_len);
	bool start = strcmp(req->query, "start=true") == 0;
	int rv = jobviews_import(m, o, start, who, err, sizeof(err));
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(o, "name");
	job *j = rv == SL_OK ? jobs_find(m->engine, name->valuestring) : NULL;
	if (j != NULL)
		reply_json(res, 201, job_json(j));
	else
		httpd_error(res,
		            rv == SL_ENOTFOUND ? 404
		            : rv == SL_EEXIST  ? 409
		            : rv == SL_ESTATE  ? 409
		                               : 400,
		            "%s", err);
	cJSON_Delete(o);
}

/* 0 when the call may go on; else res is set (401/403) and it is logged. */
static int check_auth(master *m, const httpd_req *req, bool get, httpd_res *res)
{
	int role = auth_token_role(&m->key, httpd_bearer(req));
	if (role & ROLE_CLIENT || (get && (role & ROLE_READER)))
		return 0;
	if (role == 0) {
		log_warn("REST: refused %.10s %.200s: no valid bearer token", req->method,
		         req->path);
		httpd_error(res, 401,
		            "a valid bearer token (operator.token or "
		            "reader.token) is required");
	} else {
		log_warn(
		    "REST: refused %.10s %.200s: the reader token cannot change state",
		    req->method, req->path);
		httpd_error(res, 403,
		            "the reader token cannot change state; use the "
		            "operator token");
	}
	return -1;
}

/* An authorised /api/v1 request: routes it (no lock held on entry). who
 * names the caller in lifecycle transitions. */
static void api_serve(master *m, const httpd_req *req, const char *who, httpd_res *res)
{
	const char *p = req->path + strlen(API);
	bool get = strcmp(req->method, "GET") == 0;
	deferred d = {.alerts_of = 0};
	channels_gc gc = {.n = 0};
	pthread_mutex_lock(&m->lock);
	if (strcmp(p, "channels") == 0 || strncmp(p, "channels/", 9) == 0)
		channels_route(m, p + 8, req, who, res, &gc);
	else if (!get && strcmp(req->method, "POST") != 0)
		httpd_error(res, 405, "method %.20s not allowed on %.200s", req->method,
		            req->path);
	else if (strcmp(p, "jobs") == 0 && get)
		get_jobs(m->engine, res);
	else if (strcmp(p, "jobs") == 0)
		post_import(m, req, who, res);
	else if (strcmp(p, "workers") == 0 && get)
		get_workers(m, res);
	else if (strncmp(p, "jobs/", 5) == 0)
		route_job(m, p + 5, req, get, who, res, &d);
	else if (strcmp(p, "jobs") == 0 || strcmp(p, "workers") == 0)
		httpd_error(res, 405, "method %.20s not allowed on %.200s (use GET)",
		            req->method, req->path);
	else
		httpd_error(res, 404, "no such path: %.200s", req->path);
	pthread_mutex_unlock(&m->lock);
	channels_purge(m, &gc);
	if (d.conf_json != NULL)
		runconf_persist(m, d.conf_id, d.conf_json);
	sl_free(d.conf_json);
	if (d.logs != NULL)
		reply_json(res, 200, joblogs_gather(m, d.logs));
	if (d.alerts_of != 0) {
		char *list = alerts_history_json(m->alerts, d.alerts_of);
		char *body = sl_asprintf("{\"alerts\":%s}", list);
		httpd_text(res, 200, "application/json", body, strlen(body));
		sl_free(body);
		sl_free(list);
	}
}

static void on_http(void *arg, const httpd_req *req, httpd_res *res)
{
	rest *r = arg;
	master *m = r->m;
	bool get = strcmp(req->method, "GET") == 0;
	if (strcmp(req->path, "/metrics") == 0) {
		if (get)
			mmetrics_render(m, res);
		else
			httpd_error(res, 405,
			            "method %.20s not allowed on /metrics (use GET)",
			            req->method);
		return;
	}
	if (strncmp(req->path, API, strlen(API)) != 0) {
		httpd_error(res, 404, "no such path: %.200s (the API is under %s)",
		            req->path, API);
		return;
	}
	if (!get && strcmp(req->method, "POST") != 0 &&
	    strcmp(req->method, "DELETE") != 0) {
		httpd_error(res, 405, "method %.20s not allowed (GET, POST or DELETE)",
		            req->method);
		return;
	}
	if (check_auth(m, req, get, res) != 0)
		return;
	api_serve(m, req, "rest:operator", res);
}

int rest_query(master *m, const envelope *req, rpc_reply *rep)
{
	Sluice__JobQuery *q =
	    sluice__job_query__unpack(NULL, req->payload_len, req->payload);
	if (q == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed JobQuery");
	char path[400], query[32] = "";
	snprintf(path, sizeof(path), API "jobs/%.150s%s%.100s", q->job,
	         q->what[0] ? "/" : "", q->what);
	if (q->limit > 0)
		snprintf(query, sizeof(query), "limit=%u", q->limit);
	httpd_req hr = {.method = "GET", .path = path, .query = query};
	httpd_res res = {.status = 200};
	api_serve(m, &hr, "", &res);
	Sluice__JobQueryReply out = SLUICE__JOB_QUERY_REPLY__INIT;
	out.status = (uint32_t)res.status;
	out.json = res.body ? res.body : "{}";
	rpc_reply_set(rep, MSG_JOB_QUERY_REPLY, &out);
	sl_free(res.body);
	sluice__job_query__free_unpacked(q, NULL);
	return SL_OK;
}

int rest_call(master *m, const envelope *req, rpc_reply *rep)
{
	Sluice__ApiCall *q =
	    sluice__api_call__unpack(NULL, req->payload_len, req->payload);
	if (q == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed ApiCall");
	httpd_req hr = {.method = q->method,
	                .path = q->path,
	                .query = q->query,
	                .body = q->body.data,
	                .body_len = q->body.len};
	httpd_res res = {.status = 200};
	bool get = strcmp(q->method, "GET") == 0;
	bool known =
	    get || strcmp(q->method, "POST") == 0 || strcmp(q->method, "DELETE") == 0;
	char who[160];
	snprintf(who, sizeof(who), "%s@%s", req->sender, rep->peer);
	if (!known)
		httpd_error(&res, 405, "method %.20s not allowed (GET, POST or DELETE)",
		            q->method);
	else if (strncmp(q->path, API, strlen(API)) != 0)
		httpd_error(&res, 404, "no such path: %.200s", q->path);
	else if (!get &&
	         !(req->cred >= 0 && (auth_cred_roles(req->cred) & ROLE_CLIENT))) {
		log_warn(
		    "refused %.10s %.200s from %s: the reader credential cannot change "
		    "state",
		    q->method, q->path, who);
		httpd_error(&res, 403, "the reader credential cannot change state");
	} else
		api_serve(m, &hr, who, &res);
	Sluice__ApiCallReply out = SLUICE__API_CALL_REPLY__INIT;
	out.status = (uint32_t)res.status;
	out.json = res.body ? res.body : "{}";
	rpc_reply_set(rep, MSG_API_CALL_REPLY, &out);
	sl_free(res.body);
	sluice__api_call__free_unpacked(q, NULL);
	return SL_OK;
}

int rest_start(master *m, rest **out, char *err, size_t errlen)
{
	rest *r = sl_calloc(1, sizeof(*r));
	r->m = m;
	const char *host = conf_get_str(m->conf, "sluice.master.host");
	int port = (int)conf_get_int(m->conf, "sluice.http.port");
	httpd_tls tls = {.cert = conf_get_str(m->conf, "sluice.http.tls.cert"),
	                 .key = conf_get_str(m->conf, "sluice.http.tls.key")};
	int rv = SL_OK;
	if ((tls.cert == NULL) != (tls.key == NULL)) {
		snprintf(err, errlen,
		         "HTTPS needs both sluice.http.tls.cert and sluice.http.tls.key");
		rv = SL_ECONFIG;
	}
	if (rv == SL_OK)
		rv = httpd_start_tls(&r->http, host, port, tls.cert ? &tls : NULL,
		                     on_http, r, err, errlen);
	if (rv != SL_OK) {
		sl_free(r);
		return rv;
	}
	char path[1200], tmp[1300];
	snprintf(path, sizeof(path), "%s/master.http", m->state_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f != NULL) {
		fprintf(f, "%s://%s:%d\n", tls.cert ? "https" : "http", host,
		        httpd_port(r->http));
		fclose(f);
		rename(tmp, path);
	}
	log_info("REST API and /metrics on %s://%s:%d", tls.cert ? "https" : "http", host,
	         httpd_port(r->http));
	*out = r;
	return SL_OK;
}

void rest_stop(rest *r)
{
	if (r == NULL)
		return;
	httpd_stop(r->http);
	sl_free(r);
}
