/*
 * The planner: output jobs of a batch -> stages of tasks (contract in
 * plan.h), and the scheduler's reports back into output jobs.
 *
 * save_as_text_files: tasks write part files into PREFIX-TIME.tmp-eEPOCH;
 * when the result stage is done the master renames it to PREFIX-TIME, so a
 * batch's output appears whole or not at all. (The directory must be on a
 * filesystem the master and workers share, as in Spark.)
 */
#include "plan.h"
#include "alloc.h"
#include "api.h"
#include "kafka_src.h"
#include "log.h"
#include "proc.h"
#include "stateplan.h"
#include "sluice/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
	tinput in;
	uint32_t *chain;
	size_t nchain;
} part;

typedef struct {
	part *v;
	size_t n, cap;
} parts;

static part *parts_add(parts *p)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 8;
		p->v = sl_realloc(p->v, p->cap * sizeof(*p->v));
	}
	part *x = &p->v[p->n++];
	memset(x, 0, sizeof(*x));
	return x;
}

static void part_push_chain(part *p, uint32_t node)
{
	p->chain = sl_realloc(p->chain, (p->nchain + 1) * sizeof(uint32_t));
	p->chain[p->nchain++] = node;
}

static uint32_t default_reducers(job *j)
{
	if (j->default_parts > 0)
		return j->default_parts;
	uint32_t slots = 0;
	cluster *cl = j->e->m->cl;
	for (size_t i = 0; i < cluster_count(cl); i++)
		if (cluster_at(cl, i)->state == WORKER_ALIVE)
			slots += cluster_at(cl, i)->slots;
	return slots ? slots : 1;
}

static stage *stage_new(ojob *oj, bool is_map)
{
	job *j = oj->b->job;
	stage *s = sl_calloc(1, sizeof(*s));
	s->id = (uint32_t)oj->nstages;
	s->owner = oj;
	s->job_id = j->id;
	s->batch_ms = oj->b->time_ms;
	s->lib_hash = j->lib_hash;
	s->name = j->name;
	s->max_failures = j->max_failures;
	s->pin = j->run_worker; /* "" unless standalone (runconf.h) */
	s->is_map = is_map;
	oj->stages = sl_realloc(oj->stages, (oj->nstages + 1) * sizeof(*oj->stages));
	oj->stages[oj->nstages++] = s;
	return s;
}

static void stage_take_parts(stage *s, parts *p)
{
	s->ntasks = p->n;
	s->tasks = sl_calloc(p->n ? p->n : 1, sizeof(*s->tasks));
	for (size_t i = 0; i < p->n; i++) {
		mtask *t = sl_calloc(1, sizeof(*t));
		t->stage = s;
		t->index = (uint32_t)i;
		t->in = p->v[i].in;
		t->chain = p->v[i].chain;
		t->nchain = p->v[i].nchain;
		s->tasks[i] = t;
	}
	sl_free(p->v);
	memset(p, 0, sizeof(*p));
}

/* Whether path, as the generator lists it (DIR/NAME, or DIR/SUB/part-N of
 * a finished save directory), is a file of dir: the batch's files are those
 * of every file stream of the job. */
static bool file_in_dir(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (strncmp(path, dir, n) != 0 || path[n] != '/')
		return false;
	const char *sub = strchr(path + n + 1, '/');
	return sub == NULL ||
	       (strchr(sub + 1, '/') == NULL && strncmp(sub + 1, "part-", 5) == 0);
}

/* src: the batch whose records the partitions are (a window reads earlier
 * batches'); oj->b is the batch being planned. */
static void generator_parts(const ojob *oj, const batch *src, const Sluice__Node *n,
                            parts *out)
{
	int64_t total = n->rate * src->job->interval_ms / 1000;
	uint32_t np = n->partitions ? n->partitions : 1;
	for (uint32_t i = 0; i < np; i++) {
		part *p = parts_add(out);
		p->in.kind = TIN_GENERATOR;
		p->in.source_node = n->id;
		p->in.gen_start = total * i / np;
		p->in.gen_count = total * (i + 1) / np - p->in.gen_start;
		p->in.gen_ms = src != oj->b ? src->time_ms : 0;
	}
}

static void kafka_parts(const batch *b, const Sluice__Node *n, parts *out)
{
	for (size_t i = 0; i < b->nkr; i++) {
		if (b->kr[i].node != n->id || b->kr[i].until <= b->kr[i].from)
			continue;
		part *p = parts_add(out);
		p->in.kind = TIN_KAFKA;
		p->in.source_node = n->id;
		p->in.kr = &b->kr[i];
		/* keep a partition on the worker that read it last (its consumer
		 * is warm there) */
		kafka_worker_of(&b->job->kafka, b->kr[i].topic, b->kr[i].partition,
		                p->in.prefer);
	}
}

static void source_parts(ojob *oj, const batch *b, const Sluice__Node *n, parts *out)
{
	if (n->kind == SLUICE__NODE_KIND__SRC_GENERATOR) {
		generator_parts(oj, b, n, out);
	} else if (n->kind == SLUICE__NODE_KIND__SRC_KAFKA) {
		kafka_parts(b, n, out);
	} else if (n->kind == SLUICE__NODE_KIND__SRC_FILES) {
		for (size_t i = 0; i < b->nfiles; i++) {
			if (!file_in_dir(b->files[i], n->path))
				continue;
			part *p = parts_add(out);
			p->in.kind = TIN_FILE;
			p->in.source_node = n->id;
			p->in.file = sl_strdup(b->files[i]);
		}
	} else {
		for (size_t i = 0; i < b->nblocks; i++) {
			if (b->blocks[i]->node != n->id)
				continue;
			part *p = parts_add(out);
			p->in.kind = TIN_BLOCK;
			p->in.source_node = n->id;
			p->in.block = b->blocks[i];
		}
	}
}

static void node_parts(ojob *oj, batch *src, uint32_t id, parts *out);

static stage *stage_find(stage *const *v, size_t n, uint32_t node)
{
	for (size_t i = 0; i < n; i++)
		if (v[i]->shuffle_node == node)
			return v[i];
	return NULL;
}

static void reduce_parts(stage *s, parts *out)
{
	for (uint32_t r = 0; r < s->num_reducers; r++) {
		part *p = parts_add(out);
		p->in.kind = TIN_SHUFFLE;
		p->in.parent = s;
		p->in.reduce_partition = r;
	}
}

/* oj reads s, a stage an output job of another batch planned (a window over
 * earlier batches): it keeps s scheduled while it runs (plan_release_batch
 * lets go). */
static void stage_borrow(ojob *oj, stage *s)
{
	for (size_t i = 0; i < s->nusers; i++)
		if (s->users[i] == oj)
			return;
	s->users = sl_realloc(s->users, (s->nusers + 1) * sizeof(*s->users));
	s->users[s->nusers++] = oj;
	if (!s->registered)
		sched_add_stage(oj->b->job->e->sched, s);
}

/* Whether a reduce task reading parent (and right, a join's other side),
 * map stages that have no task (no input), can only output nothing: a keyed reduction,
 * grouping, repartition or join of nothing is nothing. A transform (user code sees the
 * batch, empty or not), count_by_window (emits 0), the windows and the stateful nodes
 * (state updates, timeouts, watermarks) run on every batch. */
static bool reduce_of_nothing(const job *j, const stage *parent, const stage *right)
{
	if (parent == NULL || parent->ntasks > 0 || (right && right->ntasks > 0))
		return false;
	const Sluice__Node *n = graph_node(j->graph, parent->shuffle_node);
	switch (n->kind) {
	case SLUICE__NODE_KIND__OP_REDUCE_BY_KEY:
	case SLUICE__NODE_KIND__OP_GROUP_BY_KEY:
	case SLUICE__NODE_KIND__OP_COUNT_BY_KEY:
	case SLUICE__NODE_KIND__OP_REPARTITION:
		return true;
	default:
		return graph_is_join(n->kind);
	}
}

/* Drops the partitions of p that are reduce tasks of nothing (an empty
 * batch's), so an empty batch launches only the tasks that can output
 * something: the master's and workers' cost of an empty batch. */
static void parts_drop_empty(const job *j, parts *p)
{
	size_t k = 0;
	for (size_t i = 0; i < p->n; i++) {
		part *x = &p->v[i];
		if (x->in.kind == TIN_SHUFFLE &&
		    reduce_of_nothing(j, x->in.parent, x->in.right)) {
			sl_free(x->chain);
			continue;
		}
		p->v[k++] = *x;
	}
	p->n = k;
}

/* A new map stage of oj writing node's shuffle, over what in holds. */
static stage *map_stage_new(ojob *oj, const batch *src, const Sluice__Node *n, parts *in)
{
	job *j = oj->b->job;
	parts_drop_empty(j, in); /* they would write empty buckets */
	stage *s = stage_new(oj, true);
	stage_take_parts(s, in);
	s->batch_ms = src->time_ms;
	s->shuffle_node = n->id;
	s->num_reducers = n->partitions ? n->partitions : default_reducers(j);
	if (n->kind == SLUICE__NODE_KIND__OP_COUNT_BY_WINDOW)
		s->num_reducers = 1; /* one count: its reducer emits 0 for none */
	if (graph_node_stateful(n))  /* a key's state partition never moves */
		s->num_reducers = stateplan_parts(j, n, default_reducers(j));
	/* The master's epoch: a batch re-run after a master restart must not
	 * read buckets an earlier run left behind (its reducer count may differ).
	 * The prefix shf-JOB-TIME- still names every bucket of the batch. */
	snprintf(s->shuffle_id, sizeof(s->shuffle_id), "shf-%llu-%lld-e%u-%u-%u",
	         (unsigned long long)j->id, (long long)oj->b->time_ms, j->e->epoch,
	         oj->index, s->id);
	return s;
}

/* The map stage of shuffle node n over batch src's records: the one src
 * keeps when some output job planned it (shared, or borrowed from an
 * earlier batch), else a new one. A new stage over an earlier batch belongs
 * to oj and is not kept in src (it goes with oj's batch). */
static stage *shuffle_stage(ojob *oj, batch *src, const Sluice__Node *n)
{
	stage *s = stage_find(src->shuffles, src->nshuffles, n->id);
	if (s != NULL) {
		if (src != oj->b)
			stage_borrow(oj, s);
		return s;
	}
	parts in = {0};
	node_parts(oj, src, n->inputs[0], &in);
	s = map_stage_new(oj, src, n, &in);
	if (src == oj->b) {
		src->shuffles = sl_realloc(src->shuffles,
		                           (src->nshuffles + 1) * sizeof(*src->shuffles));
		src->shuffles[src->nshuffles++] = s;
	}
	return s;
}

/* The batch of time t among the job's queued, running, retiring and kept
 * ones; NULL when there is none (before the job started). */
static batch *batch_at(job *j, int64_t t)
{
	batch **lists[] = {j->batches, j->retiring, j->kept};
	size_t ns[] = {j->nbatches, j->nretiring, j->nkept};
	for (size_t l = 0; l < 3; l++)
		for (size_t i = 0; i < ns[l]; i++)
			if (lists[l][i]->time_ms == t)
				return lists[l][i];
	return NULL;
}

/* Calls fn for every batch of the window of n ending with src, oldest first. */
static void window_each(ojob *oj, batch *src, const Sluice__Node *n,
                        void (*fn)(ojob *, batch *, const Sluice__Node *, parts *),
                        parts *out)
{
	job *j = oj->b->job;
	for (int64_t t = src->time_ms - n->length_ms + j->interval_ms; t <= src->time_ms;
	     t += j->interval_ms) {
		batch *b = t == src->time_ms ? src : batch_at(j, t);
		if (b != NULL)
			fn(oj, b, n, out);
	}
}

static void window_input(ojob *oj, batch *b, const Sluice__Node *n, parts *out)
{
	node_parts(oj, b, n->inputs[0], out);
}

static void window_reduced(ojob *oj, batch *b, const Sluice__Node *n, parts *out)
{
	reduce_parts(shuffle_stage(oj, b, n), out);
}

/* reduce_by_key_and_window (Spark's form without the inverse), and the
 * counts over a window (count_by_window, count_by_value_and_window): each
 * batch of the window reduced (counted) by key on its own (its map stage,
 * kept with the batch and shared by the windows that cover it), then the
 * window's reduced batches reduced (summed) again into this batch's final
 * shuffle. The worker tells the two levels apart by the task's input: the
 * final stage reads shuffles of the same node (worker/ops.c). */
static stage *window_final_stage(ojob *oj, batch *src, const Sluice__Node *n)
{
	stage *f = stage_find(src->wins, src->nwins, n->id);
	if (f == NULL) {
		parts in = {0};
		window_each(oj, src, n, window_reduced, &in);
		f = map_stage_new(oj, src, n, &in);
		if (src == oj->b) {
			src->wins =
			    sl_realloc(src->wins, (src->nwins + 1) * sizeof(*src->wins));
			src->wins[src->nwins++] = f;
		}
	} else if (src != oj->b) {
		stage_borrow(oj, f);
	}
	return f;
}

static void reduce_window_parts(ojob *oj, batch *src, const Sluice__Node *n, parts *out)
{
	reduce_parts(window_final_stage(oj, src, n), out);
}

/* A map stage of oj over the reduced batches of n in (from, until],
 * shuffled into n's state partitions; NULL when none of them exists. */
static stage *batches_stage(ojob *oj, batch *src, const Sluice__Node *n, int64_t from,
                            int64_t until)
{
	job *j = oj->b->job;
	parts in = {0};
	for (int64_t t = from + j->interval_ms; t <= until; t += j->interval_ms) {
		batch *b = t == src->time_ms ? src : batch_at(j, t);
		if (b != NULL)
			window_reduced(oj, b, n, &in);
	}
	if (in.n == 0) {
		sl_free(in.v);
		return NULL;
	}
	return map_stage_new(oj, src, n, &in);
}

/* reduce_by_key_and_window with the inverse (Spark's incremental form):
 * the batches that entered the window since the last slide and those that
 * left it, each reduced per batch and then into n's state partitions, read
 * by one state task per partition that keeps the window's values
 * (worker/stateops.c). A partition that lost its state (stateplan.h:
 * recompute) is recomputed from every batch of the window instead, so
 * then all partitions are: the entering stage covers the whole window. */
static void incremental_parts(ojob *oj, batch *src, const Sluice__Node *n, parts *out)
{
	job *j = oj->b->job;
	int64_t t = src->time_ms;
	uint32_t nparts = stateplan_parts(j, n, default_reducers(j));
	bool full = stateplan_take_recompute(j, n->id);
	stage *in = batches_stage(oj, src, n, t - (full ? n->length_ms : n->slide_ms), t);
	stage *left = full ? NULL
	                   : batches_stage(oj, src, n, t - n->slide_ms - n->length_ms,
	                                   t - n->length_ms);
	for (uint32_t r = 0; r < nparts; r++) {
		part *p = parts_add(out);
		p->in.kind = TIN_SHUFFLE;
		p->in.parent = in;
		p->in.right = left;
		p->in.reduce_partition = r;
		p->in.source_node = n->id;
		p->in.recompute = full;
	}
}

static uint32_t node_reducers(job *j, const Sluice__Node *n)
{
	return n->partitions ? n->partitions : default_reducers(j);
}

/* Whether join n reads its sides' own shuffles (Spark's shared
 * partitioner): both sides are keyed reductions (reduce/count/group by key,
 * reduce_by_key_and_window, count_by_value_and_window: their reduce output
 * is hash-partitioned by key) into the same number of partitions, and the
 * join asks for that number or for 0 (the default: then it takes theirs).
 * Its reduce task then reduces each side's partition itself and joins
 * them: no second shuffle of either side. */
static bool join_shares_sides(job *j, const Sluice__Node *n)
{
	uint32_t np[2];
	for (int k = 0; k < 2; k++) {
		const Sluice__Node *in = graph_node(j->graph, n->inputs[k]);
		if (graph_is_incremental_window(in))
			return false; /* its output is its state tasks' */
		switch (in->kind) {
		case SLUICE__NODE_KIND__OP_REDUCE_BY_KEY:
		case SLUICE__NODE_KIND__OP_COUNT_BY_KEY:
		case SLUICE__NODE_KIND__OP_GROUP_BY_KEY:
		case SLUICE__NODE_KIND__OP_REDUCE_BY_KEY_AND_WINDOW:
		case SLUICE__NODE_KIND__OP_COUNT_BY_VALUE_AND_WINDOW:
			break;
		default:
			return false;
		}
		np[k] = node_reducers(j, in);
	}
	return np[0] == np[1] && (n->partitions == 0 || n->partitions == np[0]);
}

/* The two map stages of join node n over batch src (left, right): the
 * sides' own shuffles when partitioned alike (join_shares_sides), else the
 * ones src keeps when an output job planned them, else new ones (kept in
 * src when src is the batch being planned, as shuffle_stage does). */
static void join_stages(ojob *oj, batch *src, const Sluice__Node *n, stage *side[2])
{
	job *j = oj->b->job;
	if (join_shares_sides(j, n)) {
		for (int k = 0; k < 2; k++) {
			const Sluice__Node *in = graph_node(j->graph, n->inputs[k]);
			side[k] = graph_is_batch_window(in->kind)
			              ? window_final_stage(oj, src, in)
			              : shuffle_stage(oj, src, in);
		}
		if (side[0]->num_reducers == side[1]->num_reducers)
			return; /* else planned apart (the slots changed): reshuffle */
	}
	for (size_t i = 0; i + 1 < src->njoins; i += 2)
		if (src->joins[i]->shuffle_node == n->id) {
			side[0] = src->joins[i];
			side[1] = src->joins[i + 1];
			if (src != oj->b) {
				stage_borrow(oj, side[0]);
				stage_borrow(oj, side[1]);
			}
			return;
		}
	for (int k = 0; k < 2; k++) {
		parts in = {0};
		node_parts(oj, src, n->inputs[k], &in);
		side[k] = map_stage_new(oj, src, n, &in);
	}
	side[1]->num_reducers = side[0]->num_reducers; /* partitioned alike */
	if (src == oj->b) {
		src->joins =
		    sl_realloc(src->joins, (src->njoins + 2) * sizeof(*src->joins));
		src->joins[src->njoins++] = side[0];
		src->joins[src->njoins++] = side[1];
	}
}

/* A join or cogroup: each side hash-partitioned by key into its own map
 * stage, then one reduce task per partition reads both (worker/cogroup.c). */
static void join_parts(ojob *oj, batch *src, const Sluice__Node *n, parts *out)
{
	stage *side[2];
	join_stages(oj, src, n, side);
	for (uint32_t r = 0; r < side[0]->num_reducers; r++) {
		part *p = parts_add(out);
		p->in.kind = TIN_SHUFFLE;
		p->in.parent = side[0];
		p->in.right = side[1];
		p->in.reduce_partition = r;
		p->in.source_node = n->id; /* the join, when side[0] is not its shuffle */
	}
}

static void node_parts(ojob *oj, batch *src, uint32_t id, parts *out)
{
	const Sluice__Node *n = graph_node(oj->b->job->graph, id);
	if (graph_is_source(n->kind)) {
		source_parts(oj, src, n, out);
	} else if (n->kind == SLUICE__NODE_KIND__OP_WINDOW) {
		window_each(oj, src, n, window_input, out); /* not in the chain */
	} else if (graph_is_incremental_window(n)) {
		incremental_parts(oj, src, n, out);
	} else if (graph_is_batch_window(n->kind)) {
		reduce_window_parts(oj, src, n, out); /* the windowed reductions */
	} else if (graph_is_shuffle(n->kind) || graph_is_stateful(n->kind)) {
		/* a stateful node: shuffled by key into its state partitions,
		 * each task run where its state lives (plan_task_pin) */
		reduce_parts(shuffle_stage(oj, src, n), out);
	} else if (graph_is_join(n->kind)) {
		join_parts(oj, src, n, out);
	} else if (n->kind == SLUICE__NODE_KIND__OP_UNION) {
		for (size_t i = 0; i < n->n_inputs; i++)
			node_parts(oj, src, n->inputs[i], out);
	} else {
		size_t first = out->n;
		node_parts(oj, src, n->inputs[0], out);
		for (size_t i = first; i < out->n; i++)
			part_push_chain(&out->v[i], n->id);
	}
}

/* Whether an output reads a window that slides past this batch: a windowed
 * stream has data only at batch times that are multiples of its slide. */
static bool output_due(const Sluice__JobGraph *g, uint32_t id, int64_t t)
{
	const Sluice__Node *n = graph_node(g, id);
	if (graph_is_batch_window(n->kind) && n->slide_ms > 0 && t % n->slide_ms != 0)
		return false;
	for (size_t i = 0; i < n->n_inputs; i++)
		if (!output_due(g, n->inputs[i], t))
			return false;
	return true;
}

int64_t plan_retention_ms(const Sluice__JobGraph *g, int64_t interval_ms)
{
	int64_t ms = 0;
	for (size_t i = 0; i < g->n_nodes; i++)
		if (graph_is_batch_window(g->nodes[i]->kind) &&
		    g->nodes[i]->length_ms > interval_ms)
			/* the incremental form reads the batches leaving the window:
			 * one slide further back */
			ms += g->nodes[i]->length_ms - interval_ms +
			      (graph_is_incremental_window(g->nodes[i])
			           ? g->nodes[i]->slide_ms
			           : 0);
	return ms;
}

static void stage_link_parent(stage *st, stage *parent)
{
	if (parent == NULL)
		return;
	for (size_t k = 0; k < st->nparents; k++)
		if (st->parents[k] == parent)
			return;
	st->parents = sl_realloc(st->parents, (st->nparents + 1) * sizeof(*st->parents));
	st->parents[st->nparents++] = parent;
}

static void stage_link_parents(stage *st)
{
	for (size_t t = 0; t < st->ntasks; t++)
		if (st->tasks[t]->in.kind == TIN_SHUFFLE) {
			stage_link_parent(st, st->tasks[t]->in.parent);
			stage_link_parent(st, st->tasks[t]->in.right); /* a join's */
		}
}

static void result_output(ojob *oj, const Sluice__Node *out)
{
	stage_out *so = &oj->result->out;
	so->node = out->id;
	switch (out->kind) {
	case SLUICE__NODE_KIND__OUT_PRINT:
		so->kind = SLUICE__TASK_OUTPUT__KIND__PRINT;
		so->print_limit = out->num;
		break;
	case SLUICE__NODE_KIND__OUT_SAVE_TEXT: {
		const char *sfx = out->suffix && out->suffix[0] ? out->suffix : NULL;
		oj->save_final =
		    sfx ? sl_asprintf("%s-%lld.%s", out->path, (long long)oj->b->time_ms,
		                      sfx)
		        : sl_asprintf("%s-%lld", out->path, (long long)oj->b->time_ms);
		/* per master epoch: tasks of a run cut short by a master restart
		 * may still write into theirs, never into the re-run's */
		oj->save_tmp =
		    sl_asprintf("%s.tmp-e%u", oj->save_final, oj->b->job->e->epoch);
		so->kind = SLUICE__TASK_OUTPUT__KIND__SAVE;
		so->save_dir = oj->save_tmp;
		break;
	}
	case SLUICE__NODE_KIND__OUT_KAFKA:
		so->kind = SLUICE__TASK_OUTPUT__KIND__KAFKA;
		break;
	default:
		so->kind = SLUICE__TASK_OUTPUT__KIND__FOREACH;
	}
}

/* A save output published by an earlier run of this batch (a master that
 * died before checkpointing the commit): committed, so not run again. */
static bool save_published(ojob *oj)
{
	struct stat st;
	if (oj->save_final == NULL || stat(oj->save_final, &st) != 0 ||
	    !S_ISDIR(st.st_mode))
		return false;
	log_info("job %s batch %lld: output %u was already published as %s; not "
	         "re-run",
	         oj->b->job->name, (long long)oj->b->time_ms, oj->index, oj->save_final);
	oj->state = OJ_DONE;
	oj->b->ojobs_ended++;
	job_checkpoint(oj->b->job);
	return true;
}

static void ojob_maybe_complete(ojob *oj);
static bool plan_stage_live(const stage *s);

void ojob_plan(ojob *oj)
{
	const Sluice__Node *out = graph_node(oj->b->job->graph, oj->output_node);
	if (!output_due(oj->b->job->graph, oj->output_node, oj->b->time_ms)) {
		oj->state = OJ_DONE; /* its window does not slide past this batch */
		oj->b->ojobs_ended++;
		return;
	}
	parts p = {0};
	node_parts(oj, oj->b, out->inputs[0], &p);
	/* print shows nothing of an empty partition (its header is the
	 * master's); a save writes a part file and foreach_partition calls the
	 * user per partition, empty or not, and a Kafka output's tasks are
	 * kept as they are: those run as planned */
	if (out->kind == SLUICE__NODE_KIND__OUT_PRINT)
		parts_drop_empty(oj->b->job, &p);
	stage *s = stage_new(oj, false);
	stage_take_parts(s, &p);
	oj->result = s;
	for (size_t i = 0; i < oj->nstages; i++)
		stage_link_parents(oj->stages[i]);
	result_output(oj, out);
	oj->state = OJ_RUNNING;
	if (save_published(oj))
		return;
	/* map stages first: registration order is scheduling order */
	for (size_t i = 0; i < oj->nstages; i++)
		sched_add_stage(oj->b->job->e->sched, oj->stages[i]);
	ojob_maybe_complete(oj); /* nothing to run: done at once */
}

static void stage_free(sched *sc, stage *s)
{
	sched_remove_stage(sc, s);
	for (size_t i = 0; i < s->ntasks; i++) {
		mtask *t = s->tasks[i];
		sl_free(t->in.file);
		sl_free(t->chain);
		for (size_t k = 0; k < t->nlines; k++)
			sl_free(t->lines[k]);
		sl_free(t->lines);
		sl_free(t);
	}
	sl_free(s->tasks);
	sl_free(s->parents);
	sl_free(s->users);
	sl_free(s);
}

void ojob_reset(ojob *oj)
{
	batch *b = oj->b;
	plan_stats ps = {0};
	for (size_t s = 0; s < oj->nstages; s++) {
		ps.tasks += oj->stages[s]->launches;
		ps.task_failures += oj->stages[s]->failures;
		stage_free(b->job->e->sched, oj->stages[s]);
	}
	b->tasks += ps.tasks; /* counted in the batch's totals still */
	b->task_failures += ps.task_failures;
	sl_free(oj->stages);
	sl_free(oj->save_tmp);
	sl_free(oj->save_final);
	oj->stages = NULL;
	oj->nstages = 0;
	oj->result = NULL;
	oj->save_tmp = oj->save_final = NULL;
	oj->state = OJ_WAITING;
}

void ojob_free(ojob *oj)
{
	for (size_t s = 0; s < oj->nstages; s++)
		stage_free(oj->b->job->e->sched, oj->stages[s]);
	sl_free(oj->stages);
	sl_free(oj->save_tmp);
	sl_free(oj->save_final);
	sl_free(oj);
}

/* oj stops reading the stages it borrowed from earlier batches; one no
 * running output job uses any more leaves the scheduler. */
static void ojob_unborrow(ojob *oj)
{
	for (size_t i = 0; i < oj->nstages; i++)
		for (size_t k = 0; k < oj->stages[i]->nparents; k++) {
			stage *p = oj->stages[i]->parents[k];
			size_t n = 0;
			for (size_t u = 0; u < p->nusers; u++)
				if (p->users[u] != oj)
					p->users[n++] = p->users[u];
			p->nusers = n;
			if (((ojob *)p->owner)->b != oj->b && p->registered &&
			    !plan_stage_live(p))
				sched_remove_stage(oj->b->job->e->sched, p);
		}
}

void plan_release_batch(batch *b)
{
	for (size_t o = 0; o < b->nojobs; o++) {
		for (size_t s = 0; s < b->ojobs[o]->nstages; s++)
			sched_remove_stage(b->job->e->sched, b->ojobs[o]->stages[s]);
		ojob_unborrow(b->ojobs[o]);
	}
}

plan_stats plan_batch_stats(const batch *b)
{
	plan_stats ps = {.tasks = b->tasks, .task_failures = b->task_failures};
	for (size_t o = 0; o < b->nojobs; o++)
		for (size_t s = 0; s < b->ojobs[o]->nstages; s++) {
			const stage *st = b->ojobs[o]->stages[s];
			ps.tasks += st->launches;
			ps.task_failures += st->failures;
			if (st->first_task_wall != 0 &&
			    (ps.first_task_wall == 0 ||
			     st->first_task_wall < ps.first_task_wall))
				ps.first_task_wall = st->first_task_wall;
		}
	return ps;
}

void ojob_fail(ojob *oj, const char *fmt, ...)
{
	if (oj->state != OJ_RUNNING)
		return;
	batch *b = oj->b;
	va_list ap;
	va_start(ap, fmt);
	if (b->error[0] == '\0')
		vsnprintf(b->error, sizeof(b->error), fmt, ap);
	va_end(ap);
	oj->state = OJ_FAILED;
	b->ojobs_ended++;
	log_error("job %s batch %lld: output %u failed: %s", b->job->name,
	          (long long)b->time_ms, oj->index, b->error);
}

static bool ojob_uses(const ojob *oj, const stage *s)
{
	if (s->owner == oj)
		return true;
	for (size_t i = 0; i < oj->nstages; i++)
		for (size_t k = 0; k < oj->stages[i]->nparents; k++)
			if (oj->stages[i]->parents[k] == s)
				return true;
	return false;
}

static bool plan_stage_live(const stage *s)
{
	const batch *b = ((const ojob *)s->owner)->b;
	for (size_t i = 0; i < b->nojobs; i++)
		if (b->ojobs[i]->state == OJ_RUNNING && ojob_uses(b->ojobs[i], s))
			return true;
	for (size_t i = 0; i < s->nusers; i++) /* windows of later batches */
		if (((const ojob *)s->users[i])->state == OJ_RUNNING)
			return true;
	return false;
}

static void plan_stage_failed(stage *s, const char *why)
{
	batch *b = ((ojob *)s->owner)->b;
	for (size_t i = 0; i < b->nojobs; i++)
		if (b->ojobs[i]->state == OJ_RUNNING && ojob_uses(b->ojobs[i], s))
			ojob_fail(b->ojobs[i], "%s", why);
	for (size_t i = 0; i < s->nusers; i++)
		ojob_fail(s->users[i], "%s", why); /* no-op unless running */
}

static void print_output(ojob *oj)
{
	batch *b = oj->b;
	const Sluice__Node *n = graph_node(b->job->graph, oj->output_node);
	size_t shown = 0;
	char *head =
	    sl_asprintf("-------------------------------------------\nTime: %lld ms "
	                "(%s)\n-------------------------------------------",
	                (long long)b->time_ms, b->job->name);
	printf("%s\n", head);
	sl_free(head);
	for (size_t i = 0; i < oj->result->ntasks && shown < n->num; i++) {
		mtask *t = oj->result->tasks[i];
		for (size_t k = 0; k < t->nlines && shown < n->num; k++, shown++) {
			printf("%s\n", t->lines[k]);
			b->output =
			    sl_realloc(b->output, (b->noutput + 1) * sizeof(char *));
			b->output[b->noutput++] = sl_strdup(t->lines[k]);
		}
	}
	printf("\n");
	fflush(stdout);
}

static int save_commit(ojob *oj)
{
	char err[512];
	if (proc_mkdirs_parent(oj->save_tmp, err, sizeof(err)) != SL_OK)
		return -1;
	if (mkdir(oj->save_tmp, 0755) != 0 && errno != EEXIST)
		return -1;
	char *ok = sl_asprintf("%s/_SUCCESS", oj->save_tmp);
	FILE *f = fopen(ok, "w");
	sl_free(ok);
	if (f != NULL)
		fclose(f);
	return rename(oj->save_tmp, oj->save_final);
}

static void ojob_complete(ojob *oj)
{
	const Sluice__Node *n = graph_node(oj->b->job->graph, oj->output_node);
	if (n->kind == SLUICE__NODE_KIND__OUT_PRINT)
		print_output(oj);
	if (n->kind == SLUICE__NODE_KIND__OUT_SAVE_TEXT && save_commit(oj) != 0) {
		ojob_fail(oj, "cannot publish %s: %s", oj->save_final, strerror(errno));
		return;
	}
	oj->state = OJ_DONE;
	oj->b->ojobs_ended++;
	job_checkpoint(oj->b->job); /* this output is committed: never re-run */
}

static void ojob_maybe_complete(ojob *oj)
{
	if (oj->state == OJ_RUNNING && oj->result->done == oj->result->ntasks)
		ojob_complete(oj);
}

static void plan_task_done(stage *s, mtask *t, const Sluice__TaskStatus *st)
{
	ojob *oj = s->owner;
	if (t->in.kind == TIN_SHUFFLE && t->in.parent != NULL) /* a state task? */
		stateplan_task_done(oj->b->job, t->in.parent->shuffle_node,
		                    t->in.reduce_partition, oj->b->time_ms, st);
	if (s == oj->result && st->n_lines > 0) {
		t->lines = sl_calloc(st->n_lines, sizeof(char *));
		for (size_t i = 0; i < st->n_lines; i++)
			t->lines[i] = sl_strdup(st->lines[i]);
		t->nlines = st->n_lines;
	}
	ojob_maybe_complete(oj);
}

static void plan_task_launched(stage *s, mtask *t, const char *worker)
{
	if (t->in.kind == TIN_KAFKA)
		kafka_note_worker(&((ojob *)s->owner)->b->job->kafka, t->in.kr->topic,
		                  t->in.kr->partition, worker);
}

/* A state partition's task runs on the worker holding its state. */
static bool plan_task_pin(stage *s, const mtask *t, task_pinning *out)
{
	if (t->in.kind != TIN_SHUFFLE || t->in.parent == NULL)
		return false;
	job *j = ((ojob *)s->owner)->b->job;
	const Sluice__Node *n = graph_node(j->graph, t->in.parent->shuffle_node);
	return n != NULL && graph_node_stateful(n) &&
	       stateplan_worker(j, n->id, t->in.reduce_partition,
	                        ((ojob *)s->owner)->b->time_ms, out);
}

const sched_ops plan_sched_ops = {
    .stage_live = plan_stage_live,
    .task_done = plan_task_done,
    .stage_failed = plan_stage_failed,
    .task_launched = plan_task_launched,
    .task_pin = plan_task_pin,
};
