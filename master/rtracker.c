/*
 * The receiver tracker (contract in rtracker.h).
 */
#include "rtracker.h"
#include "alloc.h"
#include "clock.h"
#include "log.h"
#include "msgtypes.h"
#include "sluice/err.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void rblock_free(rblock *b)
{
	if (b == NULL)
		return;
	sl_free(b->id);
	sl_free(b->wal);
	for (int i = 0; i < HOLDERS_MAX; i++)
		sl_free(b->holder_url[i]);
	sl_free(b);
}

static void list_push(rblock ***v, size_t *n, size_t *cap, rblock *b)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*v = sl_realloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = b;
}

void rtracker_init(rtracker *rt, const rtracker_env *env, void *owner, uint64_t job_id,
                   const char *name, const Sluice__JobGraph *g, const char *storage_level,
                   int64_t block_interval_ms, bool wal)
{
	memset(rt, 0, sizeof(*rt));
	rt->env = env;
	rt->owner = owner;
	rt->job_id = job_id;
	rt->name = name;
	rt->graph = g;
	snprintf(rt->storage_level, sizeof(rt->storage_level), "%s", storage_level);
	rt->block_interval_ms = block_interval_ms;
	rt->wal = wal;
	for (size_t i = 0; i < g->n_nodes; i++) {
		if (g->nodes[i]->kind != SLUICE__NODE_KIND__SRC_SOCKET)
			continue;
		rt->rcv = sl_realloc(rt->rcv, (rt->nrcv + 1) * sizeof(*rt->rcv));
		receiver *r = &rt->rcv[rt->nrcv];
		memset(r, 0, sizeof(*r));
		r->id = (uint32_t)rt->nrcv++;
		r->node = g->nodes[i]->id;
		r->state = RCV_INACTIVE;
	}
}

void rtracker_fini(rtracker *rt)
{
	for (size_t i = 0; i < rt->npending; i++)
		rblock_free(rt->pending[i]);
	for (size_t i = 0; i < rt->nheld; i++)
		rblock_free(rt->held[i]);
	sl_free(rt->pending);
	sl_free(rt->held);
	sl_free(rt->rcv);
	memset(rt, 0, sizeof(*rt));
}

typedef struct {
	const rtracker_env *env;
	uint64_t job_id;
	uint32_t rid, generation;
} rcv_ctx;

static void start_done(void *arg, int rv, const envelope *reply, const char *err)
{
	rcv_ctx *c = arg;
	pthread_mutex_lock(c->env->lock);
	rtracker *rt = c->env->find(c->env->arg, c->job_id);
	receiver *r = rt && c->rid < rt->nrcv ? &rt->rcv[c->rid] : NULL;
	if (r != NULL && r->generation == c->generation && r->state == RCV_STARTING) {
		if (rv == SL_OK) {
			r->state = RCV_ACTIVE;
			log_info("job %s: receiver %u running on %s", rt->name, r->id,
			         r->worker);
		} else {
			log_warn("job %s: receiver %u could not start on %s: %s",
			         rt->name, r->id, r->worker, err);
			sched_load(c->env->sched, r->worker)->receivers--;
			r->state = RCV_INACTIVE;
			r->retry_after_mono = clock_mono_ms() + 1000;
		}
	}
	pthread_mutex_unlock(c->env->lock);
	(void)reply;
	sl_free(c);
}

static worker_entry *place(const rtracker_env *env, const char *exclude)
{
	worker_entry *best = NULL;
	uint32_t best_n = UINT32_MAX;
	for (size_t i = 0; i < cluster_count(env->cl); i++) {
		worker_entry *w = cluster_at(env->cl, i);
		if (w->state != WORKER_ALIVE || w->client == NULL ||
		    (exclude && strcmp(w->id, exclude) == 0))
			continue;
		uint32_t n = sched_load(env->sched, w->id)->receivers;
		if (n < best_n) {
			best_n = n;
			best = w;
		}
	}
	return best;
}

/* After a master restart a receiver probably still runs on its last worker:
 * wait for that one to re-register (it answers StartReceiver with "already
 * running") rather than start a second copy elsewhere. */
static worker_entry *place_receiver(rtracker *rt, receiver *r)
{
	if (r->prefer[0] != '\0' && clock_mono_ms() < r->prefer_until_mono) {
		worker_entry *w = cluster_find(rt->env->cl, r->prefer);
		return w && w->state == WORKER_ALIVE && w->client ? w : NULL;
	}
	r->prefer[0] = '\0';
	if (rt->pin != NULL &&
	    rt->pin[0] != '\0') { /* a standalone job: its one worker */
		worker_entry *w = cluster_find(rt->env->cl, rt->pin);
		return w && w->state == WORKER_ALIVE && w->client ? w : NULL;
	}
	return place(rt->env, NULL);
}

static const Sluice__Node *graph_find(const Sluice__JobGraph *g, uint32_t id)
{
	for (size_t i = 0; i < g->n_nodes; i++)
		if (g->nodes[i]->id == id)
			return g->nodes[i];
	return NULL;
}

static void receiver_start(rtracker *rt, receiver *r)
{
	const rtracker_env *env = rt->env;
	worker_entry *w = place_receiver(rt, r);
	const Sluice__Node *n = graph_find(rt->graph, r->node);
	if (w == NULL || n == NULL)
		return;
	r->prefer[0] = '\0';
	bool replicate = strstr(rt->storage_level, "_2") != NULL;
	worker_entry *rep = replicate ? place(env, w->id) : NULL;
	Sluice__StartReceiver s = SLUICE__START_RECEIVER__INIT;
	s.job_id = rt->job_id;
	s.node = r->node;
	s.receiver_id = r->id;
	s.kind = n->kind;
	s.host = n->host;
	s.port = n->port;
	s.path = n->path;
	s.storage_level = rt->storage_level;
	s.block_interval_ms = rt->block_interval_ms;
	/* the receiver's share of the stream's rate, capped by maxRate */
	s.max_rate = (int64_t)ceil(env->receiver_rate(rt->owner, r->node));
	s.wal = rt->wal;
	s.replica_url = rep ? rep->rpc_url : "";
	s.replica_worker_id = rep ? rep->id : "";
	r->generation++;
	r->state = RCV_STARTING;
	snprintf(r->worker, sizeof(r->worker), "%s", w->id);
	sched_load(env->sched, w->id)->receivers++;
	rcv_ctx *c = sl_malloc(sizeof(*c));
	*c = (rcv_ctx){
	    .env = env, .job_id = rt->job_id, .rid = r->id, .generation = r->generation};
	if (replicate && rep == NULL)
		log_warn("job %s: receiver %u stores %s blocks without a replica: only "
		         "one worker is alive",
		         rt->name, r->id, rt->storage_level);
	if (rpc_call_async(w->client, MSG_START_RECEIVER, &s, start_done, c) != SL_OK) {
		sl_free(c);
		r->state = RCV_INACTIVE;
		sched_load(env->sched, w->id)->receivers--;
	}
}

void rtracker_restore(rtracker *rt, const ckpt_job *c, int64_t grace_ms)
{
	for (size_t i = 0; i < c->nreceivers; i++) {
		uint32_t id = c->receivers[i].receiver_id;
		if (id >= rt->nrcv || c->receivers[i].worker[0] == '\0')
			continue;
		snprintf(rt->rcv[id].prefer, sizeof(rt->rcv[id].prefer), "%s",
		         c->receivers[i].worker);
		rt->rcv[id].prefer_until_mono = clock_mono_ms() + grace_ms;
	}
}

rblock *rtracker_adopt(rtracker *rt, const ckpt_block *cb)
{
	rblock *b = sl_calloc(1, sizeof(*b));
	b->id = sl_strdup(cb->id);
	b->node = cb->node;
	b->records = cb->records;
	b->bytes = cb->bytes;
	b->created_ms = cb->created_ms;
	b->nholders = cb->nholders < HOLDERS_MAX ? cb->nholders : HOLDERS_MAX;
	for (int h = 0; h < b->nholders; h++) {
		snprintf(b->holder_id[h], sizeof(b->holder_id[h]), "%s",
		         cb->holder_id[h]);
		b->holder_url[h] = sl_strdup(cb->holder_url[h]);
	}
	b->wal = sl_strdup(cb->wal);
	if (cb->batch_ms == 0) {
		list_push(&rt->pending, &rt->npending, &rt->pending_cap, b);
	} else {
		b->refs = 1;
		list_push(&rt->held, &rt->nheld, &rt->held_cap, b);
	}
	return b;
}

void rtracker_snapshot_block(ckpt_job *c, const rblock *rb, int64_t batch_ms)
{
	ckpt_block *cb = ckpt_add_block(c);
	cb->id = sl_strdup(rb->id);
	cb->node = rb->node;
	cb->batch_ms = batch_ms;
	cb->records = rb->records;
	cb->bytes = rb->bytes;
	cb->created_ms = rb->created_ms;
	cb->nholders = rb->nholders;
	for (int h = 0; h < rb->nholders && h < CKPT_HOLDERS; h++) {
		cb->holder_id[h] = sl_strdup(rb->holder_id[h]);
		cb->holder_url[h] = sl_strdup(rb->holder_url[h]);
	}
	cb->wal = sl_strdup(rb->wal ? rb->wal : "");
}

void rtracker_snapshot(const rtracker *rt, ckpt_job *c)
{
	c->receivers = sl_calloc(rt->nrcv + 1, sizeof(*c->receivers));
	for (size_t i = 0; i < rt->nrcv; i++) {
		const receiver *r = &rt->rcv[i];
		if (r->state == RCV_INACTIVE)
			continue;
		ckpt_receiver *cr = &c->receivers[c->nreceivers++];
		cr->receiver_id = r->id;
		snprintf(cr->worker, sizeof(cr->worker), "%s", r->worker);
	}
	for (size_t i = 0; i < rt->npending; i++)
		rtracker_snapshot_block(c, rt->pending[i], 0);
}

void rtracker_rearm(rtracker *rt)
{
	for (size_t i = 0; i < rt->nrcv; i++)
		if (rt->rcv[i].state == RCV_INACTIVE)
			rt->rcv[i].retry_after_mono = 0;
}

void rtracker_tick(rtracker *rt)
{
	int64_t now = clock_mono_ms();
	for (size_t i = 0; i < rt->nrcv; i++)
		if (rt->rcv[i].state == RCV_INACTIVE &&
		    now >= rt->rcv[i].retry_after_mono)
			receiver_start(rt, &rt->rcv[i]);
}

/* The receiver has stopped, its last block reported (the worker answers
 * only after that): a graceful stop may finish once all have. */
static void stop_done(void *arg, int rv, const envelope *reply, const char *err)
{
	rcv_ctx *c = arg;
	pthread_mutex_lock(c->env->lock);
	rtracker *rt = c->env->find(c->env->arg, c->job_id);
	if (rt != NULL && rt->rcv_stopping > 0)
		rt->rcv_stopping--;
	pthread_mutex_unlock(c->env->lock);
	(void)rv;
	(void)reply;
	(void)err;
	sl_free(c);
}

void rtracker_stop(rtracker *rt)
{
	for (size_t i = 0; i < rt->nrcv; i++) {
		receiver *r = &rt->rcv[i];
		if (r->state == RCV_INACTIVE)
			continue;
		worker_entry *w = cluster_find(rt->env->cl, r->worker);
		if (w != NULL && w->client != NULL && w->state == WORKER_ALIVE) {
			Sluice__StopReceiver s = SLUICE__STOP_RECEIVER__INIT;
			s.job_id = rt->job_id;
			s.receiver_id = r->id;
			rcv_ctx *c = sl_malloc(sizeof(*c));
			*c = (rcv_ctx){.env = rt->env, .job_id = rt->job_id};
			if (rpc_call_async(w->client, MSG_STOP_RECEIVER, &s, stop_done,
			                   c) == SL_OK)
				rt->rcv_stopping++;
			else
				sl_free(c);
		}
		sched_load(rt->env->sched, r->worker)->receivers--;
		r->state = RCV_INACTIVE;
		r->generation++;
		r->retry_after_mono = INT64_MAX;
	}
}

int rtracker_check_add_block(const Sluice__AddBlock *a, rpc_reply *rep)
{
	if (a->block_id == NULL || a->block_id[0] == '\0' || strlen(a->block_id) > 200)
		return rpc_reply_error(rep, SL_EINVAL, "AddBlock: bad block id");
	if (a->n_worker_ids == 0 || a->n_worker_ids > HOLDERS_MAX ||
	    a->n_worker_ids != a->n_urls)
		return rpc_reply_error(rep, SL_EINVAL,
		                       "AddBlock %s: need 1..%d holders with URLs",
		                       a->block_id, HOLDERS_MAX);
	return SL_OK;
}

static bool list_has(rblock *const *v, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i]->id, id) == 0)
			return true;
	return false;
}

bool rtracker_add_block(rtracker *rt, const Sluice__AddBlock *a)
{
	/* a receiver retries a report whose reply it lost: count each once */
	if (list_has(rt->pending, rt->npending, a->block_id) ||
	    list_has(rt->held, rt->nheld, a->block_id))
		return false;
	rblock *b = sl_calloc(1, sizeof(*b));
	b->id = sl_strdup(a->block_id);
	b->node = a->node;
	b->records = a->records;
	b->bytes = a->bytes;
	b->created_ms = a->created_ms;
	/* the receiver's own worker (first holder) wrote the WAL */
	b->wal = a->wal_path && a->wal_path[0]
	             ? sl_asprintf("%s:%s", a->worker_ids[0], a->wal_path)
	             : sl_strdup("");
	b->nholders = (int)a->n_worker_ids;
	for (int h = 0; h < b->nholders; h++) {
		snprintf(b->holder_id[h], sizeof(b->holder_id[h]), "%s",
		         a->worker_ids[h]);
		b->holder_url[h] = sl_strdup(a->urls[h]);
	}
	list_push(&rt->pending, &rt->npending, &rt->pending_cap, b);
	return true;
}

void rtracker_allocate(rtracker *rt, rblock ***blocks, size_t *n)
{
	*blocks = sl_calloc(rt->npending + 1, sizeof(**blocks));
	*n = rt->npending;
	for (size_t i = 0; i < rt->npending; i++) {
		rblock *b = rt->pending[i];
		b->refs = 1;
		(*blocks)[i] = b;
		list_push(&rt->held, &rt->nheld, &rt->held_cap, b);
	}
	rt->npending = 0;
}

void rtracker_release(rtracker *rt, rblock **blocks, size_t n)
{
	rblock **gone = sl_calloc(n + 1, sizeof(*gone));
	size_t ngone = 0;
	for (size_t i = 0; i < n; i++)
		if (blocks[i]->refs > 0 && --blocks[i]->refs == 0)
			gone[ngone++] = blocks[i];
	if (ngone > 0)
		sched_remove_data(rt->env->sched, "", gone, ngone);
	size_t k = 0;
	for (size_t i = 0; i < rt->nheld; i++)
		if (rt->held[i]->refs > 0)
			rt->held[k++] = rt->held[i];
	rt->nheld = k;
	for (size_t i = 0; i < ngone; i++)
		rblock_free(gone[i]);
	sl_free(gone);
}

void rtracker_drop_pending(rtracker *rt)
{
	if (rt->npending == 0)
		return;
	sched_remove_data(rt->env->sched, "", rt->pending, rt->npending);
	for (size_t i = 0; i < rt->npending; i++)
		rblock_free(rt->pending[i]);
	rt->npending = 0;
}

static void strike_holder(rblock *b, const char *worker_id)
{
	for (int h = 0; h < b->nholders; h++) {
		if (strcmp(b->holder_id[h], worker_id) != 0)
			continue;
		sl_free(b->holder_url[h]);
		for (int k = h; k + 1 < b->nholders; k++) {
			memcpy(b->holder_id[k], b->holder_id[k + 1],
			       sizeof(b->holder_id[k]));
			b->holder_url[k] = b->holder_url[k + 1];
		}
		b->nholders--;
		b->holder_url[b->nholders] = NULL;
		char walw[32];
		if (b->nholders == 0 && rblock_wal_worker(b, walw))
			log_warn("block %s: no copy left in memory with worker %s gone; "
			         "waiting for %s to serve it from its WAL",
			         b->id, worker_id, walw);
		else if (b->nholders == 0)
			log_error("block %s lost with worker %s: it had no other copy",
			          b->id, worker_id);
		return;
	}
}

static void readd_holder(rblock *b, const worker_entry *w)
{
	char walw[32];
	if (!rblock_wal_worker(b, walw) || strcmp(walw, w->id) != 0 ||
	    b->nholders >= HOLDERS_MAX)
		return;
	for (int h = 0; h < b->nholders; h++)
		if (strcmp(b->holder_id[h], w->id) == 0)
			return;
	snprintf(b->holder_id[b->nholders], sizeof(b->holder_id[0]), "%s", w->id);
	b->holder_url[b->nholders++] = sl_strdup(w->rpc_url);
	log_info("block %s served again by %s from its WAL", b->id, w->id);
}

bool rtracker_worker_back(rtracker *rt, const worker_entry *w)
{
	for (size_t i = 0; i < rt->npending; i++)
		readd_holder(rt->pending[i], w);
	for (size_t i = 0; i < rt->nheld; i++)
		readd_holder(rt->held[i], w);
	return rt->npending + rt->nheld > 0;
}

bool rtracker_worker_lost(rtracker *rt, const char *worker_id)
{
	for (size_t i = 0; i < rt->npending; i++)
		strike_holder(rt->pending[i], worker_id);
	for (size_t i = 0; i < rt->nheld; i++)
		strike_holder(rt->held[i], worker_id);
	for (size_t i = 0; i < rt->nrcv; i++) {
		receiver *r = &rt->rcv[i];
		if (r->state == RCV_INACTIVE || strcmp(r->worker, worker_id) != 0)
			continue;
		log_warn("job %s: receiver %u lost with %s; restarting elsewhere",
		         rt->name, r->id, worker_id);
		r->state = RCV_INACTIVE;
		r->generation++;
		r->retry_after_mono = 0;
	}
	sched_load(rt->env->sched, worker_id)->receivers = 0;
	return rt->npending + rt->nheld > 0;
}
