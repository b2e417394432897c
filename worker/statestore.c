/*
 * The state store behind update_state_by_key and map_with_state: see
 * statestore.h for the model (transactions with an undo log, a deadline
 * heap for timeouts, LZ4 checkpoints).
 *
 * Layout: entries are allocated one by one (key inline after the struct) so
 * that their addresses stay put while the chained hash table grows and
 * while the undo log and the deadline heap point at them. A removed entry
 * is only detached (out of the table and the heap); the undo log owns it
 * until the batch can no longer be rolled back, then frees it.
 */
#include "statestore.h"
#include "alloc.h"
#include "api.h"
#include "config.h"
#include "kvmap.h"
#include "record.h"
#include "sluice/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HEAP_NONE      SIZE_MAX
#define NO_DEADLINE    INT64_MAX
#define CKPT_MAGIC     "SLSTATE1"
#define CKPT_MAGIC_LEN 8

typedef struct st_entry {
	struct st_entry *next; /* hash chain */
	uint64_t hash;
	uint8_t *val;
	uint32_t vlen, klen;
	int64_t touched;   /* batch time of the last change or record */
	int64_t deadline;  /* heap order; NO_DEADLINE = not in the heap */
	int64_t logged_ms; /* batch whose undo log holds this entry */
	int64_t seen_ms;   /* update_state_by_key: called for in this batch */
	size_t heap_pos;
	bool attached;
	uint8_t key[];
} st_entry;

typedef struct {
	st_entry *e;
	bool inserted; /* new in the batch: rollback frees it */
	uint8_t *old_val;
	uint32_t old_len;
	int64_t old_touched, old_deadline;
} undo_rec;

struct state_part {
	st_entry **buckets;
	size_t nbuckets, count, bytes;
	st_entry **heap; /* min-heap on deadline */
	size_t nheap, heapcap;
	int64_t timeout_ms;
	int64_t version, prev_version, open_ms, ckpt_version;
	undo_rec *undo;
	size_t nundo, undocap;
	int64_t undo_ms; /* the batch the undo log belongs to */
	sl_state scratch;
	void *aux; /* its owner's (state_part_set_aux) */
	void (*aux_free)(void *);
};

static uint64_t key_hash(const void *k, uint32_t klen)
{
	uint64_t h = kvmap_hash(k, klen);
	return h ^ (h >> 29);
}

state_part *state_part_new(int64_t timeout_ms)
{
	state_part *sp = sl_calloc(1, sizeof(*sp));
	sp->nbuckets = 64;
	sp->buckets = sl_calloc(sp->nbuckets, sizeof(*sp->buckets));
	sp->timeout_ms = timeout_ms > 0 ? timeout_ms : 0;
	sp->version = sp->prev_version = sp->ckpt_version = STATE_NO_VERSION;
	sp->open_ms = sp->undo_ms = STATE_NO_VERSION;
	return sp;
}

static void entry_free(st_entry *e)
{
	sl_free(e->val);
	sl_free(e);
}

/* Frees the undo log's records: the old values, and entries the batch
 * removed (detached), which nothing else points at any more. */
static void undo_clear(state_part *sp)
{
	for (size_t i = 0; i < sp->nundo; i++) {
		sl_free(sp->undo[i].old_val);
		if (!sp->undo[i].e->attached)
			entry_free(sp->undo[i].e);
	}
	sp->nundo = 0;
	sp->undo_ms = STATE_NO_VERSION;
}

void state_part_free(state_part *sp)
{
	if (sp == NULL)
		return;
	if (sp->aux_free != NULL)
		sp->aux_free(sp->aux);
	undo_clear(sp);
	for (size_t b = 0; b < sp->nbuckets; b++)
		for (st_entry *e = sp->buckets[b], *next; e != NULL; e = next) {
			next = e->next;
			entry_free(e);
		}
	sl_free(sp->buckets);
	sl_free(sp->heap);
	sl_free(sp->undo);
	sl_free(sp->scratch.value.data);
	sl_free(sp);
}

size_t state_part_keys(const state_part *sp)
{
	return sp->count;
}

size_t state_part_bytes(const state_part *sp)
{
	return sp->bytes;
}

int64_t state_part_version(const state_part *sp)
{
	return sp->version;
}

/* ---- the deadline heap ---- */

static int64_t deadline(const state_part *sp, const st_entry *e)
{
	(void)sp;
	return e->deadline;
}

static void heap_set(state_part *sp, size_t i, st_entry *e)
{
	sp->heap[i] = e;
	e->heap_pos = i;
}

static void heap_up(state_part *sp, size_t i)
{
	st_entry *e = sp->heap[i];
	while (i > 0 && deadline(sp, sp->heap[(i - 1) / 2]) > deadline(sp, e)) {
		heap_set(sp, i, sp->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(sp, i, e);
}

static void heap_down(state_part *sp, size_t i)
{
	st_entry *e = sp->heap[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= sp->nheap)
			break;
		if (c + 1 < sp->nheap &&
		    deadline(sp, sp->heap[c + 1]) < deadline(sp, sp->heap[c]))
			c++;
		if (deadline(sp, sp->heap[c]) >= deadline(sp, e))
			break;
		heap_set(sp, i, sp->heap[c]);
		i = c;
	}
	heap_set(sp, i, e);
}

static void heap_push(state_part *sp, st_entry *e)
{
	if (e->deadline == NO_DEADLINE)
		return;
	if (sp->nheap == sp->heapcap) {
		sp->heapcap = sp->heapcap ? sp->heapcap * 2 : 64;
		sp->heap = sl_realloc(sp->heap, sp->heapcap * sizeof(*sp->heap));
	}
	heap_set(sp, sp->nheap++, e);
	heap_up(sp, e->heap_pos);
}

static void heap_remove(state_part *sp, st_entry *e)
{
	if (e->heap_pos == HEAP_NONE)
		return;
	size_t i = e->heap_pos;
	e->heap_pos = HEAP_NONE;
	if (--sp->nheap == i)
		return;
	st_entry *moved = sp->heap[sp->nheap];
	heap_set(sp, i, moved);
	heap_up(sp, i);
	heap_down(sp, moved->heap_pos);
}

/* Sets an entry's deadline, moving it in, out or within the heap when it
 * is attached. */
static void set_deadline(state_part *sp, st_entry *e, int64_t d)
{
	e->deadline = d;
	if (!e->attached)
		return;
	if (e->heap_pos == HEAP_NONE) {
		heap_push(sp, e);
	} else if (d == NO_DEADLINE) {
		heap_remove(sp, e);
	} else {
		heap_up(sp, e->heap_pos);
		heap_down(sp, e->heap_pos);
	}
}

/* map_with_state's idle deadline for an entry touched now. */
static void touch(state_part *sp, st_entry *e)
{
	e->touched = sp->open_ms;
	if (sp->timeout_ms > 0)
		set_deadline(sp, e, sp->open_ms + sp->timeout_ms);
}

/* ---- the table ---- */

static void table_grow(state_part *sp)
{
	size_t n = sp->nbuckets * 2;
	st_entry **b = sl_calloc(n, sizeof(*b));
	for (size_t i = 0; i < sp->nbuckets; i++)
		for (st_entry *e = sp->buckets[i], *next; e != NULL; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	sl_free(sp->buckets);
	sp->buckets = b;
	sp->nbuckets = n;
}

static st_entry *find(const state_part *sp, const void *key, uint32_t klen, uint64_t h)
{
	for (st_entry *e = sp->buckets[h & (sp->nbuckets - 1)]; e != NULL; e = e->next)
		if (e->hash == h && e->klen == klen && memcmp(e->key, key, klen) == 0)
			return e;
	return NULL;
}

static void attach(state_part *sp, st_entry *e)
{
	if (sp->count >= sp->nbuckets)
		table_grow(sp);
	st_entry **b = &sp->buckets[e->hash & (sp->nbuckets - 1)];
	e->next = *b;
	*b = e;
	e->attached = true;
	sp->count++;
	sp->bytes += sizeof(*e) + e->klen + e->vlen;
	heap_push(sp, e);
}

static void detach(state_part *sp, st_entry *e)
{
	st_entry **p = &sp->buckets[e->hash & (sp->nbuckets - 1)];
	while (*p != e)
		p = &(*p)->next;
	*p = e->next;
	e->next = NULL;
	e->attached = false;
	sp->count--;
	sp->bytes -= sizeof(*e) + e->klen + e->vlen;
	heap_remove(sp, e);
}

const uint8_t *state_part_get(const state_part *sp, const void *key, uint32_t klen,
                              uint32_t *len)
{
	const st_entry *e = find(sp, key, klen, key_hash(key, klen));
	if (len != NULL)
		*len = e ? e->vlen : 0;
	return e ? e->val : NULL;
}

static st_entry *entry_new(const void *key, uint32_t klen, uint64_t h)
{
	st_entry *e = sl_calloc(1, sizeof(*e) + (klen ? klen : 1));
	if (klen > 0)
		memcpy(e->key, key, klen);
	e->klen = klen;
	e->hash = h;
	e->heap_pos = HEAP_NONE;
	e->deadline = NO_DEADLINE;
	e->logged_ms = e->seen_ms = STATE_NO_VERSION;
	return e;
}

/* ---- changes, each logged once per batch ---- */

static void undo_log(state_part *sp, st_entry *e, bool inserted)
{
	if (e->logged_ms == sp->open_ms)
		return;
	if (sp->nundo == sp->undocap) {
		sp->undocap = sp->undocap ? sp->undocap * 2 : 64;
		sp->undo = sl_realloc(sp->undo, sp->undocap * sizeof(*sp->undo));
	}
	undo_rec *u = &sp->undo[sp->nundo++];
	u->e = e;
	u->inserted = inserted;
	u->old_len = e->vlen;
	u->old_touched = e->touched;
	u->old_deadline = e->deadline;
	u->old_val = NULL;
	if (!inserted && e->vlen > 0) {
		u->old_val = sl_malloc(e->vlen);
		memcpy(u->old_val, e->val, e->vlen);
	}
	e->logged_ms = sp->open_ms;
}

static void set_value(state_part *sp, st_entry *e, const uint8_t *v, uint32_t len)
{
	sp->bytes = sp->bytes - e->vlen + len;
	if (len > e->vlen || e->val == NULL)
		e->val = sl_realloc(e->val, len ? len : 1);
	if (len > 0)
		memcpy(e->val, v, len);
	e->vlen = len;
}

/* Sets key's state (inserting the key) at the open batch; returns the entry. */
static st_entry *put(state_part *sp, st_entry *e, const void *key, uint32_t klen,
                     uint64_t h, const uint8_t *v, uint32_t len)
{
	if (e == NULL) {
		e = entry_new(key, klen, h);
		undo_log(sp, e, true);
		attach(sp, e);
	} else {
		undo_log(sp, e, false);
	}
	set_value(sp, e, v, len);
	touch(sp, e);
	return e;
}

static void drop(state_part *sp, st_entry *e)
{
	undo_log(sp, e, false);
	detach(sp, e);
}

/* Undoes the log in reverse order, then forgets it. */
static void rollback(state_part *sp)
{
	for (size_t i = sp->nundo; i-- > 0;) {
		undo_rec *u = &sp->undo[i];
		st_entry *e = u->e;
		if (u->inserted) {
			if (e->attached)
				detach(sp, e);
			continue; /* freed by undo_clear: detached */
		}
		if (e->attached)
			sp->bytes -= e->vlen;
		sl_free(e->val);
		e->val = u->old_val;
		e->vlen = u->old_len;
		u->old_val = NULL;
		e->touched = u->old_touched;
		e->logged_ms = STATE_NO_VERSION;
		e->seen_ms = STATE_NO_VERSION; /* the batch runs again: visit it */
		if (e->attached) {
			sp->bytes += e->vlen;
			set_deadline(sp, e, u->old_deadline);
		} else {
			e->deadline = u->old_deadline;
			attach(sp, e);
		}
	}
	undo_clear(sp);
}

int state_part_begin(state_part *sp, int64_t batch_ms, char *err, size_t errlen)
{
	if (sp->version != STATE_NO_VERSION && batch_ms < sp->version) {
		snprintf(
		    err, errlen,
		    "state is at batch %lld: batch %lld is older (reload a checkpoint "
		    "that precedes it)",
		    (long long)sp->version, (long long)batch_ms);
		return SL_ESTATE;
	}
	if (sp->version != STATE_NO_VERSION && batch_ms == sp->version &&
	    sp->undo_ms != batch_ms) {
		snprintf(
		    err, errlen,
		    "state already includes batch %lld and can no longer roll it back",
		    (long long)batch_ms);
		return SL_ESTATE;
	}
	if (sp->version != STATE_NO_VERSION && batch_ms == sp->version) {
		rollback(sp); /* a re-run of the committed batch */
		sp->version = sp->prev_version;
	} else {
		undo_clear(sp);
	}
	sp->open_ms = sp->undo_ms = batch_ms;
	return SL_OK;
}

void state_part_commit(state_part *sp)
{
	sp->prev_version = sp->version;
	sp->version = sp->open_ms;
	sp->open_ms = STATE_NO_VERSION;
}

void state_part_abort(state_part *sp)
{
	rollback(sp);
	sp->open_ms = STATE_NO_VERSION;
}

/* ---- update_state_by_key ---- */

typedef struct {
	sl_iter base;
	const uint8_t *key, *list;
	uint32_t klen, len, off;
} list_iter;

static int list_iter_next(sl_iter *it, sl_record *r)
{
	list_iter *li = (list_iter *)it;
	const uint8_t *v;
	uint32_t vlen;
	int rv = sl_list_next(li->list, li->len, &li->off, &v, &vlen);
	if (rv <= 0)
		return rv;
	*r = (sl_record){
	    .key = li->key, .key_len = li->klen, .value = v, .value_len = vlen};
	return 1;
}

static int fn_failed(char *err, size_t errlen, const char *what, const uint8_t *key,
                     uint32_t klen, int rv)
{
	snprintf(err, errlen, "%s returned %d for key '%.*s'", what, rv,
	         (int)(klen > 64 ? 64 : klen), (const char *)key);
	return rv;
}

/* Calls fn for one key with its batch values (list may be empty), applies
 * the result and emits the state kept. The scratch value's length starts
 * at UINT32_MAX, which sl_value_set always replaces: still UINT32_MAX after
 * the call means the function left the new state unset (remove the key),
 * while a set of 0 bytes keeps an empty state. */
static int update_one(state_part *sp, st_entry *e, const uint8_t *key, uint32_t klen,
                      uint64_t h, const uint8_t *list, uint32_t len,
                      sl_update_state_fn fn, sl_emitter *out, state_stats *st, char *err,
                      size_t errlen)
{
	list_iter li = {.base.next = list_iter_next,
	                .key = key,
	                .klen = klen,
	                .list = list,
	                .len = len};
	sl_value *nv = &sp->scratch.value;
	nv->len = UINT32_MAX;
	st->calls++;
	st->touched++;
	int rv = fn(key, klen, &li.base, e ? e->val : NULL, e ? e->vlen : 0, nv);
	if (rv != 0)
		return fn_failed(err, errlen, "update function", key, klen, rv);
	if (nv->len == UINT32_MAX) {
		if (e != NULL) {
			drop(sp, e);
			st->removed++;
		}
		return SL_OK;
	}
	e = put(sp, e, key, klen, h, nv->data, nv->len);
	e->seen_ms = sp->open_ms;
	rv = sl_emit(out, e->key, e->klen, e->val, e->vlen, sp->open_ms);
	return rv == 0 ? SL_OK : fn_failed(err, errlen, "emit", key, klen, rv);
}

/* Groups the batch's records by key: key -> value list. */
static int group_batch(sl_iter *records, kvmap *groups, state_stats *st, char *err,
                       size_t errlen)
{
	sl_record r;
	int rv;
	while ((rv = records->next(records, &r)) > 0) {
		st->records++;
		kvmap_append(groups, r.key, r.key_len, r.value, r.value_len);
	}
	if (rv < 0)
		snprintf(err, errlen, "the batch's records are malformed");
	return rv;
}

int state_part_update_by_key(state_part *sp, sl_iter *records, sl_update_state_fn fn,
                             sl_emitter *out, state_stats *st, char *err, size_t errlen)
{
	kvmap *groups = kvmap_new();
	int rv = group_batch(records, groups, st, err, errlen);
	size_t pos = 0;
	sl_record g;
	while (rv == SL_OK && kvmap_next(groups, &pos, &g)) {
		uint64_t h = key_hash(g.key, g.key_len);
		st_entry *e = find(sp, g.key, g.key_len, h);
		rv = update_one(sp, e, g.key, g.key_len, h, g.value, g.value_len, fn, out,
		                st, err, errlen);
	}
	kvmap_free(groups);
	/* every other key held: called with no values (Spark's semantics) */
	for (size_t b = 0; b < sp->nbuckets && rv == SL_OK; b++)
		for (st_entry *e = sp->buckets[b], *next; e != NULL && rv == SL_OK;
		     e = next) {
			next = e->next;
			if (e->seen_ms != sp->open_ms)
				rv = update_one(sp, e, e->key, e->klen, e->hash, NULL, 0,
				                fn, out, st, err, errlen);
		}
	return rv;
}

/* ---- map_with_state ---- */

/* Calls fn for one key (in == NULL: timing out) with the key's state in the
 * scratch sl_state, then applies what the function did to it. */
static int map_one(state_part *sp, st_entry *e, const uint8_t *key, uint32_t klen,
                   uint64_t h, const sl_record *in, sl_map_state_fn fn, sl_emitter *out,
                   state_stats *st, char *err, size_t errlen)
{
	sl_state *ss = &sp->scratch;
	sl_value_set(&ss->value, e ? e->val : NULL, e ? e->vlen : 0);
	ss->exists = e != NULL;
	ss->timing_out = in == NULL;
	ss->changed = false;
	st->calls++;
	int rv = fn(key, klen, in, ss, out);
	if (rv != 0)
		return fn_failed(err, errlen, "map_with_state function", key, klen, rv);
	if (in == NULL) { /* timed out: removed whatever the function did */
		drop(sp, e);
		st->timed_out++;
	} else if (ss->changed && ss->exists) {
		put(sp, e, key, klen, h, ss->value.data, ss->value.len);
	} else if (ss->changed && e != NULL) {
		drop(sp, e);
		st->removed++;
	} else if (e != NULL) { /* data arrived: not idle, whether changed or not */
		undo_log(sp, e, false);
		touch(sp, e);
	}
	return SL_OK;
}

static int map_records(state_part *sp, sl_iter *records, sl_map_state_fn fn,
                       sl_emitter *out, state_stats *st, char *err, size_t errlen)
{
	sl_record r;
	int rv;
	while ((rv = records->next(records, &r)) > 0) {
		st->records++;
		uint64_t h = key_hash(r.key, r.key_len);
		st_entry *e = find(sp, r.key, r.key_len, h);
		if (e == NULL || e->seen_ms != sp->open_ms)
			st->touched++;
		rv = map_one(sp, e, r.key, r.key_len, h, &r, fn, out, st, err, errlen);
		if (rv != SL_OK)
			return rv;
		if ((e = find(sp, r.key, r.key_len, h)) != NULL)
			e->seen_ms = sp->open_ms;
	}
	if (rv < 0)
		snprintf(err, errlen, "the batch's records are malformed");
	return rv;
}

int state_part_map_with_state(state_part *sp, sl_iter *records, sl_map_state_fn fn,
                              sl_emitter *out, state_stats *st, char *err, size_t errlen)
{
	int rv = map_records(sp, records, fn, out, st, err, errlen);
	/* then the keys idle for the timeout: the heap's minimum first */
	while (rv == SL_OK && sp->nheap > 0 && deadline(sp, sp->heap[0]) <= sp->open_ms) {
		st_entry *e = sp->heap[0];
		st->touched++;
		rv = map_one(sp, e, e->key, e->klen, e->hash, NULL, fn, out, st, err,
		             errlen);
	}
	return rv;
}

/* ---- keys with explicit deadlines (event-time windows) ---- */

int state_part_reduce(state_part *sp, const void *key, uint32_t klen, const uint8_t *v,
                      uint32_t vlen, int64_t deadline_ms, sl_reduce_fn fn, char *err,
                      size_t errlen)
{
	uint64_t h = key_hash(key, klen);
	st_entry *e = find(sp, key, klen, h);
	if (e == NULL) {
		e = entry_new(key, klen, h);
		undo_log(sp, e, true);
		attach(sp, e);
		set_value(sp, e, v, vlen);
	} else {
		sl_value *out = &sp->scratch.value;
		out->len = 0;
		int rv = fn(e->val, e->vlen, v, vlen, out);
		if (rv != 0)
			return fn_failed(err, errlen, "reduce function", key, klen, rv);
		undo_log(sp, e, false);
		set_value(sp, e, out->data, out->len);
	}
	e->touched = sp->open_ms;
	set_deadline(sp, e, deadline_ms);
	return SL_OK;
}

int state_part_expire(state_part *sp, int64_t limit, state_fire_fn fire, void *arg)
{
	while (sp->nheap > 0 && sp->heap[0]->deadline <= limit) {
		st_entry *e = sp->heap[0];
		int rv = fire(arg, e->key, e->klen, e->val, e->vlen, e->deadline);
		if (rv != 0)
			return rv;
		drop(sp, e);
	}
	return SL_OK;
}

/* ---- initial state ---- */

typedef struct {
	sl_emitter base;
	state_part *sp;
	uint32_t part, nparts;
} seed_em;

static int seed_emit(sl_emitter *self, const sl_record *r)
{
	seed_em *se = (seed_em *)self;
	if (kvmap_hash(r->key, r->key_len) % se->nparts != se->part)
		return 0;
	uint64_t h = key_hash(r->key, r->key_len);
	st_entry *e = find(se->sp, r->key, r->key_len, h);
	if (e == NULL) {
		e = entry_new(r->key, r->key_len, h);
		e->touched = se->sp->open_ms;
		if (se->sp->timeout_ms > 0)
			e->deadline = e->touched + se->sp->timeout_ms;
		attach(se->sp, e);
	}
	set_value(se->sp, e, r->value, r->value_len);
	return 0;
}

int state_part_seed(state_part *sp, sl_initial_state_fn fn, uint32_t part,
                    uint32_t nparts, int64_t batch_ms, char *err, size_t errlen)
{
	if (sp->count != 0 || sp->version != STATE_NO_VERSION || nparts == 0 ||
	    part >= nparts) {
		snprintf(err, errlen,
		         "initial state: the partition must be new and empty (it holds "
		         "%zu keys "
		         "at version %lld; partition %u of %u)",
		         sp->count, (long long)sp->version, part, nparts);
		return SL_ESTATE;
	}
	seed_em se = {.base.emit = seed_emit, .sp = sp, .part = part, .nparts = nparts};
	sp->open_ms = batch_ms;
	int rv = fn(&se.base);
	sp->open_ms = STATE_NO_VERSION;
	if (rv != 0) {
		snprintf(err, errlen, "initial state function returned %d", rv);
		for (size_t b = 0; b < sp->nbuckets; b++)
			while (sp->buckets[b] != NULL) {
				st_entry *e = sp->buckets[b];
				detach(sp, e);
				entry_free(e);
			}
		return rv;
	}
	return SL_OK;
}

/* ---- checkpoints ---- */

bool state_part_checkpoint_due(const state_part *sp, int64_t batch_ms,
                               int64_t interval_ms)
{
	if (interval_ms <= 0)
		return false;
	return sp->ckpt_version == STATE_NO_VERSION ||
	       batch_ms / interval_ms > sp->ckpt_version / interval_ms;
}

int64_t state_checkpoint_interval(const sl_conf *conf, int64_t batch_interval_ms)
{
	const char *key = "spark.streaming.checkpoint.interval";
	if (conf != NULL && conf_is_set(conf, key))
		return conf_get_duration_ms(conf, key);
	return 10 * batch_interval_ms;
}

/* The committed state as records: a meta record (empty key; value = version
 * and timeout as two i64) and then one record per key: value = its deadline
 * (i64) then its state, event time = batch last touched. */
static void ckpt_records(const state_part *sp, rbuf *b)
{
	uint8_t meta[16], *v = NULL;
	size_t cap = 0;
	sl_i64_encode(sp->version, meta);
	sl_i64_encode(sp->timeout_ms, meta + 8);
	/* sized at once: growing a large copy by doubling costs as much again */
	size_t kv = sp->bytes > sp->count * sizeof(st_entry)
	                ? sp->bytes - sp->count * sizeof(st_entry)
	                : 0;
	rbuf_reserve(b, (sp->count + 1) * (RECORD_HEADER_LEN + 8) + kv + sizeof(meta));
	rbuf_append(b, NULL, 0, meta, sizeof(meta), 0);
	for (size_t i = 0; i < sp->nbuckets; i++) {
		if (i + 16 < sp->nbuckets) /* entries are scattered: fetch ahead */
			__builtin_prefetch(sp->buckets[i + 16]);
		for (const st_entry *e = sp->buckets[i]; e != NULL; e = e->next) {
			if (8 + (size_t)e->vlen > cap) {
				cap = 2 * (8 + (size_t)e->vlen);
				v = sl_realloc(v, cap);
			}
			sl_i64_encode(e->deadline, v);
			if (e->vlen > 0)
				memcpy(v + 8, e->val, e->vlen);
			rbuf_append(b, e->key, e->klen, v, 8 + e->vlen, e->touched);
		}
	}
	sl_free(v);
}

int state_part_encode(const state_part *sp, uint8_t **out, size_t *len)
{
	rbuf b;
	uint8_t *enc = NULL;
	size_t enclen = 0;
	rbuf_init(&b);
	ckpt_records(sp, &b);
	int rv = block_encode(&b, &enc, &enclen);
	rbuf_free(&b);
	if (rv != SL_OK)
		return rv;
	*out = sl_malloc(CKPT_MAGIC_LEN + enclen);
	memcpy(*out, CKPT_MAGIC, CKPT_MAGIC_LEN);
	memcpy(*out + CKPT_MAGIC_LEN, enc, enclen);
	*len = CKPT_MAGIC_LEN + enclen;
	sl_free(enc);
	return SL_OK;
}

/* Inserts the checkpoint's records into sp; SL_EPROTO with err if bad. */
static int ckpt_fill(state_part *sp, const rbuf *b, const char *path, char *err,
                     size_t errlen)
{
	rbuf_iter it;
	sl_record r;
	int rv;
	rbuf_iter_init(&it, b->data, b->len);
	if (rbuf_iter_next(&it, &r) != 1 || r.key_len != 0 || r.value_len != 16) {
		snprintf(err, errlen, "state checkpoint %s: damaged: no version record",
		         path);
		return SL_EPROTO;
	}
	sp->version = sl_i64_decode(r.value, 8);
	sp->timeout_ms = sl_i64_decode(r.value + 8, 8);
	if (sp->timeout_ms < 0) {
		snprintf(err, errlen, "state checkpoint %s: damaged: timeout %lld", path,
		         (long long)sp->timeout_ms);
		return SL_EPROTO;
	}
	while ((rv = rbuf_iter_next(&it, &r)) > 0) {
		uint64_t h = key_hash(r.key, r.key_len);
		if (find(sp, r.key, r.key_len, h) != NULL) {
			snprintf(err, errlen,
			         "state checkpoint %s: damaged: key '%.*s' twice", path,
			         (int)(r.key_len > 64 ? 64 : r.key_len),
			         (const char *)r.key);
			return SL_EPROTO;
		}
		if (r.value_len < 8) {
			snprintf(err, errlen,
			         "state checkpoint %s: damaged: a record of %u bytes",
			         path, r.value_len);
			return SL_EPROTO;
		}
		st_entry *e = entry_new(r.key, r.key_len, h);
		e->touched = r.event_time_ms;
		e->deadline = sl_i64_decode(r.value, 8);
		set_value(sp, e, r.value + 8, r.value_len - 8);
		sp->bytes -= r.value_len - 8; /* attach counts it */
		attach(sp, e);
	}
	return SL_OK;
}

/* ---- replication: full checkpoints and deltas as records ---- */

void state_part_full_records(const state_part *sp, rbuf *out)
{
	ckpt_records(sp, out);
}

void state_part_checkpointed(state_part *sp)
{
	sp->ckpt_version = sp->version;
}

int64_t state_part_checkpoint_version(const state_part *sp)
{
	return sp->ckpt_version;
}

void state_part_swap(state_part *a, state_part *b)
{
	state_part t = *a;
	*a = *b;
	*b = t;
	b->aux = a->aux; /* the attached objects stay where they were */
	b->aux_free = a->aux_free;
	a->aux = t.aux;
	a->aux_free = t.aux_free;
}

void state_part_set_aux(state_part *sp, void *aux, void (*free_fn)(void *))
{
	if (sp->aux_free != NULL)
		sp->aux_free(sp->aux);
	sp->aux = aux;
	sp->aux_free = free_fn;
}

void *state_part_aux(const state_part *sp)
{
	return sp->aux;
}

/* Appends one key of a delta: flag 1 + deadline + state, or flag 0. */
static void delta_key(rbuf *out, const st_entry *e, uint8_t **v, size_t *cap)
{
	if (9 + (size_t)e->vlen > *cap) {
		*cap = 2 * (9 + (size_t)e->vlen);
		*v = sl_realloc(*v, *cap);
	}
	(*v)[0] = e->attached;
	sl_i64_encode(e->deadline, *v + 1);
	if (e->attached && e->vlen > 0)
		memcpy(*v + 9, e->val, e->vlen);
	rbuf_append(out, e->key, e->klen, *v, e->attached ? 9 + e->vlen : 1, e->touched);
}

/* Whether the committed batch left its logged entry as the batch found it
 * (update_state_by_key sets every key, mostly to the same bytes), or added
 * and removed it: nothing for a replica to change. */
static bool unchanged(const undo_rec *u)
{
	const st_entry *e = u->e;
	if (u->inserted)
		return !e->attached;
	return e->attached && e->vlen == u->old_len && e->deadline == u->old_deadline &&
	       (e->vlen == 0 || memcmp(e->val, u->old_val, e->vlen) == 0);
}

void state_part_delta_records(const state_part *sp, rbuf *out)
{
	uint8_t meta[24], *v = NULL;
	size_t cap = 0;
	sl_i64_encode(sp->version, meta);
	sl_i64_encode(sp->prev_version, meta + 8);
	sl_i64_encode(sp->timeout_ms, meta + 16);
	rbuf_append(out, NULL, 0, meta, sizeof(meta), 0);
	if (sp->undo_ms == sp->version) /* the log of the committed batch */
		for (size_t i = 0; i < sp->nundo; i++)
			if (!unchanged(&sp->undo[i]))
				delta_key(out, sp->undo[i].e, &v, &cap);
	sl_free(v);
}

int state_part_restore_records(state_part *sp, const rbuf *full, const char *name,
                               char *err, size_t errlen)
{
	if (sp->count != 0 || sp->version != STATE_NO_VERSION) {
		snprintf(err, errlen, "%s: the partition to restore into is not empty",
		         name);
		return SL_ESTATE;
	}
	int rv = ckpt_fill(sp, full, name, err, errlen);
	sp->ckpt_version = sp->version;
	return rv;
}

/* Applies one record of a delta to the open batch. */
static int delta_apply_one(state_part *sp, const sl_record *r, const char *name,
                           char *err, size_t errlen)
{
	if (r->value_len < 1 || (r->value[0] == 1 && r->value_len < 9)) {
		snprintf(err, errlen, "%s: damaged: a delta record of %u bytes", name,
		         r->value_len);
		return SL_EPROTO;
	}
	uint64_t h = key_hash(r->key, r->key_len);
	st_entry *e = find(sp, r->key, r->key_len, h);
	if (r->value[0] == 0) {
		if (e != NULL)
			drop(sp, e);
		return SL_OK;
	}
	e = put(sp, e, r->key, r->key_len, h, r->value + 9, r->value_len - 9);
	e->touched = r->event_time_ms;
	set_deadline(sp, e, sl_i64_decode(r->value + 1, 8));
	return SL_OK;
}

int state_part_apply_delta(state_part *sp, const rbuf *delta, const char *name, char *err,
                           size_t errlen)
{
	rbuf_iter it;
	sl_record r;
	err[0] = '\0';
	rbuf_iter_init(&it, delta->data, delta->len);
	if (rbuf_iter_next(&it, &r) != 1 || r.key_len != 0 || r.value_len != 24) {
		snprintf(err, errlen, "%s: damaged: no version record", name);
		return SL_EPROTO;
	}
	int64_t v = sl_i64_decode(r.value, 8), prev = sl_i64_decode(r.value + 8, 8);
	if (sp->version != v && sp->version != prev) {
		snprintf(
		    err, errlen,
		    "%s: the delta of batch %lld follows batch %lld, the state is at "
		    "%lld",
		    name, (long long)v, (long long)prev, (long long)sp->version);
		return SL_ESTATE;
	}
	int rv = state_part_begin(sp, v, err, errlen);
	if (rv != SL_OK)
		return rv;
	while (rv == SL_OK && (rv = rbuf_iter_next(&it, &r)) > 0)
		rv = delta_apply_one(sp, &r, name, err, errlen);
	if (rv != SL_OK) {
		if (rv > 0 || err[0] == '\0')
			snprintf(err, errlen, "%s: damaged records", name);
		state_part_abort(sp);
		return SL_EPROTO;
	}
	state_part_commit(sp);
	return SL_OK;
}

int state_part_decode(const uint8_t *data, size_t len, const char *name, size_t max_raw,
                      state_part **out, char *err, size_t errlen)
{
	char berr[256] = "";
	rbuf b;
	*out = NULL;
	if (len < CKPT_MAGIC_LEN || memcmp(data, CKPT_MAGIC, CKPT_MAGIC_LEN) != 0) {
		snprintf(err, errlen,
		         "state checkpoint %s: not a state checkpoint (bad magic)", name);
		return SL_EPROTO;
	}
	if (block_decode(data + CKPT_MAGIC_LEN, len - CKPT_MAGIC_LEN, max_raw, &b, berr,
	                 sizeof(berr)) != SL_OK) {
		snprintf(err, errlen, "state checkpoint %s: damaged: %s", name, berr);
		return SL_EPROTO;
	}
	state_part *sp = state_part_new(0);
	int rv = ckpt_fill(sp, &b, name, err, errlen);
	rbuf_free(&b);
	if (rv != SL_OK) {
		state_part_free(sp);
		return rv;
	}
	sp->ckpt_version = sp->version;
	*out = sp;
	return SL_OK;
}
