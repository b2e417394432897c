/*
 * Alert evaluator for job states: see alerts.h. A job's configuration says
 * where its alerts go (sluice.alerts.email.to, sluice.alerts.webhook.url,
 * sluice.alerts.exec.command with sluice.alerts.exec.to) and which states
 * trigger (sluice.alerts.states, FAILED by default). Each state transition
 * runs the job's incidents through alertrule_on_state; each resulting event
 * goes to every configured channel as one alert with its own id, and the
 * notifier's report of it becomes one alert_history row.
 */
#include "alerts.h"

#include "alertrule.h"
#include "alloc.h"
#include "clock.h"
#include "log.h"
#include "notify.h"
#include "sluice/err.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

/* A job's open incidents; seq counts their changes, so that of two
 * snapshots written out of order the later one wins. */
typedef struct {
	uint64_t job_id;
	alert_incidents inc;
	uint64_t seq;
} job_incidents;

/* An alert handed to the notifier, waiting for its outcome, with the job's
 * incidents as they were once it was raised (written with its outcome). */
typedef struct {
	uint64_t id, job_id;
	int64_t at_ms;
	char *job, *channel, *target, *event, *summary;
	alert_incidents inc;
	uint64_t inc_seq;
} pending;

struct alerts {
	notifier *n;
	pthread_mutex_t mu; /* incidents, pending, next_id: memory only */
	job_incidents *inc;
	size_t ninc;
	pending *pend;
	size_t npend;
	uint64_t next_id;
	pthread_mutex_t dbmu; /* the connection: I/O happens under it only */
	sqlite3 *db;
};

static void pending_free(pending *p)
{
	sl_free(p->job);
	sl_free(p->channel);
	sl_free(p->target);
	sl_free(p->event);
	sl_free(p->summary);
}

/* Stores the job's incidents as p saw them, unless a later snapshot is
 * already there (a->dbmu held). A restarted master reads them back
 * (load_incidents), so an open incident does not alert again. */
static void record_incidents(alerts *a, const pending *p)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(
	        a->db,
	        "INSERT INTO alert_incidents(job_id, seq, state, lag_total, "
	        "lag_partition) VALUES (?,?,?,?,?) ON CONFLICT(job_id) DO "
	        "UPDATE SET seq=excluded.seq, state=excluded.state, "
	        "lag_total=excluded.lag_total, "
	        "lag_partition=excluded.lag_partition WHERE excluded.seq > seq",
	        -1, &st, NULL) != SQLITE_OK) {
		log_error("alert incidents not recorded: %s", sqlite3_errmsg(a->db));
		return;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)p->job_id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)p->inc_seq);
	sqlite3_bind_int(st, 3, p->inc.state);
	sqlite3_bind_int(st, 4, p->inc.lag_total);
	sqlite3_bind_int(st, 5, p->inc.lag_partition);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_error("alert incidents of job %llu not recorded: %s",
		          (unsigned long long)p->job_id, sqlite3_errmsg(a->db));
	sqlite3_finalize(st);
}

static void record(alerts *a, const pending *p, int rv, int attempts, const char *err)
{
	sqlite3_stmt *st;
	pthread_mutex_lock(&a->dbmu);
	if (sqlite3_prepare_v2(
	        a->db,
	        "INSERT INTO alert_history(id, job_id, job, at_ms, channel, "
	        "target, event, summary, outcome, attempts, error) VALUES "
	        "(?,?,?,?,?,?,?,?,?,?,?)",
	        -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)p->id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)p->job_id);
		sqlite3_bind_text(st, 3, p->job, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, p->at_ms);
		sqlite3_bind_text(st, 5, p->channel, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, p->target, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, p->event, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, p->summary, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, rv == SL_OK ? "sent" : "failed", -1,
		                  SQLITE_STATIC);
		sqlite3_bind_int(st, 10, attempts);
		sqlite3_bind_text(st, 11, err ? err : "", -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			log_error("alert %llu not recorded: %s",
			          (unsigned long long)p->id, sqlite3_errmsg(a->db));
		sqlite3_finalize(st);
	}
	record_incidents(a, p);
	pthread_mutex_unlock(&a->dbmu);
}

/* At start: every job's incidents as last recorded. */
static int load_incidents(alerts *a)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(a->db,
	                       "SELECT job_id, seq, state, lag_total, lag_partition FROM "
	                       "alert_incidents",
	                       -1, &st, NULL) != SQLITE_OK)
		return SL_EDB;
	while (sqlite3_step(st) == SQLITE_ROW) {
		a->inc = sl_realloc(a->inc, (a->ninc + 1) * sizeof(*a->inc));
		a->inc[a->ninc++] = (job_incidents){
		    .job_id = (uint64_t)sqlite3_column_int64(st, 0),
		    .seq = (uint64_t)sqlite3_column_int64(st, 1),
		    .inc = {.state = sqlite3_column_int(st, 2),
		            .lag_total = sqlite3_column_int(st, 3) != 0,
		            .lag_partition = sqlite3_column_int(st, 4) != 0}};
	}
	sqlite3_finalize(st);
	return SL_OK;
}

/* The notifier's report (its thread, no master lock). */
static void on_done(void *arg, uint64_t alert_id, notify_kind kind, int rv, int attempts,
                    const char *err)
{
	alerts *a = arg;
	pending p = {0};
	bool found = false;
	pthread_mutex_lock(&a->mu);
	for (size_t i = 0; i < a->npend && !found; i++)
		if (a->pend[i].id == alert_id) {
			p = a->pend[i];
			a->pend[i] = a->pend[--a->npend];
			found = true;
		}
	pthread_mutex_unlock(&a->mu);
	if (!found)
		return;
	if (rv == SL_OK)
		log_info("alert %llu (%s) for job %s sent after %d attempt(s)",
		         (unsigned long long)alert_id, notify_kind_name(kind), p.job,
		         attempts);
	else
		log_warn("alert %llu (%s) for job %s failed after %d attempt(s): %s",
		         (unsigned long long)alert_id, notify_kind_name(kind), p.job,
		         attempts, err);
	record(a, &p, rv, attempts, err);
	pending_free(&p);
}

int alerts_new(const char *db_path, const sl_conf *master_conf, alerts **out, char *err,
               size_t errlen)
{
	alerts *a = sl_calloc(1, sizeof(*a));
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->dbmu, NULL);
	sqlite3_stmt *st = NULL;
	if (sqlite3_open_v2(db_path, &a->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_busy_timeout(a->db, 5000) != SQLITE_OK ||
	    sqlite3_prepare_v2(a->db, "SELECT COALESCE(MAX(id), 0) FROM alert_history",
	                       -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "alerts: %s: %s", db_path, sqlite3_errmsg(a->db));
		goto fail;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		a->next_id = (uint64_t)sqlite3_column_int64(st, 0) + 1;
	sqlite3_finalize(st);
	if (load_incidents(a) != SL_OK) {
		snprintf(err, errlen, "alerts: %s: %s", db_path, sqlite3_errmsg(a->db));
		goto fail;
	}
	if (notifier_new(&a->n, master_conf, on_done, a, err, errlen) != SL_OK)
		goto fail;
	*out = a;
	return SL_OK;
fail:
	sqlite3_close(a->db);
	sl_free(a);
	return SL_ECONFIG;
}

void alerts_free(alerts *a)
{
	if (a == NULL)
		return;
	notifier_free(a->n); /* reports what is queued: uses db */
	for (size_t i = 0; i < a->npend; i++)
		pending_free(&a->pend[i]);
	sl_free(a->pend);
	sl_free(a->inc);
	sqlite3_close(a->db);
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->dbmu);
	sl_free(a);
}

static job_incidents *incidents_of(alerts *a, uint64_t job_id)
{
	for (size_t i = 0; i < a->ninc; i++)
		if (a->inc[i].job_id == job_id)
			return &a->inc[i];
	a->inc = sl_realloc(a->inc, (a->ninc + 1) * sizeof(*a->inc));
	a->inc[a->ninc] = (job_incidents){.job_id = job_id};
	alertrule_incidents_init(&a->inc[a->ninc].inc);
	return &a->inc[a->ninc++];
}

/* Splits a comma list in place into at most max entries; returns how many. */
static size_t split(char *s, const char **out, size_t max)
{
	size_t n = 0;
	for (char *tok = strtok(s, ", "); tok != NULL && n < max;
	     tok = strtok(NULL, ", "))
		out[n++] = tok;
	return n;
}

typedef struct {
	uint64_t job_id;
	const char *job, *state, *why;
	const alert_event *ev;
	const job_incidents *inc; /* after the events */
} alert_ctx;

/* Queues one alert to one channel (a->mu held). */
static void send_one(alerts *a, const alert_ctx *x, notify_kind kind, const char *target,
                     const char *to_list)
{
	char list[1024], err[256];
	const char *to[32];
	snprintf(list, sizeof(list), "%s", to_list ? to_list : "");
	size_t nto = split(list, to, 32);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "job", x->job);
	cJSON_AddStringToObject(o, "status", x->ev->resolved ? "resolved" : "firing");
	cJSON_AddStringToObject(o, "state", x->state);
	cJSON_AddStringToObject(o, "message", x->ev->summary);
	cJSON_AddStringToObject(o, "why", x->why ? x->why : "");
	char *json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	char subject[300];
	snprintf(subject, sizeof(subject), "[sluice] %s", x->ev->summary);
	uint64_t id = a->next_id++;
	notify_msg m = {.alert_id = id,
	                .kind = kind,
	                .target = target,
	                .recipients = to,
	                .nrecipients = nto,
	                .subject = subject,
	                .json = json};
	if (notify_send(a->n, &m, err, sizeof(err)) != SL_OK) {
		log_error("alert for job %s (%s) not queued: %s", x->job,
		          notify_kind_name(kind), err);
	} else {
		a->pend = sl_realloc(a->pend, (a->npend + 1) * sizeof(*a->pend));
		a->pend[a->npend++] = (pending){
		    .id = id,
		    .job_id = x->job_id,
		    .at_ms = clock_wall_ms(),
		    .job = sl_strdup(x->job),
		    .channel = sl_strdup(notify_kind_name(kind)),
		    .target = sl_strdup(
		        kind == NOTIFY_WEBHOOK || kind == NOTIFY_EXEC ? target : to_list),
		    .event = sl_strdup(x->ev->resolved ? "resolved" : "firing"),
		    .summary = sl_strdup(x->ev->summary),
		    .inc = x->inc->inc,
		    .inc_seq = x->inc->seq};
	}
	cJSON_free(json);
}

/* The job's rule; false when it has no channel (nothing to evaluate). */
static bool job_rule(const sl_conf *job_conf, alert_rule *rule)
{
	char err[128];
	memset(rule, 0, sizeof(*rule));
	if (conf_get_str(job_conf, "sluice.alerts.email.to") == NULL &&
	    conf_get_str(job_conf, "sluice.alerts.webhook.url") == NULL &&
	    conf_get_str(job_conf, "sluice.alerts.exec.command") == NULL)
		return false;
	rule->lag_total = conf_get_int(job_conf, "sluice.alerts.lag.total");
	rule->lag_partition = conf_get_int(job_conf, "sluice.alerts.lag.partition");
	/* the list was checked at submission (job_conf_apply) */
	return alertrule_parse_states(conf_get_str(job_conf, "sluice.alerts.states"),
	                              &rule->states, err, sizeof(err)) == 0;
}

/* Sends each event to every channel of the job (a->mu held). */
static void send_events(alerts *a, const sl_conf *job_conf, alert_ctx *x,
                        const alert_event *ev, size_t n)
{
	const char *email = conf_get_str(job_conf, "sluice.alerts.email.to");
	const char *hook = conf_get_str(job_conf, "sluice.alerts.webhook.url");
	const char *cmd = conf_get_str(job_conf, "sluice.alerts.exec.command");
	for (size_t i = 0; i < n; i++) {
		x->ev = &ev[i];
		if (email != NULL)
			send_one(a, x, NOTIFY_EMAIL, "", email);
		if (hook != NULL)
			send_one(a, x, NOTIFY_WEBHOOK, hook, NULL);
		if (cmd != NULL)
			send_one(a, x, NOTIFY_EXEC, cmd,
			         conf_get_str(job_conf, "sluice.alerts.exec.to"));
	}
}

void alerts_job_state(alerts *a, uint64_t job_id, const char *job,
                      const sl_conf *job_conf, const char *state, const char *why)
{
	alert_rule rule;
	if (a == NULL || !job_rule(job_conf, &rule))
		return;
	alert_event ev[2];
	pthread_mutex_lock(&a->mu);
	job_incidents *ji = incidents_of(a, job_id);
	size_t n = alertrule_on_state(&rule, &ji->inc, job, state, ev);
	ji->seq += n > 0;
	alert_ctx x = {job_id, job, state, why, NULL, ji};
	send_events(a, job_conf, &x, ev, n);
	pthread_mutex_unlock(&a->mu);
}

void alerts_job_lag(alerts *a, uint64_t job_id, const char *job, const sl_conf *job_conf,
                    int64_t total, int64_t max_partition, const char *worst)
{
	alert_rule rule;
	if (a == NULL || !job_rule(job_conf, &rule) ||
	    (rule.lag_total <= 0 && rule.lag_partition <= 0))
		return;
	alert_event ev[2];
	char why[128];
	snprintf(why, sizeof(why), "Kafka lag %lld in total, %lld on %s",
	         (long long)total, (long long)max_partition, worst);
	pthread_mutex_lock(&a->mu);
	job_incidents *ji = incidents_of(a, job_id);
	size_t n =
	    alertrule_on_lag(&rule, &ji->inc, job, total, max_partition, worst, ev);
	ji->seq += n > 0;
	alert_ctx x = {job_id, job, "RUNNING", why, NULL, ji};
	send_events(a, job_conf, &x, ev, n);
	pthread_mutex_unlock(&a->mu);
}

char *alerts_history_json(alerts *a, uint64_t job_id)
{
	static const char *const cols[] = {"id",      "at_ms",    "channel",
	                                   "target",  "event",    "summary",
	                                   "outcome", "attempts", "error"};
	cJSON *arr = cJSON_CreateArray();
	sqlite3_stmt *st;
	pthread_mutex_lock(&a->dbmu);
	if (sqlite3_prepare_v2(
	        a->db,
	        "SELECT id, at_ms, channel, target, event, summary, outcome, "
	        "attempts, error FROM alert_history WHERE job_id = ? "
	        "ORDER BY id",
	        -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)job_id);
		while (sqlite3_step(st) == SQLITE_ROW) {
			cJSON *o = cJSON_CreateObject();
			for (int c = 0; c < 9; c++)
				if (sqlite3_column_type(st, c) == SQLITE_INTEGER)
					cJSON_AddNumberToObject(
					    o, cols[c],
					    (double)sqlite3_column_int64(st, c));
				else
					cJSON_AddStringToObject(
					    o, cols[c],
					    (const char *)sqlite3_column_text(st, c));
			cJSON_AddItemToArray(arr, o);
		}
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&a->dbmu);
	char *txt = cJSON_PrintUnformatted(arr);
	cJSON_Delete(arr);
	char *out = sl_strdup(txt);
	cJSON_free(txt);
	return out;
}
