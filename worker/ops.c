/*
 * Running one task: input -> fused chain of narrow operators -> sink.
 *
 * The chain is a push pipeline: each operator is an sl_emitter whose emit
 * calls the user function with the next operator as its output, so a record
 * goes from the input to the sink without being buffered between operators
 * (Spark's pipelining of narrow transformations within a stage).
 *
 * Inputs: generator indices, receiver blocks (local, else fetched from a
 * holder), text files, or the shuffle buckets of a parent map stage, reduced,
 * counted, grouped or collected on the reduce side according to the shuffle
 * node, or joined with a second parent's (a join: cogroup.h). Sinks:
 * shuffle buckets (hash-partitioned, with map-side combine for reduce_by_key
 * and the counts), print lines, a part file of a save_as_text_files
 * directory, or a foreach_partition call.
 *
 * A missing receiver block fails the task (retried; the block may come back
 * with its replica's holder); a missing shuffle bucket is FETCH_FAILED so
 * the master recomputes that map output instead.
 */
#include "alloc.h"
#include "api.h"
#include "cogroup.h"
#include "kvmap.h"
#include "log.h"
#include "msgtypes.h"
#include "proc.h"
#include "sluice/err.h"
#include "stateops.h"
#include "wengine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct task_run task_run;

/* What a shuffle sink puts in its buckets per record: the record combined
 * with the node's reduce, or a count of 1 under the record's key
 * (count_by_key), under the empty key (count_by_window) or under its value
 * (count_by_value_and_window). The final stage of a windowed count sums
 * the batches' counts as they are. */
typedef enum { SHK_AS_IS, SHK_COUNT_KEY, SHK_COUNT_ALL, SHK_COUNT_VALUE } shuffle_keying;

typedef struct {
	sl_emitter base;
	task_run *tr;
	const Sluice__Node *node;
	void *fn;
	sl_emitter *next;
} op_em;

struct task_run {
	wengine *we;
	wjob *j;
	const Sluice__TaskSpec *ts;
	const Sluice__JobGraph *g;
	Sluice__TaskStatus *st;
	api_task api;
	op_em *ops;
	sl_emitter *head;
	sl_emitter sink;
	/* shuffle sink */
	uint32_t nred;
	rbuf *buckets;
	kvmap **maps;
	sl_reduce_fn combine;
	bool sum_i64; /* combine is the built-in i64 sum (or a count) */
	Sluice__NodeKind shuffle_kind;
	shuffle_keying keying;
	uint64_t rr;
	/* print / save / foreach sinks */
	char **lines;
	size_t nlines;
	FILE *save;
	rbuf collect;
	int val_fmt;
	char *fmtbuf;
	size_t fmtcap;
	/* outcome */
	Sluice__TaskStatus__State state;
	char err[512];
	char missing[32];
	struct reduce_state *rs; /* reduce side of a shuffle input */
	kafka_out *kout;         /* kafka sink */
	bool kdone;              /* this batch's output was committed before */
};

static int fail(task_run *tr, Sluice__TaskStatus__State state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(task_run *tr, Sluice__TaskStatus__State state, const char *fmt, ...)
{
	if (tr->state == SLUICE__TASK_STATUS__STATE__FINISHED) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(tr->err, sizeof(tr->err), fmt, ap);
		va_end(ap);
		tr->state = state;
	}
	return SL_EUSER;
}

static int user_failed(task_run *tr, const Sluice__Node *n, int rv)
{
	return fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
	            "user function '%s' (%s, node %u) returned %d", n->fn,
	            graph_kind_name(n->kind), n->id, rv);
}

/* ---- the operator chain ---- */

static int op_emit(sl_emitter *self, const sl_record *r)
{
	op_em *op = (op_em *)self;
	int rv;
	if (op->tr->state != SLUICE__TASK_STATUS__STATE__FINISHED)
		return SL_EUSER;
	if (op->node->kind == SLUICE__NODE_KIND__OP_FILTER) {
		rv = ((sl_filter_fn)op->fn)(r);
		if (rv < 0)
			return user_failed(op->tr, op->node, rv);
		return rv > 0 ? op->next->emit(op->next, r) : 0;
	}
	if (op->node->kind == SLUICE__NODE_KIND__OP_ASSIGN_EVENT_TIME) {
		sl_record timed = *r;
		rv = ((sl_event_time_fn)op->fn)(r, &timed.event_time_ms);
		if (rv != 0)
			return user_failed(op->tr, op->node, rv);
		return op->next->emit(op->next, &timed);
	}
	rv = ((sl_map_fn)op->fn)(r, op->next);
	if (rv != 0)
		return op->tr->state != SLUICE__TASK_STATUS__STATE__FINISHED
		           ? rv
		           : user_failed(op->tr, op->node, rv);
	return 0;
}

/* The fused word count (builtin_split_count) standing in for the last two
 * operators split -> pair and the combine of the shuffle sink. */
static int op_split_count(sl_emitter *self, const sl_record *r)
{
	task_run *tr = ((op_em *)self)->tr;
	tr->st->records_out += builtin_split_count(r, tr->maps, tr->nred);
	return 0;
}

/* Fuses the chain's tail when it is exactly sl_split_words -> sl_pair_one
 * into a shuffle sink summing i64 values (or counting keys): the common word
 * count then runs in one pass per line instead of three calls per word. */
static void chain_fuse(task_run *tr)
{
	size_t n = tr->ts->n_chain;
	if (n < 2 || tr->maps == NULL ||
	    !((tr->sum_i64 && tr->keying == SHK_AS_IS) || tr->keying == SHK_COUNT_KEY))
		return;
	void *const *fns = tr->j->fns;
	const uint32_t *chain = tr->ts->chain;
	if (fns[chain[n - 2]] != builtin_find("sl_split_words", NULL) ||
	    fns[chain[n - 1]] != builtin_find("sl_pair_one", NULL))
		return;
	tr->ops[n - 2].base.emit = op_split_count;
}

static void chain_build(task_run *tr)
{
	const Sluice__TaskSpec *ts = tr->ts;
	tr->ops = sl_calloc(ts->n_chain + 1, sizeof(op_em));
	sl_emitter *next = &tr->sink;
	for (size_t i = ts->n_chain; i-- > 0;) {
		op_em *op = &tr->ops[i];
		op->base.emit = op_emit;
		op->tr = tr;
		op->node = graph_node(tr->g, ts->chain[i]);
		op->fn = tr->j->fns[ts->chain[i]];
		op->next = next;
		next = &op->base;
	}
	tr->head = next;
}

/* ---- formatting for print and save ---- */

static int effective_format(const Sluice__JobGraph *g, uint32_t id)
{
	for (int guard = 0; guard < 10000; guard++) {
		const Sluice__Node *n = graph_node(g, id);
		if (n->value_format != 0)
			return n->value_format;
		if (n->kind != SLUICE__NODE_KIND__OP_FILTER &&
		    n->kind != SLUICE__NODE_KIND__OP_REPARTITION &&
		    n->kind != SLUICE__NODE_KIND__OP_UNION &&
		    n->kind != SLUICE__NODE_KIND__OP_WINDOW)
			return 0;
		id = n->inputs[0];
	}
	return 0;
}

static void fmt_put(task_run *tr, size_t *len, const void *p, size_t n)
{
	if (*len + n + 32 > tr->fmtcap) {
		tr->fmtcap = (*len + n + 32) * 2;
		tr->fmtbuf = sl_realloc(tr->fmtbuf, tr->fmtcap);
	}
	if (n > 0) /* p may be NULL for an empty value */
		memcpy(tr->fmtbuf + *len, p, n);
	*len += n;
}

/* A value list as "[a,b]", an absent element as "null"; with nested set,
 * each element is itself a list (cogroup). A malformed list ends at the
 * damage, marked "...". */
static void fmt_list(task_run *tr, size_t *len, const uint8_t *v, uint32_t vlen,
                     bool nested)
{
	uint32_t off = 0, elen;
	const uint8_t *e;
	int rv;
	fmt_put(tr, len, "[", 1);
	for (bool first = true; (rv = sl_list_next(v, vlen, &off, &e, &elen)) > 0;
	     first = false) {
		if (!first)
			fmt_put(tr, len, ",", 1);
		if (e == NULL)
			fmt_put(tr, len, "null", 4);
		else if (nested)
			fmt_list(tr, len, e, elen, false);
		else
			fmt_put(tr, len, e, elen);
	}
	if (rv < 0)
		fmt_put(tr, len, "...", 3);
	fmt_put(tr, len, "]", 1);
}

static void fmt_value(task_run *tr, size_t *len, const uint8_t *v, uint32_t vlen)
{
	char num[32];
	if (tr->val_fmt == SLUICE__VALUE_FORMAT__FORMAT_I64 && vlen == 8) {
		int n = snprintf(num, sizeof(num), "%" PRId64, sl_i64_decode(v, 8));
		fmt_put(tr, len, num, (size_t)n);
	} else if (tr->val_fmt == SLUICE__VALUE_FORMAT__FORMAT_LIST_TEXT ||
	           tr->val_fmt == SLUICE__VALUE_FORMAT__FORMAT_LIST_LISTS) {
		fmt_list(tr, len, v, vlen,
		         tr->val_fmt == SLUICE__VALUE_FORMAT__FORMAT_LIST_LISTS);
	} else {
		fmt_put(tr, len, v, vlen);
	}
}

/* Formats a record as a line: "key<TAB>value" or "value". */
static const char *fmt_record(task_run *tr, const sl_record *r, size_t *len)
{
	*len = 0;
	if (r->key_len > 0) {
		fmt_put(tr, len, r->key, r->key_len);
		fmt_put(tr, len, "\t", 1);
	}
	fmt_value(tr, len, r->value, r->value_len);
	tr->fmtbuf[*len] = '\0';
	return tr->fmtbuf;
}

/* ---- hash map sizes from the previous batch ---- */

/* The number of keys the last task of a shuffle put in one map (largest
 * bucket on the map side; its partition on the reduce side), by (job,
 * shuffle node, side): the next batch's maps start at that size instead of
 * growing through every power of two. A small direct-mapped cache: a
 * collision only costs the rehashes the hint would have saved. */
#define HINT_SLOTS 64

static struct {
	uint64_t job;
	uint32_t node;
	bool reduce;
	size_t keys;
} keys_hints[HINT_SLOTS];
static pthread_mutex_t keys_hints_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t hint_slot(uint64_t job, uint32_t node, bool reduce)
{
	return (size_t)((job * 31 + node * 2 + reduce) % HINT_SLOTS);
}

static size_t keys_hint_get(uint64_t job, uint32_t node, bool reduce)
{
	size_t i = hint_slot(job, node, reduce), keys = 0;
	pthread_mutex_lock(&keys_hints_lock);
	if (keys_hints[i].job == job && keys_hints[i].node == node &&
	    keys_hints[i].reduce == reduce)
		keys = keys_hints[i].keys;
	pthread_mutex_unlock(&keys_hints_lock);
	return keys;
}

static void keys_hint_set(uint64_t job, uint32_t node, bool reduce, size_t keys)
{
	size_t i = hint_slot(job, node, reduce);
	pthread_mutex_lock(&keys_hints_lock);
	keys_hints[i].job = job;
	keys_hints[i].node = node;
	keys_hints[i].reduce = reduce;
	keys_hints[i].keys = keys;
	pthread_mutex_unlock(&keys_hints_lock);
}

/* ---- sinks ---- */

/* reduce_by_key, and reduce_by_key_and_window as the master plans it: each
 * batch of the window reduced by key, then the window's batches reduced
 * again, both with the node's reduce function (master/plan.c). */
static bool reduces_by_key(Sluice__NodeKind k)
{
	return k == SLUICE__NODE_KIND__OP_REDUCE_BY_KEY ||
	       k == SLUICE__NODE_KIND__OP_REDUCE_BY_KEY_AND_WINDOW;
}

/* The shuffles that count records into i64 values per key, summed on the
 * reduce side (the windowed ones at both levels, as plan.c plans them). */
static bool counts_i64(Sluice__NodeKind k)
{
	return k == SLUICE__NODE_KIND__OP_COUNT_BY_KEY ||
	       k == SLUICE__NODE_KIND__OP_COUNT_BY_WINDOW ||
	       k == SLUICE__NODE_KIND__OP_COUNT_BY_VALUE_AND_WINDOW;
}

/* The keying of a task's shuffle sink over node sn: a windowed count's
 * final stage reads the shuffle of its own node (the batches' counts). */
static shuffle_keying keying_of(const Sluice__TaskSpec *ts, const Sluice__Node *sn)
{
	bool final = ts->input->kind == SLUICE__TASK_INPUT__KIND__SHUFFLE &&
	             ts->input->shuffle_node == sn->id;
	if (sn->kind == SLUICE__NODE_KIND__OP_COUNT_BY_KEY)
		return SHK_COUNT_KEY;
	if (sn->kind == SLUICE__NODE_KIND__OP_COUNT_BY_WINDOW && !final)
		return SHK_COUNT_ALL;
	if (sn->kind == SLUICE__NODE_KIND__OP_COUNT_BY_VALUE_AND_WINDOW && !final)
		return SHK_COUNT_VALUE;
	return SHK_AS_IS;
}

/* Reducer bucket of a key: FNV-1a 64 of the key mod the reducer count. */
static uint32_t bucket_of(uint64_t h, uint32_t nred)
{
	return (uint32_t)(h % nred);
}

static int sink_shuffle(sl_emitter *self, const sl_record *r)
{
	task_run *tr = self->arg;
	tr->st->records_out++;
	if (tr->shuffle_kind == SLUICE__NODE_KIND__OP_REPARTITION) {
		rbuf_append_record(&tr->buckets[tr->rr++ % tr->nred], r);
		return 0;
	}
	const uint8_t *key = r->key_len > 0 ? r->key : (const uint8_t *)"";
	uint32_t klen = r->key_len;
	if (tr->keying == SHK_COUNT_VALUE) {
		key = r->value_len > 0 ? r->value : (const uint8_t *)"";
		klen = r->value_len;
	} else if (tr->keying == SHK_COUNT_ALL) {
		key = (const uint8_t *)"";
		klen = 0;
	}
	uint64_t h = kvmap_hash(key, klen);
	uint32_t b = bucket_of(h, tr->nred);
	if (tr->maps == NULL) {
		rbuf_append_record(&tr->buckets[b], r);
		return 0;
	}
	int rv;
	if (tr->keying != SHK_AS_IS)
		rv = kvmap_add_i64(tr->maps[b], h, key, klen, 1);
	else if (tr->sum_i64 && r->value_len == 8)
		rv = kvmap_add_i64(tr->maps[b], h, r->key, r->key_len,
		                   sl_i64_decode(r->value, 8));
	else
		rv = kvmap_combine_h(tr->maps[b], h, r->key, r->key_len, r->value,
		                     r->value_len, tr->combine);
	if (rv != 0) {
		const Sluice__Node *n = graph_node(tr->g, tr->ts->output->shuffle_node);
		return user_failed(tr, n, rv);
	}
	return 0;
}

static int sink_print(sl_emitter *self, const sl_record *r)
{
	task_run *tr = self->arg;
	size_t len;
	tr->st->records_out++;
	if (tr->nlines < tr->ts->output->print_limit) {
		fmt_record(tr, r, &len);
		tr->lines = sl_realloc(tr->lines, (tr->nlines + 1) * sizeof(char *));
		tr->lines[tr->nlines++] = sl_strndup(tr->fmtbuf, len);
	}
	return 0;
}

static int sink_save(sl_emitter *self, const sl_record *r)
{
	task_run *tr = self->arg;
	size_t len;
	tr->st->records_out++;
	fmt_record(tr, r, &len);
	tr->fmtbuf[len] = '\n';
	if (fwrite(tr->fmtbuf, 1, len + 1, tr->save) != len + 1)
		return fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
		            "writing part file: %s", strerror(errno));
	return 0;
}

static int sink_kafka(sl_emitter *self, const sl_record *r)
{
	task_run *tr = self->arg;
	char err[512];
	tr->st->records_out++;
	if (tr->kdone)
		return 0;
	int rv = kafka_out_write(tr->kout, r, err, sizeof(err));
	return rv == SL_OK ? 0 : fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "%s", err);
}

static int sink_kafka_open(task_run *tr)
{
	char err[512];
	const Sluice__Node *n = graph_node(tr->g, tr->ts->output->output_node);
	tr->sink.emit = sink_kafka;
	int rv = kafka_out_open(wengine_kafka(tr->we), tr->j->info->name, n,
	                        tr->ts->batch_ms, tr->ts->partition, tr->ts->attempt,
	                        &tr->kout, &tr->kdone, err, sizeof(err));
	if (rv != SL_OK)
		return fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "%s", err);
	if (tr->kdone)
		log_info("batch %lld partition %u: output already committed to %s; not "
		         "written "
		         "again",
		         (long long)tr->ts->batch_ms, tr->ts->partition, n->topics);
	return SL_OK;
}

static int sink_collect(sl_emitter *self, const sl_record *r)
{
	task_run *tr = self->arg;
	tr->st->records_out++;
	rbuf_append_record(&tr->collect, r);
	return 0;
}

static char *part_path(task_run *tr, bool tmp)
{
	return sl_asprintf("%s/part-%05u%s", tr->ts->output->save_dir, tr->ts->partition,
	                   tmp ? ".inprogress" : "");
}

static int sink_open(task_run *tr)
{
	const Sluice__TaskOutput *o = tr->ts->output;
	tr->sink.arg = tr;
	const Sluice__Node *on = graph_node(tr->g, o->output_node);
	if (graph_is_output(on->kind))
		tr->val_fmt = effective_format(tr->g, on->inputs[0]);
	switch (o->kind) {
	case SLUICE__TASK_OUTPUT__KIND__SHUFFLE: {
		const Sluice__Node *sn = graph_node(tr->g, o->shuffle_node);
		tr->sink.emit = sink_shuffle;
		tr->nred = o->num_reducers;
		tr->shuffle_kind = sn->kind;
		tr->buckets = sl_calloc(tr->nred, sizeof(rbuf));
		tr->keying = keying_of(tr->ts, sn);
		if (reduces_by_key(sn->kind) || counts_i64(sn->kind)) {
			size_t hint = keys_hint_get(tr->ts->job_id, sn->id, false);
			tr->maps = sl_calloc(tr->nred, sizeof(kvmap *));
			for (uint32_t i = 0; i < tr->nred; i++)
				tr->maps[i] = kvmap_new_sized(hint);
			tr->combine =
			    reduces_by_key(sn->kind)
			        ? (sl_reduce_fn)tr->j->fns[sn->id]
			        : (sl_reduce_fn)builtin_find("sl_sum_i64", NULL);
			tr->sum_i64 =
			    tr->combine == (sl_reduce_fn)builtin_find("sl_sum_i64", NULL);
		}
		return SL_OK;
	}
	case SLUICE__TASK_OUTPUT__KIND__PRINT:
		tr->sink.emit = sink_print;
		return SL_OK;
	case SLUICE__TASK_OUTPUT__KIND__SAVE: {
		char err[512];
		tr->sink.emit = sink_save;
		char *tmp = part_path(tr, true);
		if (proc_mkdirs_parent(tmp, err, sizeof(err)) != SL_OK ||
		    (tr->save = fopen(tmp, "w")) == NULL)
			fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			     "cannot create %s: %s", tmp, strerror(errno));
		sl_free(tmp);
		return tr->save ? SL_OK : SL_EIO;
	}
	case SLUICE__TASK_OUTPUT__KIND__FOREACH:
		tr->sink.emit = sink_collect;
		return SL_OK;
	case SLUICE__TASK_OUTPUT__KIND__KAFKA:
		return sink_kafka_open(tr);
	default:
		return fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
		            "output kind %d is not supported by this worker", o->kind);
	}
}

static int rbuf_iter_adapter(sl_iter *it, sl_record *r)
{
	int rv = rbuf_iter_next(it->arg, r);
	return rv > 0 ? 1 : 0;
}

static void shuffle_close(task_run *tr)
{
	blockmgr *bm = wengine_blocks(tr->we);
	tr->st->bucket_bytes = sl_calloc(tr->nred, sizeof(uint64_t));
	tr->st->n_bucket_bytes = tr->nred;
	size_t most = 0;
	for (uint32_t b = 0; b < tr->nred; b++) {
		char id[256];
		if (tr->maps != NULL) {
			size_t pos = 0;
			sl_record r;
			while (kvmap_next(tr->maps[b], &pos, &r))
				rbuf_append_record(&tr->buckets[b], &r);
			if (kvmap_count(tr->maps[b]) > most)
				most = kvmap_count(tr->maps[b]);
		}
		snprintf(id, sizeof(id), "%s-m%u-r%u", tr->ts->output->shuffle_id,
		         tr->ts->partition, b);
		tr->st->bucket_bytes[b] = tr->buckets[b].len;
		blockmgr_remove(bm, id);
		int rv = blockmgr_put(bm, id, &tr->buckets[b], BLOCK_MEMORY_AND_DISK);
		if (rv != SL_OK) {
			fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			     "storing shuffle bucket %s: %s", id, sl_strerror(rv));
			return;
		}
	}
	if (tr->maps != NULL)
		keys_hint_set(tr->ts->job_id, tr->ts->output->shuffle_node, false, most);
}

static void sink_close(task_run *tr)
{
	const Sluice__TaskOutput *o = tr->ts->output;
	bool ok = tr->state == SLUICE__TASK_STATUS__STATE__FINISHED;
	if (o->kind == SLUICE__TASK_OUTPUT__KIND__SHUFFLE && ok) {
		shuffle_close(tr);
	} else if (o->kind == SLUICE__TASK_OUTPUT__KIND__SAVE && tr->save != NULL) {
		char *tmp = part_path(tr, true), *fin = part_path(tr, false);
		if (fclose(tr->save) != 0 && ok)
			fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "closing %s: %s",
			     tmp, strerror(errno));
		else if (ok && rename(tmp, fin) != 0)
			fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "publishing %s: %s",
			     fin, strerror(errno));
		tr->save = NULL;
		sl_free(tmp);
		sl_free(fin);
	} else if (o->kind == SLUICE__TASK_OUTPUT__KIND__KAFKA && tr->kout != NULL) {
		char err[512];
		if (kafka_out_close(tr->kout, ok, err, sizeof(err)) != SL_OK)
			fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "%s", err);
		tr->kout = NULL;
	} else if (o->kind == SLUICE__TASK_OUTPUT__KIND__FOREACH && ok) {
		const Sluice__Node *n = graph_node(tr->g, o->output_node);
		rbuf_iter ri;
		rbuf_iter_init(&ri, tr->collect.data, tr->collect.len);
		sl_iter it = {.next = rbuf_iter_adapter, .arg = &ri};
		int rv = ((sl_partition_fn)tr->j->fns[n->id])(
		    tr->ts->batch_ms, (int)tr->ts->partition, &it);
		if (rv != 0)
			user_failed(tr, n, rv);
	}
}

/* ---- inputs ---- */

static int push_rbuf(task_run *tr, const uint8_t *data, size_t len)
{
	rbuf_iter it;
	sl_record r;
	int rv;
	rbuf_iter_init(&it, data, len);
	while ((rv = rbuf_iter_next(&it, &r)) > 0) {
		tr->st->records_in++;
		if ((rv = tr->head->emit(tr->head, &r)) != 0)
			return rv;
	}
	if (rv < 0)
		return fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
		            "a block is malformed");
	return SL_OK;
}

/* Gets a block from this worker or fetches it from url; *ref or *copy is set. */
static int block_get(task_run *tr, const char *id, const char *worker_id, const char *url,
                     block_ref **ref, rbuf *copy, char *err, size_t errlen)
{
	worker *w = wengine_worker(tr->we);
	envelope rep;
	if (strcmp(worker_id, w->id) == 0)
		return blockmgr_get(wengine_blocks(tr->we), id, ref);
	rpc_client *c = peers_get(wengine_peers(tr->we), url, err, errlen);
	if (c == NULL)
		return SL_ETRANSPORT;
	Sluice__FetchBlock q = SLUICE__FETCH_BLOCK__INIT;
	q.block_id = (char *)id;
	int rv = rpc_call_pb(c, MSG_FETCH_BLOCK, &q, &rep, err, errlen);
	if (rv != SL_OK)
		return rv;
	Sluice__FetchBlockReply *r =
	    sluice__fetch_block_reply__unpack(NULL, rep.payload_len, rep.payload);
	envelope_release(&rep);
	if (r == NULL || !r->found) {
		snprintf(err, errlen, "block %s not found on %s", id, worker_id);
		rv = SL_ENOTFOUND;
	} else {
		rv = block_decode(r->data.data, r->data.len, SIZE_MAX / 2, copy, err,
		                  errlen);
	}
	if (r)
		sluice__fetch_block_reply__free_unpacked(r, NULL);
	return rv;
}

typedef int (*block_fn)(task_run *tr, const uint8_t *data, size_t len);

static int with_block(task_run *tr, const char *id, const char *wid, const char *url,
                      block_fn fn, char *err, size_t errlen)
{
	block_ref *ref = NULL;
	rbuf copy;
	rbuf_init(&copy);
	int rv = block_get(tr, id, wid, url, &ref, &copy, err, errlen);
	if (rv == SL_ENOTFOUND && err[0] == '\0')
		snprintf(err, errlen, "block %s not found on %s", id, wid);
	if (rv != SL_OK)
		return rv;
	const rbuf *b = ref ? block_ref_data(ref) : &copy;
	rv = fn(tr, b->data, b->len);
	if (ref)
		block_ref_release(ref);
	rbuf_free(&copy);
	return rv == SL_OK ? SL_OK : SL_EUSER;
}

/* Reads each input block from a holder: this worker's own copy first (no
 * copy over the network, and no wait on a remote holder that may be dead
 * but not yet known LOST), then the others in the master's order. */
static int input_blocks(task_run *tr)
{
	const Sluice__TaskInput *in = tr->ts->input;
	const char *self = wengine_worker(tr->we)->id;
	for (size_t b = 0; b < in->n_blocks; b++) {
		const Sluice__BlockRef *br = in->blocks[b];
		char err[512] = "";
		int rv = SL_ENOTFOUND;
		/* pass 0: the local holder; pass 1: the remote ones */
		for (int pass = 0; pass < 2 && rv != SL_OK && rv != SL_EUSER; pass++) {
			for (size_t h = 0; h < br->n_worker_ids && h < br->n_urls; h++) {
				if ((strcmp(br->worker_ids[h], self) == 0) != (pass == 0))
					continue;
				err[0] = '\0';
				rv = with_block(tr, br->block_id, br->worker_ids[h],
				                br->urls[h], push_rbuf, err, sizeof(err));
				if (rv == SL_OK || rv == SL_EUSER)
					break;
				log_warn("block %s from %s: %s", br->block_id,
				         br->worker_ids[h], err);
			}
		}
		if (rv == SL_EUSER)
			return rv;
		if (rv != SL_OK)
			return fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			            "input block %s unavailable on every holder: %s",
			            br->block_id, err);
	}
	return SL_OK;
}

static int input_generator(task_run *tr)
{
	const Sluice__TaskInput *in = tr->ts->input;
	sl_generator_fn gen = (sl_generator_fn)tr->j->fns[in->source_node];
	const Sluice__Node *n = graph_node(tr->g, in->source_node);
	for (int64_t i = 0; i < in->gen_count; i++) {
		tr->st->records_in++;
		int rv = gen(tr->ts->batch_ms, in->gen_start + i, tr->head);
		if (rv != 0)
			return tr->state != SLUICE__TASK_STATUS__STATE__FINISHED
			           ? rv
			           : user_failed(tr, n, rv);
	}
	return SL_OK;
}

static int kafka_emit(void *arg, const sl_record *r)
{
	task_run *tr = arg;
	tr->st->records_in++;
	return tr->head->emit(tr->head, r);
}

static int input_kafka(task_run *tr)
{
	char err[512];
	const Sluice__TaskInput *in = tr->ts->input;
	const Sluice__Node *n = graph_node(tr->g, in->source_node);
	int rv = kafka_read_range(wengine_kafka(tr->we), tr->ts->job_id, n, in,
	                          kafka_emit, tr, err, sizeof(err));
	if (rv == SL_OK || tr->state != SLUICE__TASK_STATUS__STATE__FINISHED)
		return rv;
	return fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "%s", err);
}

static int input_files(task_run *tr)
{
	const Sluice__TaskInput *in = tr->ts->input;
	for (size_t f = 0; f < in->n_files; f++) {
		FILE *fp = fopen(in->files[f], "r");
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		int rv = SL_OK;
		if (fp == NULL)
			return fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			            "cannot read %s: %s", in->files[f], strerror(errno));
		while (rv == SL_OK && (n = getline(&line, &cap, fp)) >= 0) {
			while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
				n--;
			sl_record r = {.value = (uint8_t *)line,
			               .value_len = (uint32_t)n};
			tr->st->records_in++;
			rv = tr->head->emit(tr->head, &r);
		}
		free(line);
		fclose(fp);
		if (rv != SL_OK)
			return rv;
	}
	return SL_OK;
}

/* Reduce side: state while merging the buckets of one reduce partition. */
typedef struct reduce_state {
	kvmap *map;
	sl_reduce_fn fn;
	Sluice__NodeKind kind;
	rbuf all;
} reduce_state;

static int merge_bucket(task_run *tr, const uint8_t *data, size_t len)
{
	reduce_state *rs = tr->rs;
	rbuf_iter it;
	sl_record r;
	int rv;
	if (rs->kind == SLUICE__NODE_KIND__OP_REPARTITION)
		return push_rbuf(tr, data, len);
	rbuf_iter_init(&it, data, len);
	while ((rv = rbuf_iter_next(&it, &r)) > 0) {
		tr->st->records_in++;
		if (rs->kind == SLUICE__NODE_KIND__OP_GROUP_BY_KEY) {
			kvmap_append(rs->map, r.key, r.key_len, r.value, r.value_len);
		} else if (rs->kind == SLUICE__NODE_KIND__OP_TRANSFORM) {
			rbuf_append_record(&rs->all, &r);
		} else if ((rv = kvmap_combine(rs->map, r.key, r.key_len, r.value,
		                               r.value_len, rs->fn)) != 0) {
			return fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			            "reduce function failed with %d", rv);
		}
	}
	return rv < 0 ? fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
	                     "a shuffle bucket is "
	                     "malformed")
	              : SL_OK;
}

static int reduce_emit(task_run *tr, reduce_state *rs, const Sluice__Node *sn)
{
	if (rs->kind == SLUICE__NODE_KIND__OP_TRANSFORM) {
		rbuf_iter ri;
		rbuf_iter_init(&ri, rs->all.data, rs->all.len);
		sl_iter it = {.next = rbuf_iter_adapter, .arg = &ri};
		int rv = ((sl_transform_fn)tr->j->fns[sn->id])(tr->ts->batch_ms, &it,
		                                               tr->head);
		return rv == 0 ? SL_OK
		               : (tr->state != SLUICE__TASK_STATUS__STATE__FINISHED
		                      ? rv
		                      : user_failed(tr, sn, rv));
	}
	if (rs->map == NULL)
		return SL_OK;
	if (rs->kind == SLUICE__NODE_KIND__OP_COUNT_BY_WINDOW &&
	    kvmap_count(rs->map) == 0) {
		uint8_t zero[8]; /* an empty window counts 0 (its one reducer) */
		sl_i64_encode(0, zero);
		sl_record r = {.key = (const uint8_t *)"", .value = zero, .value_len = 8};
		return tr->head->emit(tr->head, &r);
	}
	size_t pos = 0;
	sl_record r;
	while (kvmap_next(rs->map, &pos, &r)) {
		int rv = tr->head->emit(tr->head, &r);
		if (rv != 0)
			return rv;
	}
	return SL_OK;
}

/* Fetches this partition's bucket of every map output of one shuffle into
 * rs (merge_bucket); a missing bucket is FETCH_FAILED. */
static int fetch_buckets(task_run *tr, reduce_state *rs, const char *shuffle_id,
                         Sluice__ShuffleSource *const *srcs, size_t n)
{
	int rv = SL_OK;
	for (size_t s = 0; s < n && rv == SL_OK; s++) {
		char id[256], err[512] = "";
		snprintf(id, sizeof(id), "%s-m%u-r%u", shuffle_id, srcs[s]->map_index,
		         tr->ts->input->reduce_partition);
		tr->rs = rs;
		rv = with_block(tr, id, srcs[s]->worker_id, srcs[s]->url, merge_bucket,
		                err, sizeof(err));
		if (rv != SL_OK && rv != SL_EUSER) {
			snprintf(tr->missing, sizeof(tr->missing), "%s",
			         srcs[s]->worker_id);
			rv =
			    fail(tr, SLUICE__TASK_STATUS__STATE__FETCH_FAILED, "%s", err);
		}
	}
	return rv;
}

/* A join or cogroup's reduce side: both sides' buckets of this partition,
 * then worker/cogroup.c over them into the chain. */
static int input_join(task_run *tr, const Sluice__Node *sn)
{
	const Sluice__TaskInput *in = tr->ts->input;
	cogroup_kind kind;
	if (cogroup_kind_of(sn->kind, &kind) != SL_OK || in->right_shuffle_id[0] == '\0')
		return fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
		            "task for %s (node %u) names no right side to join",
		            graph_kind_name(sn->kind), sn->id);
	reduce_state side[2] = {{.kind = SLUICE__NODE_KIND__OP_TRANSFORM},
	                        {.kind = SLUICE__NODE_KIND__OP_TRANSFORM}};
	rbuf_init(&side[0].all);
	rbuf_init(&side[1].all);
	int rv = fetch_buckets(tr, &side[0], in->shuffle_id, in->shuffle_sources,
	                       in->n_shuffle_sources);
	if (rv == SL_OK)
		rv = fetch_buckets(tr, &side[1], in->right_shuffle_id, in->right_sources,
		                   in->n_right_sources);
	if (rv == SL_OK) {
		uint64_t emitted = 0;
		char err[512] = "";
		rv = cogroup_run_buffers(kind, &side[0].all, &side[1].all, tr->head,
		                         &emitted, err, sizeof(err));
		if (rv != SL_OK && tr->state == SLUICE__TASK_STATUS__STATE__FINISHED)
			rv = fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			          "%s (node %u): %s", graph_kind_name(sn->kind), sn->id,
			          err);
	}
	rbuf_free(&side[0].all);
	rbuf_free(&side[1].all);
	return rv;
}

/* update_state_by_key / map_with_state: this partition's records of the
 * batch applied to its state (stateops.h), the output into the chain. */
static int input_state(task_run *tr, const Sluice__Node *sn)
{
	const Sluice__TaskInput *in = tr->ts->input;
	reduce_state rs = {.kind = SLUICE__NODE_KIND__OP_TRANSFORM}; /* collects */
	rbuf_init(&rs.all);
	int rv = fetch_buckets(tr, &rs, in->shuffle_id, in->shuffle_sources,
	                       in->n_shuffle_sources);
	if (rv == SL_OK) {
		char err[512] = "";
		rv = stateops_apply(tr->we, tr->j, tr->ts, sn, &rs.all, tr->head,
		                    &tr->st->state_ckpt_ms, &tr->st->state_keys,
		                    &tr->st->state_bytes, err, sizeof(err));
		if (rv != SL_OK)
			fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			     "%s (node %u, partition %u): %s", graph_kind_name(sn->kind),
			     sn->id, in->reduce_partition, err);
	}
	rbuf_free(&rs.all);
	return rv;
}

static int input_shuffle(task_run *tr)
{
	const Sluice__TaskInput *in = tr->ts->input;
	const Sluice__Node *sn = graph_node(tr->g, in->shuffle_node);
	if (graph_is_join(sn->kind))
		return input_join(tr, sn);
	if (graph_is_stateful(sn->kind))
		return input_state(tr, sn);
	reduce_state rs = {.kind = sn->kind};
	rbuf_init(&rs.all);
	if (reduces_by_key(sn->kind) || counts_i64(sn->kind) ||
	    sn->kind == SLUICE__NODE_KIND__OP_GROUP_BY_KEY)
		rs.map = kvmap_new_sized(keys_hint_get(tr->ts->job_id, sn->id, true));
	rs.fn = reduces_by_key(sn->kind) ? (sl_reduce_fn)tr->j->fns[sn->id]
	                                 : (sl_reduce_fn)builtin_find("sl_sum_i64", NULL);
	int rv = fetch_buckets(tr, &rs, in->shuffle_id, in->shuffle_sources,
	                       in->n_shuffle_sources);
	if (rv == SL_OK)
		rv = reduce_emit(tr, &rs, sn);
	if (rs.map != NULL)
		keys_hint_set(tr->ts->job_id, sn->id, true, kvmap_count(rs.map));
	kvmap_free(rs.map);
	rbuf_free(&rs.all);
	return rv;
}

static int input_run(task_run *tr)
{
	switch (tr->ts->input->kind) {
	case SLUICE__TASK_INPUT__KIND__BLOCKS:
		return input_blocks(tr);
	case SLUICE__TASK_INPUT__KIND__GENERATOR:
		return input_generator(tr);
	case SLUICE__TASK_INPUT__KIND__FILES:
		return input_files(tr);
	case SLUICE__TASK_INPUT__KIND__SHUFFLE:
		return input_shuffle(tr);
	case SLUICE__TASK_INPUT__KIND__KAFKA:
		return input_kafka(tr);
	default:
		return fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
		            "input kind %d is not "
		            "supported by this worker",
		            tr->ts->input->kind);
	}
}

static bool spec_valid(task_run *tr)
{
	const Sluice__TaskSpec *ts = tr->ts;
	size_t n = tr->g->n_nodes;
	for (size_t i = 0; i < ts->n_chain; i++)
		if (ts->chain[i] >= n)
			return false;
	const Sluice__TaskInput *in = ts->input;
	const Sluice__TaskOutput *o = ts->output;
	if (in->source_node >= n || in->shuffle_node >= n || o->shuffle_node >= n ||
	    o->output_node >= n)
		return false;
	if (in->kind == SLUICE__TASK_INPUT__KIND__GENERATOR &&
	    graph_node(tr->g, in->source_node)->kind != SLUICE__NODE_KIND__SRC_GENERATOR)
		return false;
	return true;
}

static void run_free(task_run *tr)
{
	for (uint32_t b = 0; b < tr->nred; b++) {
		rbuf_free(&tr->buckets[b]);
		if (tr->maps)
			kvmap_free(tr->maps[b]);
	}
	sl_free(tr->buckets);
	sl_free(tr->maps);
	sl_free(tr->ops);
	sl_free(tr->fmtbuf);
	rbuf_free(&tr->collect);
	if (tr->save)
		fclose(tr->save);
}

void ops_run_task(wengine *we, wjob *j, const Sluice__TaskSpec *ts,
                  Sluice__TaskStatus *st)
{
	task_run tr;
	memset(&tr, 0, sizeof(tr));
	tr.we = we;
	tr.j = j;
	tr.ts = ts;
	tr.g = j->info->graph;
	tr.st = st;
	tr.state = SLUICE__TASK_STATUS__STATE__FINISHED;
	rbuf_init(&tr.collect);
	tr.api = (api_task){.batch_ms = ts->batch_ms,
	                    .partition = (int)ts->partition,
	                    .attempt = (int)ts->attempt,
	                    .conf = j->conf};
	if (!spec_valid(&tr)) {
		fail(&tr, SLUICE__TASK_STATUS__STATE__FAILED,
		     "task names nodes outside the graph");
	} else {
		api_task_set(&tr.api);
		chain_build(&tr);
		if (sink_open(&tr) == SL_OK) {
			chain_fuse(&tr);
			input_run(&tr);
		}
		sink_close(&tr);
		api_task_set(NULL);
	}
	st->state = tr.state;
	if (tr.state != SLUICE__TASK_STATUS__STATE__FINISHED) {
		st->error = sl_strdup(tr.err);
		st->missing_worker_id = sl_strdup(tr.missing);
	}
	st->lines = tr.lines;
	st->n_lines = tr.nlines;
	run_free(&tr);
}

void ops_status_free(Sluice__TaskStatus *st)
{
	for (size_t i = 0; i < st->n_lines; i++)
		sl_free(st->lines[i]);
	sl_free(st->lines);
	sl_free(st->bucket_bytes);
	if (st->state != SLUICE__TASK_STATUS__STATE__FINISHED) {
		sl_free(st->error);
		sl_free(st->missing_worker_id);
	}
}
