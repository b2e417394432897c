/*
 * State tasks: see stateops.h. The state store (statestore.h) does the
 * semantics (grouping, timeouts, undo); this file binds a task to its
 * partition and to the job's functions, and keeps a copy of the partition
 * on its replica worker.
 *
 * Replication: after each batch the task sends its replica (named in the
 * task by the master) one block through the ordinary block replication
 * message (MSG_PUT_BLOCK): every checkpoint interval (and when the master
 * asks, for a new replica) the whole partition, "stb-J-N-P-c<T>-full",
 * otherwise the batch's delta, "stb-J-N-P-c<C>-d<T>" (C: the last full
 * checkpoint), which holds only the keys the batch changed. A worker given
 * a partition it does not hold, with a checkpoint C from the master (it was
 * the replica), rebuilds it from those blocks: the full checkpoint, then
 * each later batch's delta or newer full checkpoint, in batch order.
 *
 * The periodic full checkpoint is sent in the background (stateckpt.h):
 * its batch T also sends its delta "c<C>-d<T>" from the task, and the
 * deltas after it are named "c<T>-d<t>" at once. The master learns T (and
 * removes "c<C>-...") only once the replica acknowledged the full block,
 * and no other full checkpoint starts before; until then a rebuild from C
 * goes on through the deltas, switching to base T at the first delta
 * after it. A new replica gets its first full checkpoint from the task. A
 * delta must follow the state's version exactly, so a gap is an error, not
 * a silently wrong total. Blocks are immutable: a batch run again after its
 * block was replicated keeps the first copy (the same for a deterministic
 * function).
 */
#include "stateops.h"
#include "alloc.h"
#include "api.h"
#include "evwindow.h"
#include "log.h"
#include "msgtypes.h"
#include "sluice/err.h"
#include "stateckpt.h"
#include "statestore.h"
#include "winmerge.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

static int records_next(sl_iter *it, sl_record *r)
{
	return rbuf_iter_next(it->arg, r) > 0 ? 1 : 0;
}

/* The initial-state function of n, or NULL (with err set when named but not
 * found: the client checked it at submit, so this is a damaged library). */
static sl_initial_state_fn initial_fn(wjob *j, const Sluice__Node *n, char *err,
                                      size_t errlen)
{
	if (n->init_fn == NULL || n->init_fn[0] == '\0')
		return NULL;
	void *fn = builtin_find(n->init_fn, NULL);
	if (fn == NULL)
		fn = dlsym(j->dl, n->init_fn);
	if (fn == NULL)
		snprintf(err, errlen, "initial state function '%s' (node %u) not found",
		         n->init_fn, n->id);
	return (sl_initial_state_fn)fn;
}

/* Seeds a partition that never held state from n's initial state. */
static int seed_new(wjob *j, state_part *sp, const Sluice__TaskSpec *ts,
                    const Sluice__Node *n, char *err, size_t errlen)
{
	if (state_part_version(sp) != STATE_NO_VERSION || state_part_keys(sp) != 0)
		return SL_OK;
	err[0] = '\0';
	sl_initial_state_fn fn = initial_fn(j, n, err, errlen);
	if (fn == NULL)
		return err[0] ? SL_EJOB : SL_OK;
	return state_part_seed(sp, fn, ts->input->reduce_partition,
	                       ts->input->num_partitions, ts->batch_ms, err, errlen);
}

static int apply_window(wjob *j, state_part *sp, const Sluice__TaskSpec *ts,
                        const Sluice__Node *n, sl_iter *it, sl_emitter *out,
                        Sluice__TaskStatus *st, char *err, size_t errlen)
{
	evwin_spec spec = {.length_ms = n->length_ms,
	                   .slide_ms = n->slide_ms,
	                   .reduce = (sl_reduce_fn)j->fns[n->id]};
	evwin_stats ws = {0};
	int rv = evwin_run(sp, &spec, it, ts->input->event_watermark_ms, out, &ws, err,
	                   errlen);
	st->max_event_time_ms = ws.max_event_time;
	st->late_records = ws.late;
	return rv;
}

/* A function of the job named name ("" = none): an sl_* built-in or the
 * library's; err set when named but missing (a damaged library). */
static void *job_fn(wjob *j, const char *name, const char *what, char *err, size_t errlen)
{
	if (name == NULL || name[0] == '\0')
		return NULL;
	void *fn = builtin_find(name, NULL);
	if (fn == NULL)
		fn = dlsym(j->dl, name);
	if (fn == NULL)
		snprintf(err, errlen, "%s '%s' not found", what, name);
	return fn;
}

/* The incremental window's update function, bound to its task's functions
 * (update functions have no argument; tasks run on several threads). */
static _Thread_local struct {
	const winmerge_fns *f;
	bool recompute;
	char err[256];
} wctx;

static int window_update(const uint8_t *key, uint32_t klen, sl_iter *values,
                         const uint8_t *state, uint32_t slen, sl_value *new_state)
{
	return winmerge_key(wctx.f, key, klen, values, wctx.recompute ? NULL : state,
	                    wctx.recompute ? 0 : slen, new_state, wctx.err,
	                    sizeof(wctx.err));
}

/* Appends records to b with each value tagged by tag (winmerge_key). */
static void tag_records(rbuf *b, const rbuf *records, uint8_t tag)
{
	rbuf_iter ri;
	sl_record r;
	uint8_t *v = NULL;
	size_t cap = 0;
	rbuf_iter_init(&ri, records->data, records->len);
	while (rbuf_iter_next(&ri, &r) > 0) {
		if ((size_t)r.value_len + 1 > cap) {
			cap = 2 * ((size_t)r.value_len + 1);
			v = sl_realloc(v, cap);
		}
		v[0] = tag;
		if (r.value_len > 0)
			memcpy(v + 1, r.value, r.value_len);
		rbuf_append(b, r.key, r.key_len, v, r.value_len + 1, 0);
	}
	sl_free(v);
}

/* reduce_by_key_and_window with the inverse: each key's state is its value
 * in the window; the slide's entering and leaving batches merge into it
 * (winmerge_key) and every key kept is the window's output. */
static int apply_incremental(wjob *j, state_part *sp, const Sluice__TaskSpec *ts,
                             const Sluice__Node *n, const rbuf *entering,
                             const rbuf *leaving, sl_emitter *out, char *err,
                             size_t errlen)
{
	err[0] = '\0';
	winmerge_fns f = {.reduce = (sl_reduce_fn)j->fns[n->id]};
	f.inv = (sl_reduce_fn)job_fn(j, n->inv_fn, "inverse function", err, errlen);
	f.filter = (sl_filter_fn)job_fn(j, n->filter_fn, "filter function", err, errlen);
	if (err[0] != '\0' || f.reduce == NULL || f.inv == NULL)
		return SL_EJOB;
	rbuf all;
	rbuf_init(&all);
	tag_records(&all, entering, '+');
	if (leaving != NULL)
		tag_records(&all, leaving, '-');
	rbuf_iter ri;
	rbuf_iter_init(&ri, all.data, all.len);
	sl_iter it = {.next = records_next, .arg = &ri};
	state_stats stats = {0};
	wctx.f = &f;
	wctx.recompute = ts->input->window_recompute;
	wctx.err[0] = '\0';
	int rv =
	    state_part_update_by_key(sp, &it, window_update, out, &stats, err, errlen);
	if (rv != SL_OK && wctx.err[0] != '\0')
		snprintf(err, errlen, "%s", wctx.err);
	rbuf_free(&all);
	return rv;
}

static int apply_batch(wjob *j, state_part *sp, const Sluice__TaskSpec *ts,
                       const Sluice__Node *n, const rbuf *records, const rbuf *leaving,
                       sl_emitter *out, Sluice__TaskStatus *st, char *err, size_t errlen)
{
	rbuf_iter ri;
	rbuf_iter_init(&ri, records->data, records->len);
	sl_iter it = {.next = records_next, .arg = &ri};
	state_stats stats = {0};
	if (graph_is_incremental_window(n))
		return apply_incremental(j, sp, ts, n, records, leaving, out, err,
		                         errlen);
	if (n->kind == SLUICE__NODE_KIND__OP_EVENT_TIME_WINDOW)
		return apply_window(j, sp, ts, n, &it, out, st, err, errlen);
	if (n->kind == SLUICE__NODE_KIND__OP_UPDATE_STATE_BY_KEY)
		return state_part_update_by_key(
		    sp, &it, (sl_update_state_fn)j->fns[n->id], out, &stats, err, errlen);
	return state_part_map_with_state(sp, &it, (sl_map_state_fn)j->fns[n->id], out,
	                                 &stats, err, errlen);
}

static void block_name(char *out, size_t len, const Sluice__TaskSpec *ts,
                       const Sluice__Node *n, int64_t base, int64_t t, bool full)
{
	if (full)
		snprintf(out, len, "stb-%llu-%u-%u-c%lld-full",
		         (unsigned long long)ts->job_id, n->id,
		         ts->input->reduce_partition, (long long)t);
	else
		snprintf(out, len, "stb-%llu-%u-%u-c%lld-d%lld",
		         (unsigned long long)ts->job_id, n->id,
		         ts->input->reduce_partition, (long long)base, (long long)t);
}

/* Applies the local block id to sp (a full checkpoint replaces it); 1 when
 * applied, 0 when this worker has no such block. */
static int rebuild_step(wengine *we, state_part **sp, const char *id, bool full,
                        char *err, size_t errlen)
{
	block_ref *ref = NULL;
	if (blockmgr_get(wengine_blocks(we), id, &ref) != SL_OK)
		return 0;
	int rv;
	if (full) {
		state_part *fresh = state_part_new(0);
		rv = state_part_restore_records(fresh, block_ref_data(ref), id, err,
		                                errlen);
		if (rv == SL_OK)
			state_part_swap(*sp, fresh);
		state_part_free(fresh);
	} else {
		rv = state_part_apply_delta(*sp, block_ref_data(ref), id, err, errlen);
	}
	block_ref_release(ref);
	return rv == SL_OK ? 1 : rv;
}

/* A partition this worker takes over (it held its replica): rebuilt from
 * the master's checkpoint C and the blocks after it, up to this batch. */
static int rebuild(wengine *we, wjob *j, state_part *sp, const Sluice__TaskSpec *ts,
                   const Sluice__Node *n, char *err, size_t errlen)
{
	int64_t c = ts->input->state_ckpt_ms, step = j->info->batch_interval_ms;
	if (c <= 0 || step <= 0 || state_part_version(sp) != STATE_NO_VERSION ||
	    state_part_keys(sp) != 0)
		return SL_OK;
	char id[160];
	block_name(id, sizeof(id), ts, n, c, c, true);
	int rv = rebuild_step(we, &sp, id, true, err, errlen), deltas = 0;
	if (rv == 0) {
		snprintf(err, errlen,
		         "rebuilding the state: checkpoint %s is not on this "
		         "worker",
		         id);
		return SL_ESTATE;
	}
	for (int64_t t = c + step; t <= ts->batch_ms && rv == 1; t += step) {
		block_name(id, sizeof(id), ts, n, c, t, true);
		if ((rv = rebuild_step(we, &sp, id, true, err, errlen)) == 1) {
			c = t; /* a newer full checkpoint: the base from now on */
			continue;
		}
		block_name(id, sizeof(id), ts, n, c, t, false);
		rv = rv == 0 ? rebuild_step(we, &sp, id, false, err, errlen) : rv;
		if (rv == 0) { /* the first delta after a full checkpoint started at
			        * t - step, which may not have arrived (stateckpt.h) */
			block_name(id, sizeof(id), ts, n, t - step, t, false);
			if ((rv = rebuild_step(we, &sp, id, false, err, errlen)) == 1)
				c = t - step;
		}
		deltas += rv == 1;
		rv = rv == 0 ? 1 : rv; /* a batch without a delta changed nothing */
	}
	if (rv != 1)
		return rv;
	log_info("job %llu: state partition %u of node %u rebuilt from checkpoint %lld "
	         "and %d deltas: at batch %lld, %zu keys",
	         (unsigned long long)ts->job_id, ts->input->reduce_partition, n->id,
	         (long long)ts->input->state_ckpt_ms, deltas,
	         (long long)state_part_version(sp), state_part_keys(sp));
	return SL_OK;
}

/* Sends the batch's full checkpoint (full) or delta to the replica. */
static int put_batch(wengine *we, state_part *sp, const Sluice__TaskSpec *ts,
                     const Sluice__Node *n, bool full, char *err, size_t errlen)
{
	char id[160];
	rbuf b;
	rbuf_init(&b);
	if (full)
		state_part_full_records(sp, &b);
	else
		state_part_delta_records(sp, &b);
	block_name(id, sizeof(id), ts, n, state_part_checkpoint_version(sp), ts->batch_ms,
	           full);
	int rv = state_put_replica(wengine_peers(we), ts->input->state_replica_url, id,
	                           &b, err, errlen);
	rbuf_free(&b);
	if (rv != SL_OK) {
		char e2[512];
		snprintf(e2, sizeof(e2), "replicating state block %s to %s: %s", id,
		         ts->input->state_replica_id, err);
		snprintf(err, errlen, "%s", e2);
	}
	return rv;
}

enum { CKPT_NONE, CKPT_SENDING, CKPT_DONE, CKPT_FAILED };

/* The full checkpoint sent in the background (stateckpt.h) to this task's
 * replica: CKPT_DONE once acknowledged, then reported to the master in
 * *ckpt_ms (by every task until the next one starts: the master ignores a
 * repeat); CKPT_FAILED (logged) when its send failed. One to another
 * replica (the master replaced it) is dropped: CKPT_NONE. */
static int ckpt_settle(state_part *sp, const Sluice__TaskSpec *ts, const Sluice__Node *n,
                       int64_t *ckpt_ms)
{
	state_ckpt *c = state_part_aux(sp);
	const char *replica =
	    ts->input->state_replica_id ? ts->input->state_replica_id : "";
	if (c == NULL || strcmp(state_ckpt_replica(c), replica) != 0) {
		state_part_set_aux(sp, NULL, NULL);
		return CKPT_NONE;
	}
	char err[512];
	int r = state_ckpt_poll(c, err, sizeof(err));
	if (r > 0)
		*ckpt_ms = state_ckpt_batch(c);
	if (r < 0) {
		log_warn("job %llu: state partition %u of node %u: full checkpoint of "
		         "batch %lld not written to %s (%s): written again now",
		         (unsigned long long)ts->job_id, ts->input->reduce_partition,
		         n->id, (long long)state_ckpt_batch(c), replica, err);
		state_part_set_aux(sp, NULL, NULL);
	}
	return r > 0 ? CKPT_DONE : r < 0 ? CKPT_FAILED : CKPT_SENDING;
}

/* Starts the batch's full checkpoint in the background; the deltas after it
 * carry it as their base. Not started (logged): due again next batch. */
static void ckpt_begin(wengine *we, state_part *sp, const Sluice__TaskSpec *ts,
                       const Sluice__Node *n)
{
	char id[160], err[512];
	rbuf b;
	rbuf_init(&b);
	state_part_full_records(sp, &b); /* a frozen copy */
	block_name(id, sizeof(id), ts, n, ts->batch_ms, ts->batch_ms, true);
	state_ckpt *c = state_ckpt_start(wengine_peers(we), ts->input->state_replica_url,
	                                 ts->input->state_replica_id, id, ts->batch_ms,
	                                 &b, err, sizeof(err));
	rbuf_free(&b);
	if (c == NULL) {
		log_warn("job %llu: %s", (unsigned long long)ts->job_id, err);
		return;
	}
	state_part_checkpointed(sp);
	state_part_set_aux(sp, c, state_ckpt_release);
}

/* After the batch committed: its delta to the replica and, every checkpoint
 * interval, a full checkpoint in the background (ckpt_begin), not before
 * the previous one was acknowledged; a new replica (in->state_full) gets
 * the full checkpoint at once, from the task. *ckpt_ms = the batch of the
 * replica's last acknowledged full checkpoint, when one is to report. */
static int replicate(wengine *we, wjob *j, state_part *sp, const Sluice__TaskSpec *ts,
                     const Sluice__Node *n, int64_t *ckpt_ms, char *err, size_t errlen)
{
	const Sluice__TaskInput *in = ts->input;
	if (in->state_replica_url == NULL || in->state_replica_url[0] == '\0')
		return SL_OK; /* a single worker: nowhere to copy it */
	if (in->state_full) {
		state_part_set_aux(sp, NULL, NULL); /* one in flight is superseded */
		int rv = put_batch(we, sp, ts, n, true, err, errlen);
		if (rv == SL_OK) {
			state_part_checkpointed(sp);
			*ckpt_ms = ts->batch_ms;
		}
		return rv;
	}
	int ckpt = ckpt_settle(sp, ts, n, ckpt_ms);
	int rv = put_batch(we, sp, ts, n, false, err, errlen);
	int64_t interval = state_checkpoint_interval(j->conf, j->info->batch_interval_ms);
	bool due = ckpt == CKPT_FAILED ||
	           (ckpt != CKPT_SENDING &&
	            state_part_checkpoint_due(sp, ts->batch_ms, interval));
	if (rv == SL_OK && due)
		ckpt_begin(we, sp, ts, n);
	return rv;
}

int stateops_apply(wengine *we, wjob *j, const Sluice__TaskSpec *ts,
                   const Sluice__Node *n, const rbuf *records, const rbuf *leaving,
                   sl_emitter *out, Sluice__TaskStatus *st, char *err, size_t errlen)
{
	uint32_t part = ts->input->reduce_partition;
	state_part *sp =
	    state_store_acquire(j->states, ts->job_id, n->id, part, n->timeout_ms);
	int rv = rebuild(we, j, sp, ts, n, err, errlen);
	if (rv == SL_OK)
		rv = seed_new(j, sp, ts, n, err, errlen);
	if (rv == SL_OK)
		rv = state_part_begin(sp, ts->batch_ms, err, errlen);
	if (rv == SL_OK) {
		rv = apply_batch(j, sp, ts, n, records, leaving, out, st, err, errlen);
		if (rv == SL_OK) {
			state_part_commit(sp);
			rv = replicate(we, j, sp, ts, n, &st->state_ckpt_ms, err, errlen);
		} else {
			state_part_abort(sp);
		}
	}
	st->state_keys = state_part_keys(sp);
	st->state_bytes = state_part_bytes(sp);
	state_store_release(j->states, sp);
	return rv;
}
