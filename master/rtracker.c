/*
 * ReceiverTracker: one receiver per receiver-based input stream of a running
 * job, placed on the worker with the fewest receivers, with a replica worker
 * chosen for the _2 storage levels. A receiver whose worker is LOST is
 * started again elsewhere. Blocks the receivers report (MSG_ADD_BLOCK) wait
 * in the job's unallocated queue until the next batch takes them all
 * (ReceivedBlockTracker.allocateBlocksToBatch).
 *
 * When a worker is lost its copies are struck from every block; a block left
 * with no holder cannot be read and is reported (its batch will fail unless
 * the WAL has it).
 */
#include "alloc.h"
#include "api.h"
#include "clock.h"
#include "ratecontrol.h"
#include "engine_int.h"
#include "log.h"
#include "msgtypes.h"
#include "runconf.h"
#include "sluice/err.h"

#include <stdio.h>
#include <math.h>
#include <string.h>

void rblock_free(rblock *b)
{
	if (b == NULL)
		return;
	sl_free(b->id);
	sl_free(b->wal);
	for (int i = 0; i < HOLDERS_MAX; i++)
		sl_free(b->holder_url[i]);
	sl_free(b);
}

void rtracker_init(job *j)
{
	for (size_t i = 0; i < j->graph->n_nodes; i++) {
		const Sluice__Node *n = j->graph->nodes[i];
		if (n->kind != SLUICE__NODE_KIND__SRC_SOCKET)
			continue;
		j->rcv = sl_realloc(j->rcv, (j->nrcv + 1) * sizeof(*j->rcv));
		receiver *r = &j->rcv[j->nrcv];
		memset(r, 0, sizeof(*r));
		r->id = (uint32_t)j->nrcv;
		r->node = n->id;
		r->state = RCV_INACTIVE;
		j->nrcv++;
	}
}

typedef struct {
	struct engine *e;
	uint64_t job_id;
	uint32_t rid, generation;
} start_ctx;

static void start_done(void *arg, int rv, const envelope *reply, const char *err)
{
	start_ctx *c = arg;
	pthread_mutex_lock(&c->e->m->lock);
	job *j = jobs_find_id(c->e, c->job_id);
	receiver *r = j && c->rid < j->nrcv ? &j->rcv[c->rid] : NULL;
	if (r != NULL && r->generation == c->generation && r->state == RCV_STARTING) {
		if (rv == SL_OK) {
			r->state = RCV_ACTIVE;
			log_info("job %s: receiver %u running on %s", j->name, r->id,
			         r->worker);
		} else {
			log_warn("job %s: receiver %u could not start on %s: %s", j->name,
			         r->id, r->worker, err);
			sched_load(c->e, r->worker)->receivers--;
			r->state = RCV_INACTIVE;
			r->retry_after_mono = clock_mono_ms() + 1000;
		}
	}
	pthread_mutex_unlock(&c->e->m->lock);
	(void)reply;
	sl_free(c);
}

static worker_entry *place(struct engine *e, const char *exclude)
{
	cluster *cl = e->m->cl;
	worker_entry *best = NULL;
	uint32_t best_n = UINT32_MAX;
	for (size_t i = 0; i < cluster_count(cl); i++) {
		worker_entry *w = cluster_at(cl, i);
		if (w->state != WORKER_ALIVE || w->client == NULL ||
		    (exclude && strcmp(w->id, exclude) == 0))
			continue;
		uint32_t n = sched_load(e, w->id)->receivers;
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
static worker_entry *place_receiver(job *j, receiver *r)
{
	if (r->prefer[0] != '\0' && clock_mono_ms() < r->prefer_until_mono) {
		worker_entry *w = cluster_find(j->e->m->cl, r->prefer);
		return w && w->state == WORKER_ALIVE && w->client ? w : NULL;
	}
	r->prefer[0] = '\0';
	worker_entry *pin = runconf_worker(j); /* standalone */
	return pin ? pin : place(j->e, NULL);
}

static void receiver_start(job *j, receiver *r)
{
	struct engine *e = j->e;
	worker_entry *w = place_receiver(j, r);
	if (w == NULL)
		return;
	r->prefer[0] = '\0';
	const Sluice__Node *n = graph_node(j->graph, r->node);
	bool replicate = strstr(j->storage_level, "_2") != NULL;
	worker_entry *rep = replicate ? place(e, w->id) : NULL;
	Sluice__StartReceiver s = SLUICE__START_RECEIVER__INIT;
	s.job_id = j->id;
	s.node = r->node;
	s.receiver_id = r->id;
	s.kind = n->kind;
	s.host = n->host;
	s.port = n->port;
	s.path = n->path;
	s.storage_level = j->storage_level;
	s.block_interval_ms = j->block_interval_ms;
	/* the receiver's share of the stream's rate, capped by maxRate */
	s.max_rate = (int64_t)ceil(ratecontrol_receiver_rate(j, r->node));
	s.wal = j->wal;
	s.replica_url = rep ? rep->rpc_url : "";
	s.replica_worker_id = rep ? rep->id : "";
	r->generation++;
	r->state = RCV_STARTING;
	snprintf(r->worker, sizeof(r->worker), "%s", w->id);
	sched_load(e, w->id)->receivers++;
	start_ctx *c = sl_malloc(sizeof(*c));
	*c = (start_ctx){
	    .e = e, .job_id = j->id, .rid = r->id, .generation = r->generation};
	if (replicate && rep == NULL)
		log_warn("job %s: receiver %u stores %s blocks without a replica: only "
		         "one worker "
		         "is alive",
		         j->name, r->id, j->storage_level);
	if (rpc_call_async(w->client, MSG_START_RECEIVER, &s, start_done, c) != SL_OK) {
		sl_free(c);
		r->state = RCV_INACTIVE;
		sched_load(e, w->id)->receivers--;
	}
}

void rtracker_restore(job *j, const ckpt_job *c, int64_t grace_ms)
{
	for (size_t i = 0; i < c->nreceivers; i++) {
		uint32_t id = c->receivers[i].receiver_id;
		if (id >= j->nrcv || c->receivers[i].worker[0] == '\0')
			continue;
		snprintf(j->rcv[id].prefer, sizeof(j->rcv[id].prefer), "%s",
		         c->receivers[i].worker);
		j->rcv[id].prefer_until_mono = clock_mono_ms() + grace_ms;
	}
}

void rtracker_snapshot(job *j, ckpt_job *c)
{
	c->receivers = sl_calloc(j->nrcv + 1, sizeof(*c->receivers));
	for (size_t i = 0; i < j->nrcv; i++) {
		const receiver *r = &j->rcv[i];
		if (r->state == RCV_INACTIVE)
			continue;
		ckpt_receiver *cr = &c->receivers[c->nreceivers++];
		cr->receiver_id = r->id;
		snprintf(cr->worker, sizeof(cr->worker), "%s", r->worker);
	}
}

void rtracker_rearm(job *j)
{
	for (size_t i = 0; i < j->nrcv; i++)
		if (j->rcv[i].state == RCV_INACTIVE)
			j->rcv[i].retry_after_mono = 0;
}

void rtracker_tick(job *j)
{
	int64_t now = clock_mono_ms();
	for (size_t i = 0; i < j->nrcv; i++)
		if (j->rcv[i].state == RCV_INACTIVE && now >= j->rcv[i].retry_after_mono)
			receiver_start(j, &j->rcv[i]);
}

typedef struct {
	struct engine *e;
	uint64_t job_id;
} stop_ctx;

/* The receiver has stopped, its last block reported (the worker answers
 * only after that): a graceful stop may finish once all have. */
static void stop_done(void *arg, int rv, const envelope *reply, const char *err)
{
	stop_ctx *c = arg;
	pthread_mutex_lock(&c->e->m->lock);
	job *j = jobs_find_id(c->e, c->job_id);
	if (j != NULL && j->rcv_stopping > 0)
		j->rcv_stopping--;
	pthread_mutex_unlock(&c->e->m->lock);
	(void)rv;
	(void)reply;
	(void)err;
	sl_free(c);
}

void rtracker_stop(job *j)
{
	for (size_t i = 0; i < j->nrcv; i++) {
		receiver *r = &j->rcv[i];
		if (r->state == RCV_INACTIVE)
			continue;
		worker_entry *w = cluster_find(j->e->m->cl, r->worker);
		if (w != NULL && w->client != NULL && w->state == WORKER_ALIVE) {
			Sluice__StopReceiver s = SLUICE__STOP_RECEIVER__INIT;
			s.job_id = j->id;
			s.receiver_id = r->id;
			stop_ctx *c = sl_malloc(sizeof(*c));
			*c = (stop_ctx){.e = j->e, .job_id = j->id};
			if (rpc_call_async(w->client, MSG_STOP_RECEIVER, &s, stop_done,
			                   c) == SL_OK)
				j->rcv_stopping++;
			else
				sl_free(c);
		}
		sched_load(j->e, r->worker)->receivers--;
		r->state = RCV_INACTIVE;
		r->generation++;
		r->retry_after_mono = INT64_MAX;
	}
}

static int block_check(const Sluice__AddBlock *a, rpc_reply *rep)
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

/* A receiver retries a report whose reply it lost; count each block once. */
static bool block_known(const job *j, const char *id)
{
	for (size_t i = 0; i < j->npending; i++)
		if (strcmp(j->pending[i]->id, id) == 0)
			return true;
	for (size_t b = 0; b < j->nbatches; b++)
		for (size_t i = 0; i < j->batches[b]->nblocks; i++)
			if (strcmp(j->batches[b]->blocks[i]->id, id) == 0)
				return true;
	for (size_t b = 0; b < j->nretiring; b++)
		for (size_t i = 0; i < j->retiring[b]->nblocks; i++)
			if (strcmp(j->retiring[b]->blocks[i]->id, id) == 0)
				return true;
	return false;
}

int rtracker_handle_add_block(struct engine *e, const envelope *req, rpc_reply *rep)
{
	Sluice__AddBlock *a =
	    sluice__add_block__unpack(NULL, req->payload_len, req->payload);
	if (a == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed AddBlock");
	int rv = block_check(a, rep);
	job *j = rv == SL_OK ? jobs_find_id(e, a->job_id) : NULL;
	if (rv == SL_OK && j != NULL && block_known(j, a->block_id))
		j = NULL; /* a retried report of a block we have: already counted */
	if (rv == SL_OK && j != NULL && j->state == JOB_RUNNING) {
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
		if (j->npending == j->pending_cap) {
			j->pending_cap = j->pending_cap ? j->pending_cap * 2 : 64;
			j->pending =
			    sl_realloc(j->pending, j->pending_cap * sizeof(*j->pending));
		}
		j->pending[j->npending++] = b;
		ratecontrol_note_receiver(j, a->receiver_id, a->blocked_share, a->rate);
		/* durable at the next tick (engine_flush); the window is in
		 * docs/recovery.md */
		job_checkpoint(j);
	}
	sluice__add_block__free_unpacked(a, NULL);
	if (rv != SL_OK)
		return rv;
	Sluice__AddBlockReply out = SLUICE__ADD_BLOCK_REPLY__INIT;
	rpc_reply_set(rep, MSG_ADD_BLOCK_REPLY, &out);
	return SL_OK;
}

void rtracker_allocate(job *j, batch *b)
{
	b->blocks = j->pending;
	b->nblocks = j->npending;
	j->pending = NULL;
	j->npending = j->pending_cap = 0;
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

bool rblock_wal_worker(const rblock *b, char out[32])
{
	const char *colon = b->wal ? strchr(b->wal, ':') : NULL;
	if (colon == NULL || colon == b->wal || colon - b->wal >= 32)
		return false;
	memcpy(out, b->wal, (size_t)(colon - b->wal));
	out[colon - b->wal] = '\0';
	return true;
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

void rtracker_worker_back(job *j, const worker_entry *w)
{
	for (size_t i = 0; i < j->npending; i++)
		readd_holder(j->pending[i], w);
	for (size_t i = 0; i < j->nbatches; i++)
		for (size_t k = 0; k < j->batches[i]->nblocks; k++)
			readd_holder(j->batches[i]->blocks[k], w);
	job_checkpoint(j);
}

void rtracker_worker_lost(job *j, const char *worker_id)
{
	for (size_t i = 0; i < j->npending; i++)
		strike_holder(j->pending[i], worker_id);
	for (size_t i = 0; i < j->nbatches; i++)
		for (size_t k = 0; k < j->batches[i]->nblocks; k++)
			strike_holder(j->batches[i]->blocks[k], worker_id);
	job_checkpoint(j); /* holders changed */
	for (size_t i = 0; i < j->nrcv; i++) {
		receiver *r = &j->rcv[i];
		if (r->state == RCV_INACTIVE || strcmp(r->worker, worker_id) != 0)
			continue;
		log_warn("job %s: receiver %u lost with %s; restarting elsewhere",
		         j->name, r->id, worker_id);
		r->state = RCV_INACTIVE;
		r->generation++;
		r->retry_after_mono = 0;
	}
	sched_load(j->e, worker_id)->receivers = 0;
}
