/*
 * Task scheduler: places runnable tasks on free slots and follows them to
 * the end.
 *
 * A stage is runnable when every parent map stage has all its outputs. A
 * task goes to a worker with a free slot other than the one it last failed
 * on, preferring (1) a holder of its receiver block (locality), then (2) the
 * least loaded; the worker it failed on is used again only when it is the
 * only one alive. Launches are asynchronous; the worker answers at once and
 * reports the end with MSG_TASK_STATUS.
 *
 * Failures: a FAILED task is retried, on another worker when there is one,
 * until it has failed spark.task.maxFailures times; then its output job,
 * and so its batch, fails. A FETCH_FAILED task (a shuffle bucket was gone)
 * does not count: the map outputs on the worker that lacked it are
 * recomputed from lineage and the task runs again. A LOST worker's running
 * tasks are re-queued (not counted as failures) and its map outputs that
 * are still needed are recomputed.
 *
 * Every (task id, attempt) is checked on each report, so late replies of an
 * earlier attempt are ignored.
 */
#include "alloc.h"
#include "api.h"
#include "clock.h"
#include "engine_int.h"
#include "kafka_src.h"
#include "log.h"
#include "msgtypes.h"
#include "runconf.h"
#include "sluice/err.h"

#include <stdio.h>
#include <string.h>

wload *sched_load(struct engine *e, const char *worker_id)
{
	for (size_t i = 0; i < e->nload; i++)
		if (strcmp(e->load[i].id, worker_id) == 0)
			return &e->load[i];
	e->load = sl_realloc(e->load, (e->nload + 1) * sizeof(*e->load));
	wload *l = &e->load[e->nload++];
	memset(l, 0, sizeof(*l));
	snprintf(l->id, sizeof(l->id), "%s", worker_id);
	return l;
}

static bool stage_ready(const stage *s)
{
	for (size_t i = 0; i < s->nparents; i++)
		if (s->parents[i]->done < s->parents[i]->ntasks)
			return false;
	return true;
}

static uint32_t free_slots(struct engine *e, worker_entry *w)
{
	if (w->state != WORKER_ALIVE || w->client == NULL)
		return 0;
	wload *l = sched_load(e, w->id);
	return l->running < w->slots ? w->slots - l->running : 0;
}

static worker_entry *pick_worker(struct engine *e, const mtask *t)
{
	cluster *cl = e->m->cl;
	worker_entry *pin = runconf_worker(t->stage->oj->b->job); /* standalone */
	if (pin != NULL)
		return free_slots(e, pin) > 0 ? pin : NULL;
	if (t->in.kind == TIN_BLOCK) {
		for (int h = 0; h < t->in.block->nholders; h++) {
			worker_entry *w = cluster_find(cl, t->in.block->holder_id[h]);
			if (w && strcmp(w->id, t->avoid) != 0 && free_slots(e, w) > 0)
				return w;
		}
	}
	char kw[32];
	if (t->in.kind == TIN_KAFKA &&
	    kafka_worker_of(t->stage->oj->b->job, t->in.kr->topic, t->in.kr->partition,
	                    kw)) {
		/* Keep a Kafka partition on the worker that read it last (its
		 * consumer is warm there), unless it last failed there. */
		worker_entry *w = cluster_find(cl, kw);
		if (w && free_slots(e, w) > 0 && strcmp(w->id, t->avoid) != 0)
			return w;
	}
	worker_entry *best = NULL, *avoided = NULL;
	double best_load = 2.0;
	for (size_t i = 0; i < cluster_count(cl); i++) {
		worker_entry *w = cluster_at(cl, i);
		if (free_slots(e, w) == 0)
			continue;
		if (strcmp(w->id, t->avoid) == 0) {
			avoided = w;
			continue;
		}
		double load = (double)sched_load(e, w->id)->running / w->slots;
		if (load < best_load) {
			best_load = load;
			best = w;
		}
	}
	if (best == NULL && avoided != NULL) {
		/* Only the worker it failed on has room: use it unless others exist. */
		size_t alive = 0;
		for (size_t i = 0; i < cluster_count(cl); i++)
			alive += cluster_at(cl, i)->state == WORKER_ALIVE;
		if (alive <= 1)
			best = avoided;
	}
	return best;
}

typedef bool (*ojob_fn)(struct engine *e, ojob *oj, void *arg);

/* Calls fn on every output job of every queued or running batch, jobs in
 * submission order and batches oldest first; stops when fn returns true. */
static bool each_ojob(struct engine *e, ojob_fn fn, void *arg)
{
	for (size_t j = 0; j < e->njobs; j++) {
		job *jb = e->jobs[j];
		for (size_t b = 0; b < jb->nbatches; b++)
			for (size_t o = 0; o < jb->batches[b]->nojobs; o++)
				if (fn(e, jb->batches[b]->ojobs[o], arg))
					return true;
	}
	return false;
}

typedef struct {
	uint64_t id;
	mtask *found;
} find_arg;

/* Task ids are consecutive within a stage, so a stage is one range check. */
static bool find_in(struct engine *e, ojob *oj, void *arg)
{
	find_arg *f = arg;
	(void)e;
	for (size_t s = 0; s < oj->nstages; s++) {
		stage *st = oj->stages[s];
		if (st->ntasks == 0 || f->id < st->tasks[0]->id ||
		    f->id > st->tasks[st->ntasks - 1]->id)
			continue;
		f->found = st->tasks[f->id - st->tasks[0]->id];
		return true;
	}
	return false;
}

static mtask *task_find(struct engine *e, uint64_t id)
{
	find_arg f = {.id = id};
	each_ojob(e, find_in, &f);
	return f.found;
}

static void task_release(struct engine *e, mtask *t)
{
	if (t->state != TASK_LAUNCHING && t->state != TASK_RUNNING)
		return;
	wload *l = sched_load(e, t->worker);
	if (l->running > 0)
		l->running--;
}

static void task_requeue(struct engine *e, mtask *t)
{
	task_release(e, t);
	t->state = TASK_PENDING;
	t->attempt++;
}

static void task_failed(struct engine *e, mtask *t, const char *error)
{
	ojob *oj = t->stage->oj;
	job *j = oj->b->job;
	task_requeue(e, t);
	t->failures++;
	oj->b->task_failures++;
	snprintf(t->avoid, sizeof(t->avoid), "%s", t->worker);
	log_warn(
	    "job %s batch %lld: task %u of stage %u failed on %s (failure %u of %u): %s",
	    j->name, (long long)oj->b->time_ms, t->index, t->stage->id, t->worker,
	    t->failures, j->max_failures, error);
	if (t->failures >= j->max_failures) {
		char why[700];
		snprintf(why, sizeof(why),
		         "task %u of stage %u failed %u times; last error: %s", t->index,
		         t->stage->id, t->failures, error);
		stage_fail_users(t->stage, why);
	}
}

typedef struct {
	struct engine *e;
	uint64_t task_id;
	uint32_t attempt;
} launch_ctx;

static void launch_done(void *arg, int rv, const envelope *reply, const char *err)
{
	launch_ctx *c = arg;
	master *m = c->e->m;
	pthread_mutex_lock(&m->lock);
	mtask *t = task_find(c->e, c->task_id);
	if (t != NULL && t->attempt == c->attempt && t->state == TASK_LAUNCHING) {
		if (rv == SL_OK) {
			t->state = TASK_RUNNING;
			t->running_mono = clock_mono_ms();
		} else
			task_failed(c->e, t, err);
	}
	pthread_mutex_unlock(&m->lock);
	(void)reply;
	sl_free(c);
}

typedef struct {
	Sluice__TaskSpec ts;
	Sluice__TaskInput in;
	Sluice__TaskOutput out;
	Sluice__BlockRef br, *brp;
	char *wids[HOLDERS_MAX], *urls[HOLDERS_MAX];
	Sluice__ShuffleSource *src, **srcp;
	char *file;
} spec_buf;

static void spec_input(struct engine *e, const mtask *t, spec_buf *sb)
{
	Sluice__TaskInput *in = &sb->in;
	sluice__task_input__init(in);
	in->source_node = t->in.source_node;
	if (t->in.kind == TIN_BLOCK) {
		rblock *b = t->in.block;
		in->kind = SLUICE__TASK_INPUT__KIND__BLOCKS;
		sluice__block_ref__init(&sb->br);
		sb->br.block_id = b->id;
		for (int h = 0; h < b->nholders; h++) {
			sb->wids[h] = b->holder_id[h];
			sb->urls[h] = b->holder_url[h];
		}
		sb->br.n_worker_ids = sb->br.n_urls = (size_t)b->nholders;
		sb->br.worker_ids = sb->wids;
		sb->br.urls = sb->urls;
		sb->br.records = b->records;
		sb->brp = &sb->br;
		in->blocks = &sb->brp;
		in->n_blocks = 1;
	} else if (t->in.kind == TIN_SHUFFLE) {
		stage *p = t->in.parent;
		in->kind = SLUICE__TASK_INPUT__KIND__SHUFFLE;
		in->shuffle_id = p->shuffle_id;
		in->reduce_partition = t->in.reduce_partition;
		in->shuffle_node = p->shuffle_node;
		sb->src = sl_calloc(p->ntasks + 1, sizeof(*sb->src));
		sb->srcp = sl_calloc(p->ntasks + 1, sizeof(*sb->srcp));
		for (size_t i = 0; i < p->ntasks; i++) {
			worker_entry *w = cluster_find(e->m->cl, p->tasks[i]->worker);
			sluice__shuffle_source__init(&sb->src[i]);
			sb->src[i].map_index = (uint32_t)i;
			sb->src[i].worker_id = p->tasks[i]->worker;
			sb->src[i].url = w ? w->rpc_url : "";
			sb->srcp[i] = &sb->src[i];
		}
		in->shuffle_sources = sb->srcp;
		in->n_shuffle_sources = p->ntasks;
	} else if (t->in.kind == TIN_KAFKA) {
		in->kind = SLUICE__TASK_INPUT__KIND__KAFKA;
		in->kafka_topic = t->in.kr->topic;
		in->kafka_partition = t->in.kr->partition;
		in->kafka_from = t->in.kr->from;
		in->kafka_until = t->in.kr->until;
	} else if (t->in.kind == TIN_GENERATOR) {
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
	stage *s = t->stage;
	ojob *oj = s->oj;
	Sluice__TaskOutput *out = &sb->out;
	sluice__task_output__init(out);
	if (s->is_map) {
		out->kind = SLUICE__TASK_OUTPUT__KIND__SHUFFLE;
		out->shuffle_id = s->shuffle_id;
		out->num_reducers = s->num_reducers;
		out->shuffle_node = s->shuffle_node;
		return;
	}
	const Sluice__Node *n = graph_node(oj->b->job->graph, oj->output_node);
	out->output_node = n->id;
	switch (n->kind) {
	case SLUICE__NODE_KIND__OUT_PRINT:
		out->kind = SLUICE__TASK_OUTPUT__KIND__PRINT;
		out->print_limit = n->num;
		break;
	case SLUICE__NODE_KIND__OUT_SAVE_TEXT:
		out->kind = SLUICE__TASK_OUTPUT__KIND__SAVE;
		out->save_dir = oj->save_tmp;
		break;
	case SLUICE__NODE_KIND__OUT_KAFKA:
		out->kind = SLUICE__TASK_OUTPUT__KIND__KAFKA;
		break;
	default:
		out->kind = SLUICE__TASK_OUTPUT__KIND__FOREACH;
	}
}

static void task_launch(struct engine *e, mtask *t, worker_entry *w)
{
	ojob *oj = t->stage->oj;
	job *j = oj->b->job;
	spec_buf sb;
	memset(&sb, 0, sizeof(sb));
	sluice__task_spec__init(&sb.ts);
	sb.ts.task_id = t->id;
	sb.ts.job_id = j->id;
	sb.ts.batch_ms = oj->b->time_ms;
	sb.ts.stage = t->stage->id;
	sb.ts.partition = t->index;
	sb.ts.attempt = t->attempt;
	sb.ts.chain = t->chain;
	sb.ts.n_chain = t->nchain;
	sb.ts.library_hash = j->lib_hash;
	spec_input(e, t, &sb);
	spec_output(t, &sb);
	sb.ts.input = &sb.in;
	sb.ts.output = &sb.out;
	Sluice__LaunchTask lt = SLUICE__LAUNCH_TASK__INIT;
	lt.task = &sb.ts;
	t->state = TASK_LAUNCHING;
	snprintf(t->worker, sizeof(t->worker), "%s", w->id);
	t->launch_wall = clock_wall_ms();
	sched_load(e, w->id)->running++;
	oj->b->tasks++;
	if (t->in.kind == TIN_KAFKA)
		kafka_note_worker(j, t->in.kr->topic, t->in.kr->partition, w->id);
	launch_ctx *c = sl_malloc(sizeof(*c));
	*c = (launch_ctx){.e = e, .task_id = t->id, .attempt = t->attempt};
	if (rpc_call_async(w->client, MSG_LAUNCH_TASK, &lt, launch_done, c) != SL_OK) {
		sl_free(c);
		task_failed(e, t, "cannot send the task to the worker");
	}
	sl_free(sb.src);
	sl_free(sb.srcp);
}

#define WAL_WAIT_MS 60000

/* A task whose receiver block has no copy left but a WAL segment on a
 * worker that is gone waits for that worker to come back and replay it
 * (rtracker_worker_back re-adds it as holder), never reads nothing: true
 * while it waits. After WAL_WAIT_MS the output jobs using it fail, naming
 * the block and the worker. */
static bool block_wait(mtask *t)
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
	stage_fail_users(t->stage, why);
	return true;
}

/* Launches what can run; returns false when no slot is free anywhere. */
static bool schedule_stage(struct engine *e, stage *s)
{
	for (size_t i = 0; i < s->ntasks && stage_live(s); i++) {
		mtask *t = s->tasks[i];
		if (t->state != TASK_PENDING || block_wait(t))
			continue;
		worker_entry *w = pick_worker(e, t);
		if (w == NULL)
			return false;
		task_launch(e, t, w);
	}
	return true;
}

/* Returns true (stop) when no slot is free anywhere. */
static bool schedule_ojob(struct engine *e, ojob *oj, void *arg)
{
	(void)arg;
	if (oj->state != OJ_RUNNING)
		return false;
	ojob_maybe_complete(oj);
	for (size_t s = 0; s < oj->nstages && oj->state == OJ_RUNNING; s++) {
		stage *st = oj->stages[s];
		/* a shared map stage another output job planned: ours to drive
		 * too (its owner may be done, and its outputs lost since) */
		for (size_t p = 0; p < st->nparents && oj->state == OJ_RUNNING; p++)
			if (st->parents[p]->oj != oj && stage_ready(st->parents[p]) &&
			    !schedule_stage(e, st->parents[p]))
				return true;
		if (stage_ready(st) && !schedule_stage(e, st))
			return true;
	}
	return false;
}

void sched_run(struct engine *e)
{
	each_ojob(e, schedule_ojob, NULL);
}

/* Map outputs held by worker_id that an unfinished stage of oj still needs
 * are recomputed (also in a shared stage another output job planned). */
static void invalidate_outputs(ojob *oj, const char *worker_id)
{
	for (size_t c = 0; c < oj->nstages; c++) {
		stage *st = oj->stages[c];
		if (st->done >= st->ntasks)
			continue;
		for (size_t k = 0; k < st->nparents; k++) {
			stage *p = st->parents[k];
			for (size_t i = 0; i < p->ntasks; i++) {
				mtask *t = p->tasks[i];
				if (t->state == TASK_DONE &&
				    strcmp(t->worker, worker_id) == 0) {
					t->state = TASK_PENDING;
					t->attempt++;
					p->done--;
				}
			}
		}
	}
}

static void status_apply(struct engine *e, mtask *t, const Sluice__TaskStatus *st)
{
	ojob *oj = t->stage->oj;
	int64_t started = t->launch_wall + (int64_t)st->queue_ms;
	if (oj->b->first_task_wall == 0 || started < oj->b->first_task_wall)
		oj->b->first_task_wall = started;
	switch (st->state) {
	case SLUICE__TASK_STATUS__STATE__FINISHED:
		if (t->failures > 0)
			log_info("job %s batch %lld: task %u of stage %u succeeded on %s "
			         "at attempt %u after %u failure%s",
			         oj->b->job->name, (long long)oj->b->time_ms, t->index,
			         t->stage->id, t->worker, t->attempt, t->failures,
			         t->failures == 1 ? "" : "s");
		task_release(e, t);
		ojob_task_done(oj, t, st);
		break;
	case SLUICE__TASK_STATUS__STATE__FETCH_FAILED:
		log_warn(
		    "job %s batch %lld: task %u of stage %u could not fetch from %s: %s; "
		    "recomputing",
		    oj->b->job->name, (long long)oj->b->time_ms, t->index, t->stage->id,
		    st->missing_worker_id, st->error);
		task_requeue(e, t);
		invalidate_outputs(oj, st->missing_worker_id);
		if (++oj->fetch_failures > 16)
			ojob_fail(oj, "too many shuffle fetch failures; last: %s",
			          st->error);
		break;
	default:
		task_failed(e, t, st->error && st->error[0] ? st->error : "task failed");
	}
}

int sched_handle_status(struct engine *e, const envelope *req, rpc_reply *rep)
{
	Sluice__TaskStatus *st =
	    sluice__task_status__unpack(NULL, req->payload_len, req->payload);
	if (st == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed TaskStatus");
	mtask *t = task_find(e, st->task_id);
	if (t != NULL && t->attempt == st->attempt &&
	    strcmp(t->worker, req->sender) == 0 &&
	    (t->state == TASK_LAUNCHING || t->state == TASK_RUNNING) &&
	    stage_live(t->stage))
		status_apply(e, t, st);
	else if (t != NULL && t->attempt == st->attempt &&
	         strcmp(t->worker, req->sender) == 0 &&
	         (t->state == TASK_LAUNCHING || t->state == TASK_RUNNING) &&
	         !stage_live(t->stage)) {
		/* Its output job failed meanwhile: give the slot back, once. */
		task_release(e, t);
		t->state = TASK_PENDING;
	}
	sluice__task_status__free_unpacked(st, NULL);
	/* Schedule what this completion unblocked now, not at the next tick. */
	engine_kick(e);
	Sluice__TaskStatusReply out = SLUICE__TASK_STATUS_REPLY__INIT;
	rpc_reply_set(rep, MSG_TASK_STATUS_REPLY, &out);
	return SL_OK;
}

void sched_release_batch(struct engine *e, batch *b)
{
	for (size_t o = 0; o < b->nojobs; o++)
		for (size_t s = 0; s < b->ojobs[o]->nstages; s++) {
			stage *st = b->ojobs[o]->stages[s];
			/* task_release: only launching or running tasks */
			for (size_t i = 0; i < st->ntasks; i++)
				task_release(e, st->tasks[i]);
		}
}

typedef struct {
	const char *worker_id;
	uint32_t requeued;
} lost_arg;

static bool lost_in(struct engine *e, ojob *oj, void *arg)
{
	lost_arg *la = arg;
	for (size_t s = 0; s < oj->nstages; s++) {
		stage *st = oj->stages[s];
		for (size_t i = 0; i < st->ntasks; i++) {
			mtask *t = st->tasks[i];
			if ((t->state == TASK_LAUNCHING || t->state == TASK_RUNNING) &&
			    strcmp(t->worker, la->worker_id) == 0) {
				task_requeue(e, t);
				la->requeued++;
			}
		}
	}
	if (oj->state == OJ_RUNNING)
		invalidate_outputs(oj, la->worker_id);
	return false;
}

typedef struct {
	const char *worker_id;
	int64_t since_mono;
	const uint64_t *ids;
	size_t n;
	uint32_t requeued;
} gone_arg;

static bool gone_in(struct engine *e, ojob *oj, void *arg)
{
	gone_arg *g = arg;
	for (size_t s = 0; s < oj->nstages; s++) {
		stage *st = oj->stages[s];
		for (size_t i = 0; i < st->ntasks; i++) {
			mtask *t = st->tasks[i];
			if (t->state != TASK_RUNNING ||
			    t->running_mono >= g->since_mono ||
			    strcmp(t->worker, g->worker_id) != 0)
				continue;
			bool listed = false;
			for (size_t k = 0; k < g->n && !listed; k++)
				listed = g->ids[k] == t->id;
			if (listed)
				continue;
			log_warn(
			    "job %s batch %lld: task %u of stage %u is no longer on %s "
			    "(its end was never reported); re-queued",
			    oj->b->job->name, (long long)oj->b->time_ms, t->index, st->id,
			    g->worker_id);
			task_requeue(e, t);
			g->requeued++;
		}
	}
	return false;
}

uint32_t sched_worker_tasks(struct engine *e, const char *worker_id, int64_t since_mono,
                            const uint64_t *ids, size_t n)
{
	gone_arg g = {
	    .worker_id = worker_id, .since_mono = since_mono, .ids = ids, .n = n};
	each_ojob(e, gone_in, &g);
	return g.requeued;
}

void sched_worker_lost(struct engine *e, const char *worker_id)
{
	lost_arg la = {.worker_id = worker_id};
	each_ojob(e, lost_in, &la);
	sched_load(e, worker_id)->running = 0;
	log_warn("worker %s lost: %u running tasks re-queued", worker_id, la.requeued);
}

static void remove_done(void *arg, int rv, const envelope *reply, const char *err)
{
	(void)arg;
	(void)rv;
	(void)reply;
	(void)err;
}

void sched_broadcast_remove(struct engine *e, const char *prefix, rblock **blocks,
                            size_t n)
{
	cluster *cl = e->m->cl;
	char **ids = sl_calloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < cluster_count(cl); i++) {
		worker_entry *w = cluster_at(cl, i);
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
		rpc_call_async(w->client, MSG_REMOVE_BLOCKS, &rb, remove_done, NULL);
	}
	sl_free(ids);
}
