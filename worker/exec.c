/*
 * The worker engine's executor and RPC handlers.
 *
 * A launched task is queued (the handler answers at once) and run by one of
 * the slot threads, which packs its TaskStatus and starts MSG_TASK_STATUS to
 * the master as an asynchronous call: the slot does not wait for the answer,
 * and the reports of tasks ending together travel at once instead of one
 * round trip after another (the master launches a stage's successor only
 * when the last of its tasks has reported, so each report's wait was on an
 * empty batch's critical path: docs/performance.md, "Where an empty batch's
 * time goes"). A report that fails goes to the reporter thread, which
 * retries it a few times with back-off (a lost report would leave the task
 * running forever in the master's eyes; the master ignores duplicates). So a
 * slot never waits on the master: the round trip, and any retry back-off, is
 * off the slot thread's path.
 * Block requests from peers (fetch, put for replication, remove) are served
 * directly from the block manager in the handler.
 */
#include "alloc.h"
#include "clock.h"
#include "log.h"
#include "msgtypes.h"
#include "sluice/err.h"
#include "wal.h"
#include "wengine.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

typedef struct qtask {
	Sluice__LaunchTask *lt;
	int64_t queued_mono;
	struct qtask *next;
} qtask;

/* A packed TaskStatus on its way to the master. */
typedef struct qreport {
	wengine *we;
	uint64_t task_id;
	uint8_t *buf;
	size_t len;
	struct qreport *next;
} qreport;

struct wengine {
	worker *w;
	blockmgr *bm;
	peer_pool *peers;
	receivers *rcv;
	kafka_io *kafka;
	pthread_t *threads;
	uint32_t nthreads;
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	qtask *head, *tail;
	uint32_t busy;
	uint64_t *inflight; /* ids of accepted tasks not yet reported (qlock) */
	size_t ninflight, inflight_cap;
	int stopping;
	/* reports sent by slots and not yet answered; the reporter thread
	 * retries those that failed (queued), in order */
	pthread_t reporter;
	pthread_mutex_t rlock;
	pthread_cond_t rcond;
	qreport *rhead, *rtail;
	uint32_t rsending;
	int rstopping;
	pthread_mutex_t jlock;
	wjob *jobs;
};

worker *wengine_worker(wengine *we)
{
	return we->w;
}

blockmgr *wengine_blocks(wengine *we)
{
	return we->bm;
}

receivers *wengine_receivers(wengine *we)
{
	return we->rcv;
}

peer_pool *wengine_peers(wengine *we)
{
	return we->peers;
}

kafka_io *wengine_kafka(wengine *we)
{
	return we->kafka;
}

wjob **wengine_jobs(wengine *we)
{
	return &we->jobs;
}

pthread_mutex_t *wengine_jobs_lock(wengine *we)
{
	return &we->jlock;
}

#define REPORT_TRIES 5

/* Retries a report whose first (asynchronous) try failed, with back-off;
 * runs on the reporter thread. */
static void report_retry(wengine *we, const qreport *r)
{
	char err[512];
	envelope rep;
	for (int i = 1; i < REPORT_TRIES; i++) {
		clock_sleep_ms(200 << (i - 1));
		if (rpc_call(we->w->master, MSG_TASK_STATUS, r->buf, r->len, &rep, err,
		             sizeof(err)) == SL_OK) {
			envelope_release(&rep);
			return;
		}
		log_warn("task %llu: status report failed (try %d): %s",
		         (unsigned long long)r->task_id, i + 1, err);
	}
}

/* Reporter thread: sends queued reports until stopped and drained. */
static void *reporter_main(void *arg)
{
	wengine *we = arg;
	pthread_mutex_lock(&we->rlock);
	for (;;) {
		qreport *r = we->rhead;
		if (r == NULL) {
			if (we->rstopping)
				break;
			pthread_cond_wait(&we->rcond, &we->rlock);
			continue;
		}
		we->rhead = r->next;
		if (we->rhead == NULL)
			we->rtail = NULL;
		pthread_mutex_unlock(&we->rlock);
		report_retry(we, r);
		sl_free(r->buf);
		sl_free(r);
		pthread_mutex_lock(&we->rlock);
	}
	pthread_mutex_unlock(&we->rlock);
	return NULL;
}

/* End of a report's first try, on an nng thread: a failed report is queued
 * for the reporter's retries. Wakes wengine_free, which waits for the
 * reports in flight. */
static void report_done(void *arg, int rv, const envelope *reply, const char *err)
{
	qreport *r = arg;
	wengine *we = r->we;
	(void)reply;
	if (rv != SL_OK)
		log_warn("task %llu: status report failed (try 1): %s",
		         (unsigned long long)r->task_id, err);
	pthread_mutex_lock(&we->rlock);
	if (rv != SL_OK) {
		if (we->rtail)
			we->rtail->next = r;
		else
			we->rhead = r;
		we->rtail = r;
	}
	we->rsending--;
	pthread_cond_broadcast(&we->rcond);
	pthread_mutex_unlock(&we->rlock);
	if (rv == SL_OK) {
		sl_free(r->buf);
		sl_free(r);
	}
}

/* Packs st and sends it without waiting for the answer; st stays the
 * caller's. */
static void report(wengine *we, const Sluice__TaskStatus *st)
{
	qreport *r = sl_calloc(1, sizeof(*r));
	r->we = we;
	r->task_id = st->task_id;
	r->len = sluice__task_status__get_packed_size(st);
	r->buf = sl_malloc(r->len ? r->len : 1);
	sluice__task_status__pack(st, r->buf);
	pthread_mutex_lock(&we->rlock);
	we->rsending++;
	pthread_mutex_unlock(&we->rlock);
	if (rpc_call_async_bytes(we->w->master, MSG_TASK_STATUS, r->buf, r->len,
	                         report_done, r) != SL_OK)
		report_done(r, SL_ETRANSPORT, NULL, "cannot start the call");
}

static void run_one(wengine *we, qtask *q)
{
	const Sluice__TaskSpec *ts = q->lt->task;
	Sluice__TaskStatus st = SLUICE__TASK_STATUS__INIT;
	char err[512];
	wjob *j = NULL;
	int64_t t0 = clock_mono_ms();
	st.task_id = ts->task_id;
	st.attempt = ts->attempt;
	st.worker_id = we->w->id;
	st.queue_ms = (uint64_t)(t0 - q->queued_mono);
	if (jobcache_get(we, ts->job_id, ts->library_hash, &j, err, sizeof(err)) !=
	    SL_OK) {
		st.state = SLUICE__TASK_STATUS__STATE__FAILED;
		st.error = err;
		report(we, &st);
		return;
	}
	ops_run_task(we, j, ts, &st);
	st.run_ms = clock_mono_ms() - t0;
	report(we, &st);
	ops_status_free(&st);
}

/* In-flight ids (under qlock): added when a launch is accepted, removed once
 * its end was reported, so a heartbeat never omits a task the master may
 * still think is running (wengine_tasks). */
static void inflight_add(wengine *we, uint64_t id)
{
	if (we->ninflight == we->inflight_cap) {
		we->inflight_cap = we->inflight_cap ? we->inflight_cap * 2 : 16;
		we->inflight =
		    sl_realloc(we->inflight, we->inflight_cap * sizeof(*we->inflight));
	}
	we->inflight[we->ninflight++] = id;
}

static void inflight_remove(wengine *we, uint64_t id)
{
	for (size_t i = 0; i < we->ninflight; i++)
		if (we->inflight[i] == id) {
			we->inflight[i] = we->inflight[--we->ninflight];
			return;
		}
}

size_t wengine_tasks(wengine *we, uint64_t **ids)
{
	pthread_mutex_lock(&we->qlock);
	size_t n = we->ninflight;
	*ids = sl_calloc(n + 1, sizeof(uint64_t));
	if (n > 0) /* inflight is NULL before the first task */
		memcpy(*ids, we->inflight, n * sizeof(uint64_t));
	pthread_mutex_unlock(&we->qlock);
	return n;
}

static void *slot_main(void *arg)
{
	wengine *we = arg;
	pthread_mutex_lock(&we->qlock);
	while (!we->stopping) {
		qtask *q = we->head;
		if (q == NULL) {
			pthread_cond_wait(&we->qcond, &we->qlock);
			continue;
		}
		we->head = q->next;
		if (we->head == NULL)
			we->tail = NULL;
		we->busy++;
		pthread_mutex_unlock(&we->qlock);
		run_one(we, q);
		pthread_mutex_lock(&we->qlock);
		inflight_remove(we, q->lt->task->task_id);
		pthread_mutex_unlock(&we->qlock);
		sluice__launch_task__free_unpacked(q->lt, NULL);
		sl_free(q);
		pthread_mutex_lock(&we->qlock);
		we->busy--;
	}
	pthread_mutex_unlock(&we->qlock);
	return NULL;
}

/* sluice.worker.diskBudget, or half the free space of the work directory's
 * file system when it is 0. */
static uint64_t disk_budget(const worker *w)
{
	uint64_t b = (uint64_t)conf_get_bytes(w->conf, "sluice.worker.diskBudget");
	struct statvfs vfs;
	if (b == 0 && statvfs(w->dir, &vfs) == 0)
		b = (uint64_t)vfs.f_bavail * vfs.f_frsize / 2;
	log_info("disk budget for blocks: %llu MiB", (unsigned long long)(b >> 20));
	return b;
}

int wengine_new(worker *w, wengine **out, char *err, size_t errlen)
{
	wengine *we = sl_calloc(1, sizeof(*we));
	we->w = w;
	pthread_mutex_init(&we->qlock, NULL);
	pthread_cond_init(&we->qcond, NULL);
	pthread_mutex_init(&we->jlock, NULL);
	pthread_mutex_init(&we->rlock, NULL);
	pthread_cond_init(&we->rcond, NULL);
	double frac = conf_get_double(w->conf, "spark.memory.fraction") *
	              conf_get_double(w->conf, "spark.memory.storageFraction");
	uint64_t budget = (uint64_t)((double)w->memory * frac);
	int rv = blockmgr_new(&we->bm, w->dir, budget, err, errlen);
	if (rv != SL_OK) {
		sl_free(we);
		return rv;
	}
	blockmgr_set_disk_budget(we->bm, disk_budget(w));
	we->peers = peers_new(&w->rpc);
	we->kafka = kafka_io_new();
	receiver_env env = {
	    .bm = we->bm,
	    .master = w->master,
	    .peers = we->peers,
	    .worker_id = w->id,
	    .worker_url = w->url,
	    .dir = w->dir,
	};
	receivers_new(&we->rcv, &env);
	pthread_create(&we->reporter, NULL, reporter_main, we);
	we->nthreads = w->slots;
	we->threads = sl_calloc(w->slots, sizeof(pthread_t));
	for (uint32_t i = 0; i < w->slots; i++)
		pthread_create(&we->threads[i], NULL, slot_main, we);
	log_info("engine: %u slots, storage budget %llu MiB", w->slots,
	         (unsigned long long)(budget >> 20));
	*out = we;
	return SL_OK;
}

void wengine_free(wengine *we)
{
	if (we == NULL)
		return;
	receivers_free(we->rcv);
	pthread_mutex_lock(&we->qlock);
	we->stopping = 1;
	pthread_cond_broadcast(&we->qcond);
	pthread_mutex_unlock(&we->qlock);
	for (uint32_t i = 0; i < we->nthreads; i++)
		pthread_join(we->threads[i], NULL);
	/* the slots' last reports are answered (or time out and are retried)
	 * before the reporter ends */
	pthread_mutex_lock(&we->rlock);
	while (we->rsending > 0)
		pthread_cond_wait(&we->rcond, &we->rlock);
	we->rstopping = 1;
	pthread_cond_broadcast(&we->rcond);
	pthread_mutex_unlock(&we->rlock);
	pthread_join(we->reporter, NULL);
	pthread_cond_destroy(&we->rcond);
	pthread_mutex_destroy(&we->rlock);
	while (we->head != NULL) {
		qtask *q = we->head;
		we->head = q->next;
		sluice__launch_task__free_unpacked(q->lt, NULL);
		sl_free(q);
	}
	jobcache_free(we);
	sl_free(we->inflight);
	kafka_io_free(we->kafka);
	peers_free(we->peers);
	blockmgr_free(we->bm);
	sl_free(we->threads);
	sl_free(we);
}

void wengine_stats(wengine *we, uint32_t *slots_busy, uint64_t *mem_used,
                   uint32_t *blocks)
{
	blockmgr_stats st;
	blockmgr_get_stats(we->bm, &st);
	pthread_mutex_lock(&we->qlock);
	*slots_busy = we->busy;
	pthread_mutex_unlock(&we->qlock);
	*mem_used = st.mem_bytes;
	*blocks = st.mem_blocks + st.disk_blocks;
}

static int task_check(const Sluice__LaunchTask *lt, rpc_reply *rep)
{
	const Sluice__TaskSpec *t = lt->task;
	if (t == NULL || t->input == NULL || t->output == NULL ||
	    t->library_hash == NULL || strlen(t->library_hash) != 64)
		return rpc_reply_error(rep, SL_EPROTO, "LaunchTask: incomplete task");
	if (t->output->kind == SLUICE__TASK_OUTPUT__KIND__SHUFFLE &&
	    (t->output->num_reducers == 0 || t->output->num_reducers > 100000))
		return rpc_reply_error(rep, SL_EINVAL, "LaunchTask: bad reducer count %u",
		                       t->output->num_reducers);
	return SL_OK;
}

static int handle_launch(wengine *we, const envelope *req, rpc_reply *rep)
{
	Sluice__LaunchTask *lt =
	    sluice__launch_task__unpack(NULL, req->payload_len, req->payload);
	if (lt == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed LaunchTask");
	int rv = task_check(lt, rep);
	if (rv != SL_OK) {
		sluice__launch_task__free_unpacked(lt, NULL);
		return rv;
	}
	qtask *q = sl_calloc(1, sizeof(*q));
	q->lt = lt;
	q->queued_mono = clock_mono_ms();
	pthread_mutex_lock(&we->qlock);
	inflight_add(we, lt->task->task_id);
	if (we->tail)
		we->tail->next = q;
	else
		we->head = q;
	we->tail = q;
	pthread_mutex_unlock(&we->qlock);
	/* after unlocking: the slot it wakes does not then wait for our lock */
	pthread_cond_signal(&we->qcond);
	Sluice__LaunchTaskReply out = SLUICE__LAUNCH_TASK_REPLY__INIT;
	out.accepted = true;
	rpc_reply_set(rep, MSG_LAUNCH_TASK_REPLY, &out);
	return SL_OK;
}

static int handle_fetch(wengine *we, const envelope *req, rpc_reply *rep)
{
	Sluice__FetchBlock *f =
	    sluice__fetch_block__unpack(NULL, req->payload_len, req->payload);
	if (f == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed FetchBlock");
	Sluice__FetchBlockReply out = SLUICE__FETCH_BLOCK_REPLY__INIT;
	uint8_t *data = NULL;
	size_t len = 0;
	out.found = blockmgr_get_encoded(we->bm, f->block_id, &data, &len) == SL_OK;
	out.data.data = data;
	out.data.len = len;
	rpc_reply_set(rep, MSG_FETCH_BLOCK_REPLY, &out);
	sl_free(data);
	sluice__fetch_block__free_unpacked(f, NULL);
	return SL_OK;
}

static int handle_put(wengine *we, const envelope *req, rpc_reply *rep)
{
	Sluice__PutBlock *p =
	    sluice__put_block__unpack(NULL, req->payload_len, req->payload);
	if (p == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed PutBlock");
	int rv =
	    blockmgr_put_encoded(we->bm, p->block_id, p->data.data, p->data.len,
	                         p->disk ? BLOCK_MEMORY_AND_DISK : BLOCK_MEMORY_ONLY);
	if (rv == SL_EEXIST)
		rv = SL_OK;
	if (rv != SL_OK)
		rpc_reply_error(rep, rv, "cannot store replica %s: %s", p->block_id,
		                sl_strerror(rv));
	sluice__put_block__free_unpacked(p, NULL);
	if (rv == SL_OK) {
		Sluice__PutBlockReply out = SLUICE__PUT_BLOCK_REPLY__INIT;
		rpc_reply_set(rep, MSG_PUT_BLOCK_REPLY, &out);
	}
	return rv;
}

static int handle_remove(wengine *we, const envelope *req, rpc_reply *rep)
{
	Sluice__RemoveBlocks *r =
	    sluice__remove_blocks__unpack(NULL, req->payload_len, req->payload);
	if (r == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed RemoveBlocks");
	uint32_t n = 0;
	for (size_t i = 0; i < r->n_block_ids; i++) {
		n += blockmgr_remove(we->bm, r->block_ids[i]) == SL_OK;
		wal_remove(we->w->dir, r->block_ids[i]); /* its batches are done */
	}
	if (r->prefix && r->prefix[0])
		n += blockmgr_remove_prefix(we->bm, r->prefix);
	sluice__remove_blocks__free_unpacked(r, NULL);
	Sluice__RemoveBlocksReply out = SLUICE__REMOVE_BLOCKS_REPLY__INIT;
	out.removed = n;
	rpc_reply_set(rep, MSG_REMOVE_BLOCKS_REPLY, &out);
	return SL_OK;
}

static int handle_receiver(wengine *we, const envelope *req, rpc_reply *rep, bool start)
{
	char err[512] = "";
	int rv;
	if (start) {
		Sluice__StartReceiver *s =
		    sluice__start_receiver__unpack(NULL, req->payload_len, req->payload);
		if (s == NULL)
			return rpc_reply_error(rep, SL_EPROTO, "malformed StartReceiver");
		rv = receivers_start(we->rcv, s, err, sizeof(err));
		if (rv == SL_EEXIST)
			rv = SL_OK;
		sluice__start_receiver__free_unpacked(s, NULL);
		if (rv != SL_OK)
			return rpc_reply_error(rep, rv, "%s", err);
		Sluice__StartReceiverReply out = SLUICE__START_RECEIVER_REPLY__INIT;
		out.started = true;
		rpc_reply_set(rep, MSG_START_RECEIVER_REPLY, &out);
		return SL_OK;
	}
	Sluice__StopReceiver *s =
	    sluice__stop_receiver__unpack(NULL, req->payload_len, req->payload);
	if (s == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed StopReceiver");
	receivers_stop(we->rcv, s->job_id, s->receiver_id);
	sluice__stop_receiver__free_unpacked(s, NULL);
	Sluice__StopReceiverReply out = SLUICE__STOP_RECEIVER_REPLY__INIT;
	rpc_reply_set(rep, MSG_STOP_RECEIVER_REPLY, &out);
	return SL_OK;
}

/* A stopped job: nothing of it stays on this worker but its state (kept
 * for a start), and that too with d->state. */
static int handle_drop_job(wengine *we, const envelope *req, rpc_reply *rep)
{
	Sluice__DropJob *d =
	    sluice__drop_job__unpack(NULL, req->payload_len, req->payload);
	if (d == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed DropJob");
	char prefix[48];
	receivers_stop_job(we->rcv, d->job_id);
	snprintf(prefix, sizeof(prefix), "rcv-%llu-", (unsigned long long)d->job_id);
	uint32_t n = blockmgr_remove_prefix(we->bm, prefix);
	snprintf(prefix, sizeof(prefix), "shf-%llu-", (unsigned long long)d->job_id);
	n += blockmgr_remove_prefix(we->bm, prefix);
	if (d->state) {
		snprintf(prefix, sizeof(prefix), "stb-%llu-",
		         (unsigned long long)d->job_id);
		n += blockmgr_remove_prefix(we->bm, prefix); /* copies (stateops.h) */
		n += (uint32_t)jobcache_drop_state(we, d->job_id);
	}
	uint32_t wal = wal_remove_job(we->w->dir, d->job_id);
	log_info("job %llu dropped: %u blocks, buckets%s, %u WAL segments deleted",
	         (unsigned long long)d->job_id, n, d->state ? ", state" : "", wal);
	sluice__drop_job__free_unpacked(d, NULL);
	Sluice__DropJobReply out = SLUICE__DROP_JOB_REPLY__INIT;
	out.removed = n;
	rpc_reply_set(rep, MSG_DROP_JOB_REPLY, &out);
	return SL_OK;
}

static int handle_set_rate(wengine *we, const envelope *req, rpc_reply *rep)
{
	Sluice__SetRate *s =
	    sluice__set_rate__unpack(NULL, req->payload_len, req->payload);
	if (s == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed SetRate");
	if (!isfinite(s->rate) || s->rate < 0) {
		sluice__set_rate__free_unpacked(s, NULL);
		return rpc_reply_error(rep, SL_EINVAL, "SetRate: rate must be >= 0");
	}
	Sluice__SetRateReply out = SLUICE__SET_RATE_REPLY__INIT;
	out.found =
	    receivers_set_rate(we->rcv, s->job_id, s->receiver_id, s->rate) == SL_OK;
	sluice__set_rate__free_unpacked(s, NULL);
	rpc_reply_set(rep, MSG_SET_RATE_REPLY, &out);
	return SL_OK;
}

int wengine_handle(wengine *we, const envelope *req, rpc_reply *rep)
{
	switch (req->type) {
	case MSG_LAUNCH_TASK:
		return handle_launch(we, req, rep);
	case MSG_FETCH_BLOCK:
		return handle_fetch(we, req, rep);
	case MSG_PUT_BLOCK:
		return handle_put(we, req, rep);
	case MSG_REMOVE_BLOCKS:
		return handle_remove(we, req, rep);
	case MSG_START_RECEIVER:
		return handle_receiver(we, req, rep, true);
	case MSG_STOP_RECEIVER:
		return handle_receiver(we, req, rep, false);
	case MSG_SET_RATE:
		return handle_set_rate(we, req, rep);
	case MSG_DROP_JOB:
		return handle_drop_job(we, req, rep);
	default:
		return SL_EUNKNOWN_TYPE;
	}
}
