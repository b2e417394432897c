/*
 * Task scheduler: places runnable tasks on free slots and follows them to
 * the end (contract in tasksched.h). It owns the worker load table and the
 * list of registered stages; every report of a task is matched on (task
 * id, attempt, sender), so late replies of an earlier attempt are ignored.
 */
#include "tasksched.h"
#include "alloc.h"
#include "clock.h"
#include "log.h"
#include "msgtypes.h"
#include "sluice/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A call packed under the master's lock, sent by the sender thread. */
typedef struct {
	rpc_client *client; /* held (rpc_client_hold) */
	uint32_t type;
	uint8_t *buf;
	size_t len;
	rpc_done_fn fn;
	void *arg;
	bool launch; /* a failed send fails the task (arg is its launch_ctx) */
} outcall;

struct sched {
	cluster *cl;
	pthread_mutex_t *lock;
	sched_ops ops;
	uint64_t next_task_id;
	wload *load;
	size_t nload;
	stage **stages; /* registered, oldest first */
	size_t nstages, cap;
	/* the outbox: its own mutex, taken inside the master's lock or alone */
	pthread_mutex_t omu;
	pthread_cond_t ocv;
	outcall *out;
	size_t nout, outcap;
	bool ostop;
	pthread_t sender;
};

static void *sender_main(void *arg);

sched *sched_new(cluster *cl, pthread_mutex_t *lock, const sched_ops *ops,
                 uint64_t first_task_id)
{
	sched *s = sl_calloc(1, sizeof(*s));
	s->cl = cl;
	s->lock = lock;
	s->ops = *ops;
	s->next_task_id = first_task_id;
	pthread_mutex_init(&s->omu, NULL);
	pthread_cond_init(&s->ocv, NULL);
	if (pthread_create(&s->sender, NULL, sender_main, s) != 0) {
		pthread_cond_destroy(&s->ocv);
		pthread_mutex_destroy(&s->omu);
		sl_free(s);
		return NULL;
	}
	return s;
}

static void outcall_drop(outcall *c)
{
	rpc_client_release(c->client);
	sl_free(c->buf);
	if (c->launch)
		sl_free(c->arg);
}

void sched_stop(sched *s)
{
	pthread_mutex_lock(&s->omu);
	bool running = !s->ostop;
	s->ostop = true;
	pthread_cond_signal(&s->ocv);
	pthread_mutex_unlock(&s->omu);
	if (running)
		pthread_join(s->sender, NULL);
}

void sched_free(sched *s)
{
	if (s == NULL)
		return;
	sched_stop(s);
	for (size_t i = 0; i < s->nout; i++)
		outcall_drop(&s->out[i]);
	sl_free(s->out);
	pthread_cond_destroy(&s->ocv);
	pthread_mutex_destroy(&s->omu);
	sl_free(s->load);
	sl_free(s->stages);
	sl_free(s);
}

wload *sched_load(sched *s, const char *worker_id)
{
	for (size_t i = 0; i < s->nload; i++)
		if (strcmp(s->load[i].id, worker_id) == 0)
			return &s->load[i];
	s->load = sl_realloc(s->load, (s->nload + 1) * sizeof(*s->load));
	wload *l = &s->load[s->nload++];
	memset(l, 0, sizeof(*l));
	snprintf(l->id, sizeof(l->id), "%s", worker_id);
	return l;
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

void sched_add_stage(sched *s, stage *st)
{
	for (size_t i = 0; i < st->ntasks; i++)
		st->tasks[i]->id = s->next_task_id++;
	st->registered = true;
	if (s->nstages == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->stages = sl_realloc(s->stages, s->cap * sizeof(*s->stages));
	}
	s->stages[s->nstages++] = st;
}

static void task_release(sched *s, mtask *t)
{
	if (t->state != TASK_LAUNCHING && t->state != TASK_RUNNING)
		return;
	wload *l = sched_load(s, t->worker);
	if (l->running > 0)
		l->running--;
}

void sched_remove_stage(sched *s, stage *st)
{
	for (size_t i = 0; i < s->nstages; i++) {
		if (s->stages[i] != st)
			continue;
		memmove(&s->stages[i], &s->stages[i + 1],
		        (s->nstages - i - 1) * sizeof(*s->stages));
		s->nstages--;
		st->registered = false;
		for (size_t k = 0; k < st->ntasks; k++) {
			mtask *t = st->tasks[k];
			if (t->state != TASK_LAUNCHING && t->state != TASK_RUNNING)
				continue;
			/* abandoned: runs again if the stage is registered again */
			task_release(s, t);
			t->state = TASK_PENDING;
			t->attempt++;
		}
		return;
	}
}

static bool stage_ready(const stage *st)
{
	for (size_t i = 0; i < st->nparents; i++)
		if (st->parents[i]->done < st->parents[i]->ntasks)
			return false;
	return true;
}

static uint32_t free_slots(sched *s, worker_entry *w)
{
	if (w->state != WORKER_ALIVE || w->client == NULL)
		return 0;
	wload *l = sched_load(s, w->id);
	return l->running < w->slots ? w->slots - l->running : 0;
}

/* A holder of its block, or the worker its input prefers, if free. */
static worker_entry *local_worker(sched *s, const mtask *t)
{
	if (t->in.kind == TIN_BLOCK) {
		for (int h = 0; h < t->in.block->nholders; h++) {
			worker_entry *w = cluster_find(s->cl, t->in.block->holder_id[h]);
			if (w && strcmp(w->id, t->avoid) != 0 && free_slots(s, w) > 0)
				return w;
		}
	}
	if (t->in.prefer[0] != '\0') {
		worker_entry *w = cluster_find(s->cl, t->in.prefer);
		if (w && free_slots(s, w) > 0 && strcmp(w->id, t->avoid) != 0)
			return w;
	}
	return NULL;
}

static worker_entry *pick_worker(sched *s, const mtask *t, bool *pinned)
{
	task_pinning pin;
	*pinned = s->ops.task_pin != NULL && s->ops.task_pin(t->stage, t, &pin);
	if (*pinned) { /* e.g. a state partition: where its state lives */
		worker_entry *w = pin.worker[0] ? cluster_find(s->cl, pin.worker) : NULL;
		return w != NULL && free_slots(s, w) > 0 ? w : NULL;
	}
	if (t->stage->pin != NULL && t->stage->pin[0] != '\0') { /* standalone job */
		worker_entry *w = cluster_find(s->cl, t->stage->pin);
		return w != NULL && w->state == WORKER_ALIVE && free_slots(s, w) > 0
		           ? w
		           : NULL;
	}
	worker_entry *best = local_worker(s, t), *avoided = NULL;
	if (best != NULL)
		return best;
	double best_load = 2.0;
	for (size_t i = 0; i < cluster_count(s->cl); i++) {
		worker_entry *w = cluster_at(s->cl, i);
		if (free_slots(s, w) == 0)
			continue;
		if (strcmp(w->id, t->avoid) == 0) {
			avoided = w;
			continue;
		}
		double load = (double)sched_load(s, w->id)->running / w->slots;
		if (load < best_load) {
			best_load = load;
			best = w;
		}
	}
	if (best == NULL && avoided != NULL) {
		/* Only the worker it failed on has room: use it unless others exist. */
		size_t alive = 0;
		for (size_t i = 0; i < cluster_count(s->cl); i++)
			alive += cluster_at(s->cl, i)->state == WORKER_ALIVE;
		if (alive <= 1)
			best = avoided;
	}
	return best;
}

/* Task ids are consecutive within a stage, so a stage is one range check. */
static mtask *task_find(sched *s, uint64_t id)
{
	for (size_t i = 0; i < s->nstages; i++) {
		stage *st = s->stages[i];
		if (st->ntasks == 0 || id < st->tasks[0]->id ||
		    id > st->tasks[st->ntasks - 1]->id)
			continue;
		return st->tasks[id - st->tasks[0]->id];
	}
	return NULL;
}

static void task_requeue(sched *s, mtask *t)
{
	task_release(s, t);
	t->state = TASK_PENDING;
	t->attempt++;
}

static void task_failed(sched *s, mtask *t, const char *error)
{
	stage *st = t->stage;
	task_requeue(s, t);
	t->failures++;
	st->failures++;
	snprintf(t->avoid, sizeof(t->avoid), "%s", t->worker);
	log_warn(
	    "job %s batch %lld: task %u of stage %u failed on %s (failure %u of %u): %s",
	    st->name, (long long)st->batch_ms, t->index, st->id, t->worker, t->failures,
	    st->max_failures, error);
	if (t->failures >= st->max_failures) {
		char why[700];
		snprintf(why, sizeof(why),
		         "task %u of stage %u failed %u times; last error: %s", t->index,
		         st->id, t->failures, error);
		s->ops.stage_failed(st, why);
	}
}

typedef struct {
	sched *s;
	uint64_t task_id;
	uint32_t attempt;
} launch_ctx;

static void launch_done(void *arg, int rv, const envelope *reply, const char *err)
{
	launch_ctx *c = arg;
	pthread_mutex_lock(c->s->lock);
	mtask *t = task_find(c->s, c->task_id);
	if (t != NULL && t->attempt == c->attempt && t->state == TASK_LAUNCHING) {
		if (rv == SL_OK) {
			t->state = TASK_RUNNING;
			t->running_mono = clock_mono_ms();
		} else
			task_failed(c->s, t, err);
	}
	pthread_mutex_unlock(c->s->lock);
	(void)reply;
	sl_free(c);
}

/* Queues a call to w (under the master's lock): packing is all it costs
 * there; nng writes to the socket on the sending thread, so the send itself
 * happens on the sender thread, without the lock. */
static void outbox_push(sched *s, worker_entry *w, uint32_t type, const void *pb_msg,
                        rpc_done_fn fn, void *arg, bool launch)
{
	size_t len = protobuf_c_message_get_packed_size(pb_msg);
	outcall c = {.client = rpc_client_hold(w->client),
	             .type = type,
	             .buf = sl_malloc(len > 0 ? len : 1),
	             .len = len,
	             .fn = fn,
	             .arg = arg,
	             .launch = launch};
	protobuf_c_message_pack(pb_msg, c.buf);
	pthread_mutex_lock(&s->omu);
	if (s->nout == s->outcap) {
		s->outcap = s->outcap ? 2 * s->outcap : 16;
		s->out = sl_realloc(s->out, s->outcap * sizeof(*s->out));
	}
	s->out[s->nout++] = c;
	pthread_cond_signal(&s->ocv);
	pthread_mutex_unlock(&s->omu);
}

/* Sends one queued call; a launch that cannot be sent fails its task as an
 * unanswered one does (launch_done re-takes the master's lock). */
static void outcall_send(outcall *c)
{
	if (rpc_call_async_bytes(c->client, c->type, c->buf, c->len, c->fn, c->arg) !=
	    SL_OK) {
		if (c->launch)
			launch_done(c->arg, SL_ETRANSPORT, NULL,
			            "cannot send the task to the worker");
		else
			c->fn(c->arg, SL_ETRANSPORT, NULL, "cannot send");
	}
	rpc_client_release(c->client);
	sl_free(c->buf);
}

/* The sender thread: drains the outbox in order, never holding the master's
 * lock while it writes to a socket. */
static void *sender_main(void *arg)
{
	sched *s = arg;
	outcall *batch = NULL;
	size_t cap = 0;
	pthread_mutex_lock(&s->omu);
	for (;;) {
		while (s->nout == 0 && !s->ostop)
			pthread_cond_wait(&s->ocv, &s->omu);
		if (s->ostop)
			break;
		/* swap buffers: pushes go on while this batch is sent */
		outcall *full = s->out;
		size_t n = s->nout, fullcap = s->outcap;
		s->out = batch;
		s->outcap = cap;
		s->nout = 0;
		batch = full;
		cap = fullcap;
		pthread_mutex_unlock(&s->omu);
		for (size_t i = 0; i < n; i++)
			outcall_send(&batch[i]);
		pthread_mutex_lock(&s->omu);
	}
	pthread_mutex_unlock(&s->omu);
	sl_free(batch);
	return NULL;
}

typedef struct {
	Sluice__TaskSpec ts;
	Sluice__TaskInput in;
	Sluice__TaskOutput out;
	Sluice__BlockRef br, *brp;
	char *wids[HOLDERS_MAX], *urls[HOLDERS_MAX];
	Sluice__ShuffleSource *src, **srcp, *rsrc, **rsrcp;
	char *file;
	task_pinning pin; /* a state task's replica */
} spec_buf;

static void spec_block(const rblock *b, spec_buf *sb)
{
	Sluice__TaskInput *in = &sb->in;
	in->kind = SLUICE__TASK_INPUT__KIND__BLOCKS;
	sluice__block_ref__init(&sb->br);
	sb->br.block_id = b->id;
	for (int h = 0; h < b->nholders; h++) {
		sb->wids[h] = (char *)b->holder_id[h];
		sb->urls[h] = b->holder_url[h];
	}
	sb->br.n_worker_ids = sb->br.n_urls = (size_t)b->nholders;
	sb->br.worker_ids = sb->wids;
	sb->br.urls = sb->urls;
	sb->br.records = b->records;
	sb->brp = &sb->br;
	in->blocks = &sb->brp;
	in->n_blocks = 1;
}

/* Where each map output of p is: *src and *srcp allocated (freed with sb). */
static void spec_sources(sched *s, const stage *p, Sluice__ShuffleSource **src,
                         Sluice__ShuffleSource ***srcp)
{
	*src = sl_calloc(p->ntasks + 1, sizeof(**src));
	*srcp = sl_calloc(p->ntasks + 1, sizeof(**srcp));
	for (size_t i = 0; i < p->ntasks; i++) {
		worker_entry *w = cluster_find(s->cl, p->tasks[i]->worker);
		sluice__shuffle_source__init(&(*src)[i]);
		(*src)[i].map_index = (uint32_t)i;
		(*src)[i].worker_id = p->tasks[i]->worker;
		(*src)[i].url = w ? w->rpc_url : "";
		(*srcp)[i] = &(*src)[i];
	}
}

static void spec_shuffle(sched *s, const mtask *t, spec_buf *sb)
{
	Sluice__TaskInput *in = &sb->in;
	stage *p = t->in.parent;
	in->kind = SLUICE__TASK_INPUT__KIND__SHUFFLE;
	in->shuffle_id = p->shuffle_id;
	in->reduce_partition = t->in.reduce_partition;
	in->num_partitions = p->num_reducers;
	in->shuffle_node = p->shuffle_node;
	spec_sources(s, p, &sb->src, &sb->srcp);
	in->shuffle_sources = sb->srcp;
	in->n_shuffle_sources = p->ntasks;
	if (s->ops.task_pin != NULL && s->ops.task_pin(t->stage, t, &sb->pin)) {
		in->state_replica_id = sb->pin.replica_id;
		in->state_replica_url = sb->pin.replica_url;
		in->state_full = sb->pin.full;
		in->state_ckpt_ms = sb->pin.ckpt_ms;
		in->event_watermark_ms = sb->pin.watermark_ms;
		in->window_recompute = t->in.recompute;
	}
	if (t->in.right != NULL) { /* a join's reduce side */
		in->right_shuffle_id = t->in.right->shuffle_id;
		spec_sources(s, t->in.right, &sb->rsrc, &sb->rsrcp);
		in->right_sources = sb->rsrcp;
		in->n_right_sources = t->in.right->ntasks;
	}
}

static void spec_input(sched *s, const mtask *t, spec_buf *sb)
{
	Sluice__TaskInput *in = &sb->in;
	sluice__task_input__init(in);
	in->source_node = t->in.source_node;
	if (t->in.kind == TIN_BLOCK) {
		spec_block(t->in.block, sb);
	} else if (t->in.kind == TIN_SHUFFLE) {
		spec_shuffle(s, t, sb);
	} else if (t->in.kind == TIN_KAFKA) {
		in->kind = SLUICE__TASK_INPUT__KIND__KAFKA;
		in->kafka_topic = t->in.kr->topic;
		in->kafka_partition = t->in.kr->partition;
		in->kafka_from = t->in.kr->from;
		in->kafka_until = t->in.kr->until;
	} else if (t->in.kind == TIN_GENERATOR) {
		/* an earlier batch's records, read by a window */
		if (t->in.gen_ms != 0)
			sb->ts.batch_ms = t->in.gen_ms;
		in->kind = SLUICE__TASK_INPUT__KIND__GENERATOR;
		in->gen_start = t->in.gen_start;
		in->gen_count = t->in.gen_count;
	} else {
		in->kind = SLUICE__TASK_INPUT__KIND__FILES;
		sb->file = t->in.file;
		in->files = &sb->file;
		in->n_files = 1;
	}
}

static void spec_output(const mtask *t, spec_buf *sb)
{
	const stage *st = t->stage;
	Sluice__TaskOutput *out = &sb->out;
	sluice__task_output__init(out);
	if (st->is_map) {
		out->kind = SLUICE__TASK_OUTPUT__KIND__SHUFFLE;
		out->shuffle_id = (char *)st->shuffle_id;
		out->num_reducers = st->num_reducers;
		out->shuffle_node = st->shuffle_node;
		return;
	}
	out->kind = st->out.kind;
	out->output_node = st->out.node;
	out->print_limit = st->out.print_limit;
	if (st->out.kind == SLUICE__TASK_OUTPUT__KIND__SAVE)
		out->save_dir = (char *)st->out.save_dir;
}

static void task_launch(sched *s, mtask *t, worker_entry *w)
{
	stage *st = t->stage;
	spec_buf sb;
	memset(&sb, 0, sizeof(sb));
	sluice__task_spec__init(&sb.ts);
	sb.ts.task_id = t->id;
	sb.ts.job_id = st->job_id;
	sb.ts.batch_ms = st->batch_ms;
	sb.ts.stage = st->id;
	sb.ts.partition = t->index;
	sb.ts.attempt = t->attempt;
	sb.ts.chain = t->chain;
	sb.ts.n_chain = t->nchain;
	sb.ts.library_hash = (char *)st->lib_hash;
	spec_input(s, t, &sb);
	spec_output(t, &sb);
	sb.ts.input = &sb.in;
	sb.ts.output = &sb.out;
	Sluice__LaunchTask lt = SLUICE__LAUNCH_TASK__INIT;
	lt.task = &sb.ts;
	t->state = TASK_LAUNCHING;
	snprintf(t->worker, sizeof(t->worker), "%s", w->id);
	t->launch_wall = clock_wall_ms();
	sched_load(s, w->id)->running++;
	st->launches++;
	s->ops.task_launched(st, t, w->id);
	launch_ctx *c = sl_malloc(sizeof(*c));
	*c = (launch_ctx){.s = s, .task_id = t->id, .attempt = t->attempt};
	outbox_push(s, w, MSG_LAUNCH_TASK, &lt, launch_done, c, true);
	sl_free(sb.src);
	sl_free(sb.srcp);
	sl_free(sb.rsrc);
	sl_free(sb.rsrcp);
}

#define WAL_WAIT_MS 60000

/* A task whose receiver block has no copy left but a WAL segment on a
 * worker that is gone waits for that worker to come back and replay it
 * (the tracker re-adds it as holder), never reads nothing: true while it
 * waits. After WAL_WAIT_MS the stage fails, naming the block and worker. */
static bool block_wait(sched *s, mtask *t)
{
	char walw[32];
	if (t->in.kind != TIN_BLOCK || t->in.block->nholders > 0 ||
	    !rblock_wal_worker(t->in.block, walw)) {
		t->wait_since_mono = 0;
		return false;
	}
	int64_t now = clock_mono_ms();
	if (t->wait_since_mono == 0)
		t->wait_since_mono = now;
	if (now - t->wait_since_mono < WAL_WAIT_MS)
		return true;
	char why[400];
	snprintf(why, sizeof(why),
	         "block %s has no copy: %s, which has it in its WAL, did not come back "
	         "within %d s",
	         t->in.block->id, walw, WAL_WAIT_MS / 1000);
	s->ops.stage_failed(t->stage, why);
	return true;
}

/* Launches what can run; returns false when no slot is free anywhere. */
static bool schedule_stage(sched *s, stage *st)
{
	for (size_t i = 0; i < st->ntasks && s->ops.stage_live(st); i++) {
		mtask *t = st->tasks[i];
		if (t->state != TASK_PENDING || block_wait(s, t))
			continue;
		bool pinned;
		worker_entry *w = pick_worker(s, t, &pinned);
		if (w == NULL && pinned)
			continue; /* waits for its worker; others may still run */
		if (w == NULL)
			return false;
		task_launch(s, t, w);
	}
	return true;
}

void sched_run(sched *s)
{
	/* a stage failing may make the planner remove stages: index, re-check */
	for (size_t i = 0; i < s->nstages; i++) {
		stage *st = s->stages[i];
		if (st->done < st->ntasks && stage_ready(st) && s->ops.stage_live(st) &&
		    !schedule_stage(s, st))
			return;
	}
}

/* Map outputs held by worker_id that st still needs are recomputed. */
static void invalidate_parents(stage *st, const char *worker_id)
{
	for (size_t k = 0; k < st->nparents; k++) {
		stage *p = st->parents[k];
		for (size_t i = 0; i < p->ntasks; i++) {
			mtask *t = p->tasks[i];
			if (t->state == TASK_DONE && strcmp(t->worker, worker_id) == 0) {
				t->state = TASK_PENDING;
				t->attempt++;
				p->done--;
			}
		}
	}
}

static void status_apply(sched *s, mtask *t, const Sluice__TaskStatus *ts)
{
	stage *st = t->stage;
	int64_t started = t->launch_wall + (int64_t)ts->queue_ms;
	if (st->first_task_wall == 0 || started < st->first_task_wall)
		st->first_task_wall = started;
	switch (ts->state) {
	case SLUICE__TASK_STATUS__STATE__FINISHED:
		if (t->failures > 0)
			log_info("job %s batch %lld: task %u of stage %u succeeded on %s "
			         "at attempt %u after %u failure%s",
			         st->name, (long long)st->batch_ms, t->index, st->id,
			         t->worker, t->attempt, t->failures,
			         t->failures == 1 ? "" : "s");
		task_release(s, t);
		t->state = TASK_DONE;
		st->done++;
		s->ops.task_done(st, t, ts);
		break;
	case SLUICE__TASK_STATUS__STATE__FETCH_FAILED:
		log_warn(
		    "job %s batch %lld: task %u of stage %u could not fetch from %s: %s; "
		    "recomputing",
		    st->name, (long long)st->batch_ms, t->index, st->id,
		    ts->missing_worker_id, ts->error);
		task_requeue(s, t);
		invalidate_parents(st, ts->missing_worker_id);
		if (++st->fetch_failures > 16) {
			char why[600];
			snprintf(why, sizeof(why),
			         "too many shuffle fetch failures; last: %s", ts->error);
			s->ops.stage_failed(st, why);
		}
		break;
	default:
		task_failed(s, t, ts->error && ts->error[0] ? ts->error : "task failed");
	}
}

int sched_handle_status(sched *s, const envelope *req, rpc_reply *rep)
{
	Sluice__TaskStatus *ts =
	    sluice__task_status__unpack(NULL, req->payload_len, req->payload);
	if (ts == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed TaskStatus");
	mtask *t = task_find(s, ts->task_id);
	if (t != NULL && t->attempt == ts->attempt &&
	    strcmp(t->worker, req->sender) == 0 &&
	    (t->state == TASK_LAUNCHING || t->state == TASK_RUNNING)) {
		if (s->ops.stage_live(t->stage)) {
			status_apply(s, t, ts);
		} else {
			/* Its output jobs failed meanwhile: give the slot back, once. */
			task_release(s, t);
			t->state = TASK_PENDING;
		}
	}
	sluice__task_status__free_unpacked(ts, NULL);
	Sluice__TaskStatusReply out = SLUICE__TASK_STATUS_REPLY__INIT;
	rpc_reply_set(rep, MSG_TASK_STATUS_REPLY, &out);
	return SL_OK;
}

void sched_worker_lost(sched *s, const char *worker_id)
{
	uint32_t requeued = 0;
	for (size_t i = 0; i < s->nstages; i++) {
		stage *st = s->stages[i];
		for (size_t k = 0; k < st->ntasks; k++) {
			mtask *t = st->tasks[k];
			if ((t->state == TASK_LAUNCHING || t->state == TASK_RUNNING) &&
			    strcmp(t->worker, worker_id) == 0) {
				task_requeue(s, t);
				requeued++;
			}
		}
	}
	/* then what a live, unfinished stage still needs from it */
	for (size_t i = 0; i < s->nstages; i++)
		if (s->stages[i]->done < s->stages[i]->ntasks &&
		    s->ops.stage_live(s->stages[i]))
			invalidate_parents(s->stages[i], worker_id);
	sched_load(s, worker_id)->running = 0;
	log_warn("worker %s lost: %u running tasks re-queued", worker_id, requeued);
}

static bool listed(const uint64_t *ids, size_t n, uint64_t id)
{
	for (size_t k = 0; k < n; k++)
		if (ids[k] == id)
			return true;
	return false;
}

uint32_t sched_worker_tasks(sched *s, const char *worker_id, int64_t since_mono,
                            const uint64_t *ids, size_t n)
{
	uint32_t requeued = 0;
	for (size_t i = 0; i < s->nstages; i++) {
		stage *st = s->stages[i];
		for (size_t k = 0; k < st->ntasks; k++) {
			mtask *t = st->tasks[k];
			if (t->state != TASK_RUNNING || t->running_mono >= since_mono ||
			    strcmp(t->worker, worker_id) != 0 || listed(ids, n, t->id))
				continue;
			log_warn(
			    "job %s batch %lld: task %u of stage %u is no longer on %s "
			    "(its end was never reported); re-queued",
			    st->name, (long long)st->batch_ms, t->index, st->id,
			    worker_id);
			task_requeue(s, t);
			requeued++;
		}
	}
	return requeued;
}

static void remove_done(void *arg, int rv, const envelope *reply, const char *err)
{
	(void)arg;
	(void)rv;
	(void)reply;
	(void)err;
}

void sched_remove_data(sched *s, const char *prefix, rblock **blocks, size_t n)
{
	char **ids = sl_calloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < cluster_count(s->cl); i++) {
		worker_entry *w = cluster_at(s->cl, i);
		if (w->state != WORKER_ALIVE || w->client == NULL)
			continue;
		size_t k = 0;
		for (size_t b = 0; b < n; b++)
			for (int h = 0; h < blocks[b]->nholders; h++)
				if (strcmp(blocks[b]->holder_id[h], w->id) == 0)
					ids[k++] = blocks[b]->id;
		Sluice__RemoveBlocks rb = SLUICE__REMOVE_BLOCKS__INIT;
		rb.prefix = (char *)prefix;
		rb.block_ids = ids;
		rb.n_block_ids = k;
		outbox_push(s, w, MSG_REMOVE_BLOCKS, &rb, remove_done, NULL, false);
	}
	sl_free(ids);
}
