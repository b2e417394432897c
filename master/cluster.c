/*
 * Worker registry: see cluster.h. Persistence is per registration and per
 * state change, never per heartbeat, so heartbeats cost no fsync.
 */
#include "cluster.h"
#include "alloc.h"
#include "clock.h"
#include "log.h"
#include "msgtypes.h"
#include "sluice/err.h"
#include "cluster.pb-c.h"

#include <stdio.h>
#include <string.h>

struct cluster {
	store *db;
	rpc_opts client_opts;
	int64_t hb_ms, timeout_ms;
	worker_entry *w;
	size_t n, cap;
	cluster_event_fn on_event;
	void *event_arg;
	cluster_hb_fn on_hb;
	void *hb_arg;
	int64_t listening_mono; /* the first liveness check: workers can register */
};

static const char *state_name(worker_state s)
{
	return s == WORKER_ALIVE ? "ALIVE" : "LOST";
}

static worker_entry *cluster_add(cluster *c, const char *id)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 8;
		c->w = sl_realloc(c->w, c->cap * sizeof(*c->w));
	}
	worker_entry *w = &c->w[c->n++];
	memset(w, 0, sizeof(*w));
	snprintf(w->id, sizeof(w->id), "%s", id);
	w->state = WORKER_LOST;
	return w;
}

static int cluster_load(cluster *c, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	sqlite3 *db = store_db(c->db);
	if (sqlite3_prepare_v2(db,
	                       "SELECT id, host, rpc_url, slots, memory, registered_ms, "
	                       "last_heartbeat_ms, boot_id FROM workers ORDER BY "
	                       "registered_ms",
	                       -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "state store: %s", sqlite3_errmsg(db));
		return SL_EDB;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		worker_entry *w =
		    cluster_add(c, (const char *)sqlite3_column_text(st, 0));
		snprintf(w->host, sizeof(w->host), "%s", sqlite3_column_text(st, 1));
		snprintf(w->rpc_url, sizeof(w->rpc_url), "%s",
		         sqlite3_column_text(st, 2));
		w->slots = (uint32_t)sqlite3_column_int(st, 3);
		w->memory = (uint64_t)sqlite3_column_int64(st, 4);
		w->registered_ms = sqlite3_column_int64(st, 5);
		w->last_hb_wall = sqlite3_column_int64(st, 6);
		w->boot_id = (uint64_t)sqlite3_column_int64(st, 7);
		w->awaited = true; /* LOST if not back within the timeout */
	}
	sqlite3_finalize(st);
	return SL_OK;
}

int cluster_new(cluster **out, store *db, const rpc_opts *client_opts, int64_t hb_ms,
                int64_t timeout_ms, char *err, size_t errlen)
{
	cluster *c = sl_calloc(1, sizeof(*c));
	c->db = db;
	c->client_opts = *client_opts;
	c->hb_ms = hb_ms;
	c->timeout_ms = timeout_ms;
	int rv = cluster_load(c, err, errlen);
	if (rv != SL_OK) {
		cluster_free(c);
		return rv;
	}
	*out = c;
	return SL_OK;
}

void cluster_free(cluster *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		rpc_client_close(c->w[i].client);
	sl_free(c->w);
	sl_free(c);
}

void cluster_close_clients(cluster *c)
{
	for (size_t i = 0; i < c->n; i++) {
		rpc_client_close(c->w[i].client);
		c->w[i].client = NULL;
		c->w[i].state = WORKER_LOST;
	}
}

void cluster_on_event(cluster *c, cluster_event_fn fn, void *arg)
{
	c->on_event = fn;
	c->event_arg = arg;
}

void cluster_on_heartbeat(cluster *c, cluster_hb_fn fn, void *arg)
{
	c->on_hb = fn;
	c->hb_arg = arg;
}

static void cluster_persist(cluster *c, const worker_entry *w)
{
	sqlite3_stmt *st;
	sqlite3 *db = store_db(c->db);
	if (sqlite3_prepare_v2(
	        db,
	        "INSERT INTO workers(id, host, rpc_url, slots, memory, state, "
	        "registered_ms, last_heartbeat_ms, boot_id) VALUES (?,?,?,?,?,?,?,?,?) "
	        "ON CONFLICT(id) DO UPDATE SET host=excluded.host, "
	        "rpc_url=excluded.rpc_url, slots=excluded.slots, "
	        "memory=excluded.memory, state=excluded.state, "
	        "last_heartbeat_ms=excluded.last_heartbeat_ms, boot_id=excluded.boot_id",
	        -1, &st, NULL) != SQLITE_OK) {
		log_error("state store: %s", sqlite3_errmsg(db));
		return;
	}
	sqlite3_bind_text(st, 1, w->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, w->host, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, w->rpc_url, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, (int)w->slots);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)w->memory);
	sqlite3_bind_text(st, 6, state_name(w->state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, w->registered_ms);
	sqlite3_bind_int64(st, 8, w->last_hb_wall);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)w->boot_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		log_error("state store: saving %s: %s", w->id, sqlite3_errmsg(db));
	sqlite3_finalize(st);
}

/* A worker id we accept: "worker-" followed by digits. */
static bool id_valid(const char *id)
{
	if (strncmp(id, "worker-", 7) != 0 || id[7] == '\0' || strlen(id) > 20)
		return false;
	for (const char *p = id + 7; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static void id_assign(cluster *c, char *id, size_t idlen)
{
	long long next = 1;
	store_meta_get_int(c->db, "next_worker_seq", 1, &next);
	while (1) {
		snprintf(id, idlen, "worker-%lld", next++);
		if (cluster_find(c, id) == NULL)
			break;
	}
	store_meta_set_int(c->db, "next_worker_seq", next);
}

/* The worker id registered again from a new process: whatever the old
 * process held is gone, whether or not we had noticed it was dead. */
static void cluster_process_gone(cluster *c, worker_entry *w, int64_t new_pid)
{
	log_warn("worker %s came back as a new process (pid %lld, was %lld): its "
	         "tasks, receivers and blocks in memory are lost",
	         w->id, (long long)new_pid, (long long)w->pid);
	w->state = WORKER_LOST;
	if (c->on_event)
		c->on_event(c->event_arg, w, true);
}

static int register_check(const Sluice__RegisterWorker *r, rpc_reply *rep)
{
	if (r->slots == 0 || r->slots > 1024)
		return rpc_reply_error(
		    rep, SL_EINVAL, "register: slots must be 1..1024, got %u", r->slots);
	if (r->rpc_url == NULL || r->rpc_url[0] == '\0' || strlen(r->rpc_url) >= 256)
		return rpc_reply_error(rep, SL_EINVAL,
		                       "register: missing or too long rpc_url");
	if (r->host == NULL || strlen(r->host) >= 64)
		return rpc_reply_error(rep, SL_EINVAL,
		                       "register: host missing or too long");
	if (r->worker_id[0] != '\0' && !id_valid(r->worker_id))
		return rpc_reply_error(rep, SL_EINVAL, "register: bad worker id '%s'",
		                       r->worker_id);
	return SL_OK;
}

static int worker_connect(cluster *c, worker_entry *w, rpc_reply *rep)
{
	char err[512];
	rpc_client_close(w->client);
	w->client = NULL;
	int rv =
	    rpc_client_open(&w->client, w->rpc_url, &c->client_opts, err, sizeof(err));
	if (rv != SL_OK) {
		log_warn("refusing worker %s: %s", w->id, err);
		return rpc_reply_error(rep, rv, "%s", err);
	}
	return SL_OK;
}

int cluster_handle_register(cluster *c, const envelope *req, rpc_reply *rep)
{
	Sluice__RegisterWorker *r =
	    sluice__register_worker__unpack(NULL, req->payload_len, req->payload);
	if (r == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed RegisterWorker");
	int rv = register_check(r, rep);
	if (rv != SL_OK)
		goto done;
	char id[32];
	snprintf(id, sizeof(id), "%s", r->worker_id);
	if (id[0] == '\0')
		id_assign(c, id, sizeof(id));
	worker_entry *w = cluster_find(c, id);
	bool known = w != NULL;
	if (w == NULL) {
		w = cluster_add(c, id);
		w->registered_ms = clock_wall_ms();
	} else if (w->boot_id != 0 && w->boot_id != r->boot_id) {
		cluster_process_gone(c, w, r->pid);
	}
	w->boot_id = r->boot_id;
	w->pid = r->pid;
	snprintf(w->host, sizeof(w->host), "%s", r->host);
	snprintf(w->rpc_url, sizeof(w->rpc_url), "%s", r->rpc_url);
	w->slots = r->slots;
	w->memory = r->memory_bytes;
	if ((rv = worker_connect(c, w, rep)) != SL_OK)
		goto done;
	w->state = WORKER_ALIVE;
	w->awaited = false;
	w->incarnation++;
	w->last_hb_mono = clock_mono_ms();
	w->prev_hb_mono = w->last_hb_mono;
	w->last_hb_wall = clock_wall_ms();
	cluster_persist(c, w);
	log_info("worker %s %sregistered from %s: %s, %u slots, %llu MiB", w->id,
	         known ? "re-" : "", rep->peer, w->rpc_url, w->slots,
	         (unsigned long long)(w->memory >> 20));
	if (c->on_event)
		c->on_event(c->event_arg, w, false);
	Sluice__RegisterWorkerReply out = SLUICE__REGISTER_WORKER_REPLY__INIT;
	out.worker_id = w->id;
	out.heartbeat_interval_ms = (uint32_t)c->hb_ms;
	rpc_reply_set(rep, MSG_REGISTER_WORKER_REPLY, &out);
done:
	sluice__register_worker__free_unpacked(r, NULL);
	return rv;
}

int cluster_handle_heartbeat(cluster *c, const envelope *req, rpc_reply *rep)
{
	Sluice__Heartbeat *h =
	    sluice__heartbeat__unpack(NULL, req->payload_len, req->payload);
	if (h == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed Heartbeat");
	Sluice__HeartbeatReply out = SLUICE__HEARTBEAT_REPLY__INIT;
	worker_entry *w = cluster_find(c, h->worker_id);
	if (w == NULL || w->state != WORKER_ALIVE ||
	    strcmp(h->worker_id, req->sender) != 0) {
		out.reregister = true;
	} else {
		w->prev_hb_mono = w->last_hb_mono;
		w->last_hb_mono = clock_mono_ms();
		w->last_hb_wall = clock_wall_ms();
		w->slots_busy = h->slots_busy;
		w->mem_used = h->memory_used_bytes;
		w->cpu_load = h->cpu_load;
		if (c->on_hb)
			c->on_hb(c->hb_arg, w, h->tasks, h->n_tasks);
	}
	sluice__heartbeat__free_unpacked(h, NULL);
	rpc_reply_set(rep, MSG_HEARTBEAT_REPLY, &out);
	return SL_OK;
}

int cluster_handle_list(cluster *c, const envelope *req, rpc_reply *rep)
{
	Sluice__ListWorkersReply out = SLUICE__LIST_WORKERS_REPLY__INIT;
	Sluice__WorkerInfo *infos = sl_calloc(c->n, sizeof(*infos));
	Sluice__WorkerInfo **ptrs = sl_calloc(c->n, sizeof(*ptrs));
	for (size_t i = 0; i < c->n; i++) {
		worker_entry *w = &c->w[i];
		sluice__worker_info__init(&infos[i]);
		infos[i].worker_id = w->id;
		infos[i].host = w->host;
		infos[i].rpc_url = w->rpc_url;
		infos[i].slots = w->slots;
		infos[i].memory_bytes = w->memory;
		infos[i].state = (char *)state_name(w->state);
		infos[i].last_heartbeat_ms = w->last_hb_wall;
		infos[i].slots_busy = w->slots_busy;
		infos[i].memory_used_bytes = w->mem_used;
		ptrs[i] = &infos[i];
	}
	out.n_workers = c->n;
	out.workers = ptrs;
	rpc_reply_set(rep, MSG_LIST_WORKERS_REPLY, &out);
	sl_free(ptrs);
	sl_free(infos);
	return SL_OK;
}

/* A worker known before the master's start that has not registered again
 * within the timeout of the master listening (its recovery may take longer
 * than the timeout) is lost like one whose heartbeats stopped: it died
 * while the master was down (what it held moves elsewhere). */
static void check_awaited(cluster *c, worker_entry *w, int64_t now_mono)
{
	if (!w->awaited || now_mono - c->listening_mono <= c->timeout_ms)
		return;
	w->awaited = false;
	log_warn("worker %s (%s) LOST: it did not register again within %lld ms "
	         "of the master's start",
	         w->id, w->rpc_url, (long long)c->timeout_ms);
	if (c->on_event)
		c->on_event(c->event_arg, w, true);
}

void cluster_check_liveness(cluster *c, int64_t now_mono)
{
	if (c->listening_mono == 0)
		c->listening_mono = now_mono;
	for (size_t i = 0; i < c->n; i++) {
		worker_entry *w = &c->w[i];
		check_awaited(c, w, now_mono);
		if (w->state != WORKER_ALIVE ||
		    now_mono - w->last_hb_mono <= c->timeout_ms)
			continue;
		w->state = WORKER_LOST;
		log_warn(
		    "worker %s (%s) LOST: no heartbeat for %lld ms (timeout %lld ms)",
		    w->id, w->rpc_url, (long long)(now_mono - w->last_hb_mono),
		    (long long)c->timeout_ms);
		cluster_persist(c, w);
		if (c->on_event)
			c->on_event(c->event_arg, w, true);
	}
}

int64_t cluster_timeout_ms(const cluster *c)
{
	return c->timeout_ms;
}

size_t cluster_count(const cluster *c)
{
	return c->n;
}

worker_entry *cluster_at(cluster *c, size_t i)
{
	return &c->w[i];
}

worker_entry *cluster_find(cluster *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->w[i].id, id) == 0)
			return &c->w[i];
	return NULL;
}
