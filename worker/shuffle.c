/*
 * The shuffle on the worker: the map side's sink and the reduce side's input.
 *
 * Map side: a task whose output is a shuffle hash-partitions its records
 * into one bucket per reducer (FNV-1a of the key, kvmap_hash), combining
 * them per key first (map-side combine) for reduce_by_key and the counts,
 * then stores each bucket as a block "<shuffle>-m<map>-r<reducer>" in the
 * block manager (memory and disk) for the reducers to fetch.
 *
 * Reduce side: a task whose input is a shuffle fetches its partition's
 * bucket of every map output (local ones without a copy), merges them by
 * key (reduce, count, group) or keeps them whole (transform, repartition),
 * or hands both parents' buckets to worker/cogroup.c for a join; a missing
 * bucket is FETCH_FAILED so that the master recomputes that map output.
 *
 * Memory: the combine maps of both sides are kept within the task's share
 * of the execution memory (sluice.worker.memory x spark.memory.fraction x
 * (1 - spark.memory.storageFraction) / slots, or
 * sluice.shuffle.spillThreshold): past it a map is sorted and spilled as a
 * run to the work directory (worker/spill.h), and the runs are merged by
 * key when the task writes its buckets (map side) or emits (reduce side).
 */
#include "alloc.h"
#include "cogroup.h"
#include "log.h"
#include "ops_int.h"
#include "sluice/err.h"
#include "spill.h"
#include "stateops.h"
#include "worker.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/* ---- memory share ---- */

/* The bytes a task's combine maps may hold before they spill. */
static size_t spill_threshold(task_run *tr)
{
	worker *w = wengine_worker(tr->we);
	int64_t forced = conf_get_bytes(w->conf, "sluice.shuffle.spillThreshold");
	if (forced > 0)
		return (size_t)forced;
	double frac = conf_get_double(w->conf, "spark.memory.fraction") *
	              (1 - conf_get_double(w->conf, "spark.memory.storageFraction"));
	return (size_t)((double)w->memory * frac) / (w->slots > 0 ? w->slots : 1);
}

/* A key-count hint for a map that may hold bytes: at most what keeps its
 * table (32 bytes a slot, at most a quarter full when sized) under half
 * of them, so that a batch of many keys does not make the next batch's
 * maps start over their budget. */
static size_t hint_within(size_t keys, size_t bytes)
{
	size_t most = bytes / 256;
	return keys < most ? keys : most;
}

static const char *work_dir(task_run *tr)
{
	return wengine_worker(tr->we)->dir;
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

int shuffle_sink_check(task_run *tr)
{
	size_t bytes = 0;
	for (uint32_t b = 0; b < tr->nred; b++)
		bytes += kvmap_bytes_peak(tr->maps[b]);
	if (bytes <= tr->spill_at)
		return SL_OK;
	for (uint32_t b = 0; b < tr->nred; b++) {
		char err[512];
		if (kvmap_count(tr->maps[b]) == 0)
			continue;
		if (tr->spills[b] == NULL)
			tr->spills[b] = spill_set_new(work_dir(tr), tr->combine);
		if (spill_set_add(tr->spills[b], tr->maps[b], err, sizeof(err)) != SL_OK)
			return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "%s",
			                err);
	}
	tr->nspills++;
	return SL_OK;
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
		return ops_user_failed(tr, n, rv);
	}
	return shuffle_sink_note(tr, (size_t)klen + r->value_len + 16);
}

int shuffle_sink_open(task_run *tr)
{
	const Sluice__TaskOutput *o = tr->ts->output;
	const Sluice__Node *sn = graph_node(tr->g, o->shuffle_node);
	tr->sink.emit = sink_shuffle;
	tr->nred = o->num_reducers;
	tr->shuffle_kind = sn->kind;
	tr->buckets = sl_calloc(tr->nred, sizeof(rbuf));
	tr->keying = keying_of(tr->ts, sn);
	if (reduces_by_key(sn->kind) || counts_i64(sn->kind)) {
		tr->spill_at = spill_threshold(tr);
		size_t hint = hint_within(keys_hint_get(tr->ts->job_id, sn->id, false),
		                          tr->spill_at / tr->nred);
		tr->maps = sl_calloc(tr->nred, sizeof(kvmap *));
		tr->spills = sl_calloc(tr->nred, sizeof(spill_set *));
		for (uint32_t i = 0; i < tr->nred; i++)
			tr->maps[i] = kvmap_new_sized(hint);
		tr->combine = reduces_by_key(sn->kind)
		                  ? (sl_reduce_fn)tr->j->fns[sn->id]
		                  : (sl_reduce_fn)builtin_find("sl_sum_i64", NULL);
		tr->sum_i64 =
		    tr->combine == (sl_reduce_fn)builtin_find("sl_sum_i64", NULL);
	}
	return SL_OK;
}

/* Writes bucket b's combined records: the map's, or the merge of its
 * spilled runs and the map. */
static int bucket_from_map(task_run *tr, uint32_t b)
{
	sl_record r;
	char err[512];
	int rv;
	if (tr->spills[b] == NULL) {
		size_t pos = 0;
		while (kvmap_next(tr->maps[b], &pos, &r))
			rbuf_append_record(&tr->buckets[b], &r);
		return SL_OK;
	}
	rv = spill_merge_start(tr->spills[b], tr->maps[b], err, sizeof(err));
	while (rv == SL_OK &&
	       (rv = spill_merge_next(tr->spills[b], &r, err, sizeof(err))) > 0) {
		rbuf_append_record(&tr->buckets[b], &r);
		rv = SL_OK;
	}
	kvmap_clear(tr->maps[b]);
	spill_set_free(tr->spills[b]);
	tr->spills[b] = NULL;
	if (rv == SL_OK)
		return SL_OK;
	return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "shuffle bucket %u: %s",
	                b, err);
}

void shuffle_sink_close(task_run *tr)
{
	blockmgr *bm = wengine_blocks(tr->we);
	tr->st->bucket_bytes = sl_calloc(tr->nred, sizeof(uint64_t));
	tr->st->n_bucket_bytes = tr->nred;
	size_t most = 0;
	if (tr->nspills > 0)
		log_info(
		    "task %llu: map-side combine spilled %llu times over its %zu MiB",
		    (unsigned long long)tr->ts->task_id, (unsigned long long)tr->nspills,
		    tr->spill_at >> 20);
	for (uint32_t b = 0; b < tr->nred; b++) {
		char id[256];
		if (tr->maps != NULL) {
			if (tr->maps[b] != NULL && kvmap_count(tr->maps[b]) > most)
				most = kvmap_count(tr->maps[b]);
			if (bucket_from_map(tr, b) != SL_OK)
				return;
		}
		snprintf(id, sizeof(id), "%s-m%u-r%u", tr->ts->output->shuffle_id,
		         tr->ts->partition, b);
		tr->st->bucket_bytes[b] = tr->buckets[b].len;
		blockmgr_remove(bm, id);
		int rv = blockmgr_put(bm, id, &tr->buckets[b], BLOCK_MEMORY_AND_DISK);
		if (rv != SL_OK) {
			ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			         "storing shuffle bucket %s: %s", id, sl_strerror(rv));
			return;
		}
	}
	if (tr->maps != NULL)
		keys_hint_set(tr->ts->job_id, tr->ts->output->shuffle_node, false, most);
}

void shuffle_sink_free(task_run *tr)
{
	for (uint32_t b = 0; b < tr->nred; b++) {
		rbuf_free(&tr->buckets[b]);
		if (tr->maps)
			kvmap_free(tr->maps[b]);
		if (tr->spills)
			spill_set_free(tr->spills[b]);
	}
	sl_free(tr->buckets);
	sl_free(tr->maps);
	sl_free(tr->spills);
}

/* Reduce side: state while merging the buckets of one reduce partition. */
typedef struct reduce_state {
	kvmap *map;
	sl_reduce_fn fn;
	Sluice__NodeKind kind;
	rbuf all;
	spill_set *spill; /* the map's runs once it has passed spill_at */
	size_t spill_at;
} reduce_state;

/* Spills the reduce map when it passes its share. */
static int reduce_check(task_run *tr, reduce_state *rs)
{
	char err[512];
	if (kvmap_bytes_peak(rs->map) <= rs->spill_at)
		return SL_OK;
	if (rs->spill == NULL)
		rs->spill = spill_set_new(work_dir(tr),
		                          rs->kind == SLUICE__NODE_KIND__OP_GROUP_BY_KEY
		                              ? spill_concat
		                              : rs->fn);
	if (spill_set_add(rs->spill, rs->map, err, sizeof(err)) != SL_OK)
		return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "%s", err);
	return SL_OK;
}

static int merge_bucket(task_run *tr, const uint8_t *data, size_t len)
{
	reduce_state *rs = tr->rs;
	rbuf_iter it;
	sl_record r;
	int rv;
	if (rs->kind == SLUICE__NODE_KIND__OP_REPARTITION)
		return ops_push_rbuf(tr, data, len);
	rbuf_iter_init(&it, data, len);
	while ((rv = rbuf_iter_next(&it, &r)) > 0) {
		tr->st->records_in++;
		if (rs->kind == SLUICE__NODE_KIND__OP_TRANSFORM) {
			rbuf_append_record(&rs->all, &r);
			continue;
		}
		if (rs->kind == SLUICE__NODE_KIND__OP_GROUP_BY_KEY) {
			kvmap_append(rs->map, r.key, r.key_len, r.value, r.value_len);
		} else if ((rv = kvmap_combine(rs->map, r.key, r.key_len, r.value,
		                               r.value_len, rs->fn)) != 0) {
			return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			                "reduce function failed with %d", rv);
		}
		if (reduce_check(tr, rs) != SL_OK)
			return SL_EUSER;
	}
	return rv < 0 ? ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
	                         "a shuffle bucket is "
	                         "malformed")
	              : SL_OK;
}

/* Emits the merge of the reduce map's spilled runs and what it holds. */
static int reduce_emit_merged(task_run *tr, reduce_state *rs)
{
	char err[512];
	sl_record r;
	int rv = spill_merge_start(rs->spill, rs->map, err, sizeof(err));
	while (rv == SL_OK &&
	       (rv = spill_merge_next(rs->spill, &r, err, sizeof(err))) > 0)
		if ((rv = tr->head->emit(tr->head, &r)) != 0)
			return rv;
	if (rv == SL_OK)
		return SL_OK;
	return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED, "reduce partition %u: %s",
	                tr->ts->input->reduce_partition, err);
}

static int reduce_emit(task_run *tr, reduce_state *rs, const Sluice__Node *sn)
{
	if (rs->kind == SLUICE__NODE_KIND__OP_TRANSFORM) {
		rbuf_iter ri;
		rbuf_iter_init(&ri, rs->all.data, rs->all.len);
		sl_iter it = {.next = ops_rbuf_iter_next, .arg = &ri};
		int rv = ((sl_transform_fn)tr->j->fns[sn->id])(tr->ts->batch_ms, &it,
		                                               tr->head);
		return rv == 0 ? SL_OK
		               : (tr->state != SLUICE__TASK_STATUS__STATE__FINISHED
		                      ? rv
		                      : ops_user_failed(tr, sn, rv));
	}
	if (rs->map == NULL)
		return SL_OK;
	if (rs->spill != NULL)
		return reduce_emit_merged(tr, rs);
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
		rv = ops_with_block(tr, id, srcs[s]->worker_id, srcs[s]->url,
		                    merge_bucket, err, sizeof(err));
		if (rv != SL_OK && rv != SL_EUSER) {
			snprintf(tr->missing, sizeof(tr->missing), "%s",
			         srcs[s]->worker_id);
			rv = ops_fail(tr, SLUICE__TASK_STATUS__STATE__FETCH_FAILED, "%s",
			              err);
		}
	}
	return rv;
}

/* The reduce side of keyed shuffle node sn (reduce/count/group by key):
 * its map of combined values, sized from the previous batch, spilling past
 * spill_at. */
static void reduce_state_init(task_run *tr, const Sluice__Node *sn, reduce_state *rs,
                              size_t spill_at)
{
	memset(rs, 0, sizeof(*rs));
	rs->kind = sn->kind;
	rbuf_init(&rs->all);
	rs->spill_at = spill_at;
	if (reduces_by_key(sn->kind) || counts_i64(sn->kind) ||
	    sn->kind == SLUICE__NODE_KIND__OP_GROUP_BY_KEY)
		rs->map = kvmap_new_sized(
		    hint_within(keys_hint_get(tr->ts->job_id, sn->id, true), spill_at));
	rs->fn = reduces_by_key(sn->kind)
	             ? (sl_reduce_fn)tr->j->fns[sn->id]
	             : (sl_reduce_fn)builtin_find("sl_sum_i64", NULL);
}

static void reduce_state_free(task_run *tr, const Sluice__Node *sn, reduce_state *rs)
{
	if (rs->map != NULL)
		keys_hint_set(tr->ts->job_id, sn->id, true, kvmap_count(rs->map));
	if (rs->spill != NULL)
		log_info("task %llu: reduce spilled %zu runs (%llu MiB) over its %zu MiB",
		         (unsigned long long)tr->ts->task_id, spill_set_runs(rs->spill),
		         (unsigned long long)(spill_set_disk_bytes(rs->spill) >> 20),
		         rs->spill_at >> 20);
	spill_set_free(rs->spill);
	kvmap_free(rs->map);
	rbuf_free(&rs->all);
}

/* A join or cogroup's reduce side: both sides' buckets of this partition,
 * then worker/cogroup.c over them into the chain. With its sides
 * partitioned alike (the task reads the sides' own shuffles, not the
 * join's: master/plan.c), each side is reduced by key first, as its own
 * reduce task would; cogroup_run_maps needs both maps whole, so those maps
 * do not spill (like the unshared sides' record buffers). */
static int input_join(task_run *tr, const Sluice__Node *jn)
{
	const Sluice__TaskInput *in = tr->ts->input;
	cogroup_kind kind;
	bool shared = in->shuffle_node != jn->id;
	if (cogroup_kind_of(jn->kind, &kind) != SL_OK ||
	    in->right_shuffle_id[0] == '\0' ||
	    (shared && jn->inputs[0] != in->shuffle_node))
		return ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
		                "task for %s (node %u) names no right side to join",
		                graph_kind_name(jn->kind), jn->id);
	const Sluice__Node *sn[2] = {jn, jn};
	reduce_state side[2];
	for (int k = 0; k < 2; k++) {
		if (shared) {
			sn[k] = graph_node(tr->g, jn->inputs[k]);
			reduce_state_init(tr, sn[k], &side[k], SIZE_MAX);
		} else { /* the records as they are (merge_bucket) */
			side[k] = (reduce_state){.kind = SLUICE__NODE_KIND__OP_TRANSFORM};
			rbuf_init(&side[k].all);
		}
	}
	int rv = SL_OK;
	if (shared && (side[0].map == NULL || side[1].map == NULL))
		rv = ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
		              "%s (node %u): a side read as partitioned alike is not "
		              "reduced by key",
		              graph_kind_name(jn->kind), jn->id);
	if (rv == SL_OK)
		rv = fetch_buckets(tr, &side[0], in->shuffle_id, in->shuffle_sources,
		                   in->n_shuffle_sources);
	if (rv == SL_OK)
		rv = fetch_buckets(tr, &side[1], in->right_shuffle_id, in->right_sources,
		                   in->n_right_sources);
	if (rv == SL_OK) {
		uint64_t emitted = 0;
		char err[512] = "";
		rv = shared ? cogroup_run_maps(kind, side[0].map, side[1].map, tr->head,
		                               &emitted, err, sizeof(err))
		            : cogroup_run_buffers(kind, &side[0].all, &side[1].all,
		                                  tr->head, &emitted, err, sizeof(err));
		if (rv != SL_OK && tr->state == SLUICE__TASK_STATUS__STATE__FINISHED)
			rv = ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			              "%s (node %u): %s", graph_kind_name(jn->kind),
			              jn->id, err);
	}
	reduce_state_free(tr, sn[0], &side[0]);
	reduce_state_free(tr, sn[1], &side[1]);
	return rv;
}

/* update_state_by_key / map_with_state / event_time_window: this
 * partition's records of the
 * batch applied to its state (stateops.h), the output into the chain. */
static int input_state(task_run *tr, const Sluice__Node *sn)
{
	const Sluice__TaskInput *in = tr->ts->input;
	reduce_state rs = {.kind = SLUICE__NODE_KIND__OP_TRANSFORM}; /* collects */
	reduce_state ls = {.kind = SLUICE__NODE_KIND__OP_TRANSFORM}; /* leaving */
	bool left = in->right_shuffle_id != NULL && in->right_shuffle_id[0] != '\0';
	rbuf_init(&rs.all);
	rbuf_init(&ls.all);
	int rv = fetch_buckets(tr, &rs, in->shuffle_id, in->shuffle_sources,
	                       in->n_shuffle_sources);
	if (rv == SL_OK && left)
		rv = fetch_buckets(tr, &ls, in->right_shuffle_id, in->right_sources,
		                   in->n_right_sources);
	if (rv == SL_OK) {
		char err[512] = "";
		rv = stateops_apply(tr->we, tr->j, tr->ts, sn, &rs.all,
		                    left ? &ls.all : NULL, tr->head, tr->st, err,
		                    sizeof(err));
		if (rv != SL_OK)
			ops_fail(tr, SLUICE__TASK_STATUS__STATE__FAILED,
			         "%s (node %u, partition %u): %s",
			         graph_kind_name(sn->kind), sn->id, in->reduce_partition,
			         err);
	}
	rbuf_free(&rs.all);
	rbuf_free(&ls.all);
	return rv;
}

int shuffle_input_run(task_run *tr)
{
	const Sluice__TaskInput *in = tr->ts->input;
	const Sluice__Node *sn = graph_node(tr->g, in->shuffle_node);
	if (graph_is_join(sn->kind))
		return input_join(tr, sn);
	/* an incremental window's state task; its final map stage reads the
	 * batches' own shuffles of the node into the node's (a reduce) */
	const Sluice__TaskOutput *o = tr->ts->output;
	bool to_itself =
	    o->kind == SLUICE__TASK_OUTPUT__KIND__SHUFFLE && o->shuffle_node == sn->id;
	if (graph_node_stateful(sn) && !to_itself)
		return input_state(tr, sn);
	if (in->right_shuffle_id[0] != '\0') /* a join reading its sides' shuffles */
		return input_join(tr, graph_node(tr->g, in->source_node));
	reduce_state rs;
	reduce_state_init(tr, sn, &rs, spill_threshold(tr));
	int rv = fetch_buckets(tr, &rs, in->shuffle_id, in->shuffle_sources,
	                       in->n_shuffle_sources);
	if (rv == SL_OK)
		rv = reduce_emit(tr, &rs, sn);
	reduce_state_free(tr, sn, &rs);
	return rv;
}
