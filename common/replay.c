/*
 * Replay cache: see replay.h.
 *
 * An open-addressing hash table of (MAC tag, timestamp) with linear probing.
 * The tag is a prefix of an HMAC, uniformly distributed for anyone who does
 * not hold the key, and only frames whose MAC verified are inserted, so its
 * first 8 bytes serve as the hash without flooding risk. There are no
 * deletions between rebuilds: when the table is half full it is rebuilt,
 * dropping frames older than the window (the timestamp check refuses them
 * anyway), then grown, or, at the size bound, halved by raising the floor.
 */
#include "replay.h"
#include "alloc.h"
#include "sluice/err.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_MIN_SLOTS 1024

/* 24 bytes. An empty slot has ts == SLOT_EMPTY, a time no frame can carry
 * past the floor. */
typedef struct {
	uint8_t tag[REPLAY_TAG_LEN];
	int64_t ts;
} slot;

#define SLOT_EMPTY INT64_MIN

struct replay_cache {
	pthread_mutex_t lock;
	slot *v;
	size_t cap, n, max_cap;
	int64_t window_ms, floor;
};

static slot *slots_new(size_t n)
{
	slot *v = sl_malloc(n * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i].ts = SLOT_EMPTY;
	return v;
}

static size_t pow2_at_least(size_t n)
{
	size_t p = REPLAY_MIN_SLOTS;
	while (p < n)
		p <<= 1;
	return p;
}

replay_cache *replay_new(int64_t now_ms, int64_t window_ms, size_t max_entries)
{
	replay_cache *r = sl_calloc(1, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	/* Half full at most, so room for max_entries needs twice the slots. */
	r->max_cap = pow2_at_least(max_entries * 2);
	r->cap = REPLAY_MIN_SLOTS;
	r->v = slots_new(r->cap);
	r->window_ms = window_ms;
	r->floor = now_ms;
	return r;
}

void replay_free(replay_cache *r)
{
	if (r == NULL)
		return;
	sl_free(r->v);
	pthread_mutex_destroy(&r->lock);
	sl_free(r);
}

static size_t tag_hash(const uint8_t *tag)
{
	uint64_t h = 0;
	memcpy(&h, tag, sizeof(h));
	return (size_t)h;
}

/* The slot holding tag, or the empty slot where it belongs. */
static slot *replay_find(slot *v, size_t cap, const uint8_t *tag)
{
	size_t i = tag_hash(tag) & (cap - 1);
	while (v[i].ts != SLOT_EMPTY && memcmp(v[i].tag, tag, REPLAY_TAG_LEN) != 0)
		i = (i + 1) & (cap - 1);
	return &v[i];
}

static int ts_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The median timestamp held: raising the floor past it forgets half. */
static int64_t replay_median(const replay_cache *r)
{
	int64_t *ts = sl_malloc(r->n * sizeof(*ts));
	size_t k = 0;
	for (size_t i = 0; i < r->cap; i++)
		if (r->v[i].ts != SLOT_EMPTY)
			ts[k++] = r->v[i].ts;
	qsort(ts, k, sizeof(*ts), ts_cmp);
	int64_t m = ts[k / 2];
	sl_free(ts);
	return m;
}

/* Moves every frame still worth remembering into a table of new_cap. */
static void replay_rebuild(replay_cache *r, size_t new_cap, int64_t now_ms)
{
	slot *old = r->v;
	size_t old_cap = r->cap;
	r->v = slots_new(new_cap);
	r->cap = new_cap;
	r->n = 0;
	for (size_t i = 0; i < old_cap; i++) {
		if (old[i].ts == SLOT_EMPTY || old[i].ts < r->floor ||
		    old[i].ts < now_ms - r->window_ms)
			continue;
		*replay_find(r->v, r->cap, old[i].tag) = old[i];
		r->n++;
	}
	sl_free(old);
}

/* Keeps the table at most half full within the size bound. */
static void replay_make_room(replay_cache *r, int64_t now_ms)
{
	if (r->n * 2 < r->cap)
		return;
	replay_rebuild(r, r->cap, now_ms);
	if (r->n * 4 >= r->cap && r->cap < r->max_cap)
		replay_rebuild(r, r->cap * 2, now_ms);
	if (r->n * 2 >= r->cap) {
		int64_t m = replay_median(r);
		r->floor = m == INT64_MAX ? m : m + 1;
		replay_rebuild(r, r->cap, now_ms);
	}
}

int replay_check(replay_cache *r, const uint8_t *mac, int64_t ts_ms, int64_t now_ms,
                 char *err, size_t errlen)
{
	int rv = SL_OK;
	pthread_mutex_lock(&r->lock);
	if (ts_ms < r->floor || ts_ms == SLOT_EMPTY) {
		snprintf(err, errlen,
		         "replayed or stale message: stamped %lld ms before the "
		         "oldest time this process remembers (it started or forgot "
		         "older frames then)",
		         (long long)(r->floor - ts_ms));
		rv = SL_ESTALE;
		goto out;
	}
	slot *s = replay_find(r->v, r->cap, mac);
	if (s->ts != SLOT_EMPTY) {
		snprintf(err, errlen,
		         "replayed message: this frame was already accepted");
		rv = SL_EAUTH;
		goto out;
	}
	memcpy(s->tag, mac, REPLAY_TAG_LEN);
	s->ts = ts_ms;
	r->n++;
	replay_make_room(r, now_ms);
out:
	pthread_mutex_unlock(&r->lock);
	return rv;
}

size_t replay_size(replay_cache *r)
{
	pthread_mutex_lock(&r->lock);
	size_t n = r->n;
	pthread_mutex_unlock(&r->lock);
	return n;
}

int64_t replay_floor(replay_cache *r)
{
	pthread_mutex_lock(&r->lock);
	int64_t f = r->floor;
	pthread_mutex_unlock(&r->lock);
	return f;
}
