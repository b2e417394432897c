/*
 * State tasks: see stateops.h. The state store (statestore.h) does the
 * semantics (grouping, timeouts, undo); this file binds a task to its
 * partition and to the job's functions.
 */
#include "stateops.h"
#include "api.h"
#include "sluice/err.h"
#include "statestore.h"

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

static int apply_batch(wjob *j, state_part *sp, const Sluice__Node *n,
                       const rbuf *records, sl_emitter *out, char *err, size_t errlen)
{
	rbuf_iter ri;
	rbuf_iter_init(&ri, records->data, records->len);
	sl_iter it = {.next = records_next, .arg = &ri};
	state_stats stats = {0};
	if (n->kind == SLUICE__NODE_KIND__OP_UPDATE_STATE_BY_KEY)
		return state_part_update_by_key(
		    sp, &it, (sl_update_state_fn)j->fns[n->id], out, &stats, err, errlen);
	return state_part_map_with_state(sp, &it, (sl_map_state_fn)j->fns[n->id], out,
	                                 &stats, err, errlen);
}

int stateops_apply(wjob *j, const Sluice__TaskSpec *ts, const Sluice__Node *n,
                   const rbuf *records, sl_emitter *out, char *err, size_t errlen)
{
	uint32_t part = ts->input->reduce_partition;
	state_part *sp =
	    state_store_acquire(j->states, ts->job_id, n->id, part, n->timeout_ms);
	int rv = seed_new(j, sp, ts, n, err, errlen);
	if (rv == SL_OK)
		rv = state_part_begin(sp, ts->batch_ms, err, errlen);
	if (rv == SL_OK) {
		rv = apply_batch(j, sp, n, records, out, err, errlen);
		if (rv == SL_OK)
			state_part_commit(sp);
		else
			state_part_abort(sp);
	}
	state_store_release(j->states, sp);
	return rv;
}
