/*
 * Key/value hash map: see kvmap.h.
 *
 * The table holds fixed 32-byte slots (hash, pointer, lengths); keys and
 * values are carved from arena chunks of at least KV_CHUNK bytes, so
 * inserting a key costs no malloc (one per chunk), and freeing the map is
 * one free per chunk. The table grows at 3/4 load; kvmap_new_sized lets a
 * caller that knows the previous batch's key count skip the growth.
 */
#include "kvmap.h"
#include "alloc.h"
#include "api.h"
#include "sluice/err.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define KV_MIN_CAP 64
#define KV_CHUNK   (64 * 1024)

typedef struct {
	uint64_t hash; /* 0 marks an empty slot */
	uint8_t *kv;   /* key then value, in the arena */
	uint32_t klen, vlen, vcap;
} kv_entry;

typedef struct kv_chunk {
	struct kv_chunk *next;
	size_t used, cap;
	uint8_t data[];
} kv_chunk;

struct kvmap {
	kv_entry *slots;
	size_t cap, n, bytes;
	kv_chunk *chunks; /* head: the chunk being filled */
	sl_value tmp;
};

/* ---- loads and hashing ---- */

static uint64_t load_le64(const uint8_t *p)
{
	uint64_t w;
	memcpy(&w, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap64(w);
#endif
	return w;
}

static uint64_t load_le32(const uint8_t *p)
{
	uint32_t w;
	memcpy(&w, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	w = __builtin_bswap32(w);
#endif
	return w;
}

uint64_t kvmap_hash(const uint8_t *k, uint32_t n)
{
	/* FNV-1a 64's prime, with the offset basis this project has always
	 * used (1469598103934665603, not FNV's 14695981039346656037): changing
	 * it would move keys between reducers. */
	uint64_t h = 1469598103934665603ull;
	for (uint32_t i = 0; i < n; i++)
		h = (h ^ k[i]) * 1099511628211ull;
	return h;
}

/* The table's own hash of a kvmap_hash value: a finalizer (MurmurHash3's
 * fmix64) so that the low bits that index the table do not repeat the
 * reducer bucket (h mod the reducer count) every key of a map shares. Never
 * 0, which marks an empty slot. */
static inline uint64_t slot_hash(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xFF51AFD7ED558CCDull;
	h ^= h >> 33;
	return h | 1;
}

/* ---- arena ---- */

static uint8_t *kv_alloc(kvmap *m, size_t n)
{
	kv_chunk *c = m->chunks;
	if (c == NULL || c->cap - c->used < n) {
		size_t cap = n > KV_CHUNK ? n : KV_CHUNK;
		c = sl_malloc(sizeof(kv_chunk) + cap);
		c->used = 0;
		c->cap = cap;
		c->next = m->chunks;
		m->chunks = c;
		m->bytes += sizeof(kv_chunk) + cap;
	}
	uint8_t *p = c->data + c->used;
	c->used += n;
	return p;
}

/* ---- table ---- */

/* A table for keys at most half full: short probes for the batch the size
 * was taken from (growth only starts at 3/4). */
static size_t cap_for(size_t keys)
{
	size_t cap = KV_MIN_CAP;
	while (cap / 2 <= keys)
		cap *= 2;
	return cap;
}

kvmap *kvmap_new_sized(size_t expect_keys)
{
	kvmap *m = sl_calloc(1, sizeof(*m));
	m->cap = cap_for(expect_keys > (SIZE_MAX >> 8) ? 0 : expect_keys);
	m->slots = sl_calloc(m->cap, sizeof(kv_entry));
	return m;
}

kvmap *kvmap_new(void)
{
	return kvmap_new_sized(0);
}

void kvmap_free(kvmap *m)
{
	if (m == NULL)
		return;
	for (kv_chunk *c = m->chunks, *next; c != NULL; c = next) {
		next = c->next;
		sl_free(c);
	}
	sl_free(m->slots);
	sl_free(m->tmp.data);
	sl_free(m);
}

size_t kvmap_count(const kvmap *m)
{
	return m->n;
}

size_t kvmap_bytes(const kvmap *m)
{
	return m->bytes + m->cap * sizeof(kv_entry);
}

size_t kvmap_bytes_peak(const kvmap *m)
{
	bool grows = (m->n + 1) * 4 > m->cap * 3; /* as kv_insert decides */
	return kvmap_bytes(m) + (grows ? 2 * m->cap * sizeof(kv_entry) : 0);
}

static void kv_grow(kvmap *m)
{
	size_t ncap = m->cap * 2;
	kv_entry *ns = sl_calloc(ncap, sizeof(kv_entry));
	for (size_t i = 0; i < m->cap; i++) {
		if (m->slots[i].hash == 0)
			continue;
		size_t j = m->slots[i].hash & (ncap - 1);
		while (ns[j].hash != 0)
			j = (j + 1) & (ncap - 1);
		ns[j] = m->slots[i];
	}
	sl_free(m->slots);
	m->slots = ns;
	m->cap = ncap;
}

/* Key equality without a memcmp call for the short keys (words) that
 * dominate a count: word loads, the last one overlapping the one before. */
static int key_eq(const uint8_t *a, const uint8_t *b, uint32_t n)
{
	if (n >= 8) {
		for (uint32_t i = 0; i + 8 < n; i += 8)
			if (load_le64(a + i) != load_le64(b + i))
				return 0;
		return load_le64(a + n - 8) == load_le64(b + n - 8);
	}
	if (n >= 4)
		return load_le32(a) == load_le32(b) &&
		       load_le32(a + n - 4) == load_le32(b + n - 4);
	for (uint32_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

/* The key's slot, or the empty slot where it would go. Inlined into the
 * per-record callers: a call's register saves cost as much as the probe. */
static inline kv_entry *kv_find(const kvmap *m, uint64_t h, const uint8_t *k,
                                uint32_t klen)
{
	size_t mask = m->cap - 1, i = h & mask;
	kv_entry *e;
	while ((e = &m->slots[i])->hash != 0) {
		if (e->hash == h && e->klen == klen && key_eq(e->kv, k, klen))
			return e;
		i = (i + 1) & mask;
	}
	return e;
}

/* Fills the empty slot e (from kv_find) with the key and room for vroom
 * value bytes (vlen 0), growing the table first when it is 3/4 full. */
static kv_entry *kv_insert(kvmap *m, kv_entry *e, uint64_t h, const uint8_t *k,
                           uint32_t klen, uint32_t vroom)
{
	if ((m->n + 1) * 4 > m->cap * 3) {
		kv_grow(m);
		e = kv_find(m, h, k, klen);
	}
	e->hash = h;
	e->klen = klen;
	e->vlen = 0;
	e->vcap = vroom < 8 ? 8 : vroom;
	e->kv = kv_alloc(m, (size_t)klen + e->vcap);
	if (klen)
		memcpy(e->kv, k, klen);
	m->n++;
	return e;
}

/* Finds the key's slot, inserting an entry with room for vroom value bytes
 * (vlen 0) when absent. */
static kv_entry *kv_slot(kvmap *m, uint64_t h, const uint8_t *k, uint32_t klen,
                         uint32_t vroom, int *fresh)
{
	kv_entry *e = kv_find(m, h, k, klen);
	*fresh = e->hash == 0;
	return *fresh ? kv_insert(m, e, h, k, klen, vroom) : e;
}

/* Makes room for need value bytes, moving the entry within the arena. */
static void kv_room(kvmap *m, kv_entry *e, uint32_t need)
{
	if (need <= e->vcap)
		return;
	uint32_t ncap = e->vcap;
	while (ncap < need)
		ncap = ncap > UINT32_MAX / 2 ? need : ncap * 2;
	uint8_t *kv = kv_alloc(m, (size_t)e->klen + ncap);
	memcpy(kv, e->kv, (size_t)e->klen + e->vlen);
	e->kv = kv;
	e->vcap = ncap;
}

static void kv_set(kvmap *m, kv_entry *e, const uint8_t *v, uint32_t vlen, int append)
{
	uint32_t at = append ? e->vlen : 0;
	kv_room(m, e, at + vlen);
	if (vlen)
		memcpy(e->kv + e->klen + at, v, vlen);
	e->vlen = at + vlen;
}

int kvmap_combine_h(kvmap *m, uint64_t h, const uint8_t *k, uint32_t klen,
                    const uint8_t *v, uint32_t vlen, sl_reduce_fn fn)
{
	int fresh;
	h = slot_hash(h);
	kv_entry *e = kv_slot(m, h, k, klen, vlen, &fresh);
	if (fresh) {
		kv_set(m, e, v, vlen, 0);
		return 0;
	}
	m->tmp.len = 0;
	int rv = fn(e->kv + e->klen, e->vlen, v, vlen, &m->tmp);
	if (rv != 0)
		return rv;
	kv_set(m, e, m->tmp.data, m->tmp.len, 0);
	return 0;
}

int kvmap_combine(kvmap *m, const uint8_t *k, uint32_t klen, const uint8_t *v,
                  uint32_t vlen, sl_reduce_fn fn)
{
	return kvmap_combine_h(m, kvmap_hash(k, klen), k, klen, v, vlen, fn);
}

int kvmap_add_i64(kvmap *m, uint64_t h, const uint8_t *k, uint32_t klen, int64_t add)
{
	h = slot_hash(h);
	kv_entry *e = kv_find(m, h, k, klen);
	uint64_t sum = (uint64_t)add;
	if (e->hash == 0) {
		e = kv_insert(m, e, h, k, klen, 8);
	} else if (e->vlen != 8) {
		return SL_EINVAL;
	} else {
		sum += load_le64(e->kv + klen);
	}
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	sum = __builtin_bswap64(sum);
#endif
	memcpy(e->kv + klen, &sum, 8);
	e->vlen = 8;
	return 0;
}

uint64_t kvmap_count_tokens(kvmap **maps, uint32_t nred, const uint8_t *p, size_t len,
                            const uint8_t sep[256])
{
	const uint8_t *end = p + len;
	uint64_t tokens = 0;
	while (p < end) {
		while (p < end && sep[*p])
			p++;
		const uint8_t *start = p;
		uint64_t h = 1469598103934665603ull; /* kvmap_hash, on the way */
		while (p < end && !sep[*p])
			h = (h ^ *p++) * 1099511628211ull;
		if (p == start)
			continue;
		kvmap *m = maps[h % nred];
		uint32_t n = (uint32_t)(p - start);
		uint64_t sh = slot_hash(h);
		kv_entry *e = kv_find(m, sh, start, n);
		uint64_t count = 1;
		if (e->hash == 0)
			e = kv_insert(m, e, sh, start, n, 8);
		else
			count += load_le64(e->kv + n);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		count = __builtin_bswap64(count);
#endif
		memcpy(e->kv + n, &count, 8);
		e->vlen = 8;
		tokens++;
	}
	return tokens;
}

void kvmap_append(kvmap *m, const uint8_t *k, uint32_t klen, const uint8_t *v,
                  uint32_t vlen)
{
	int fresh;
	kv_entry *e =
	    kv_slot(m, slot_hash(kvmap_hash(k, klen)), k, klen, 4 + vlen, &fresh);
	uint8_t len[4] = {(uint8_t)vlen, (uint8_t)(vlen >> 8), (uint8_t)(vlen >> 16),
	                  (uint8_t)(vlen >> 24)};
	kv_set(m, e, len, 4, 1);
	kv_set(m, e, v, vlen, 1);
}

void kvmap_append_list(kvmap *m, const uint8_t *k, uint32_t klen, const uint8_t *list,
                       uint32_t len)
{
	int fresh;
	kv_entry *e = kv_slot(m, slot_hash(kvmap_hash(k, klen)), k, klen, len, &fresh);
	kv_set(m, e, list, len, 1);
}

const uint8_t *kvmap_get(const kvmap *m, const uint8_t *k, uint32_t klen, uint32_t *vlen)
{
	const kv_entry *e = kv_find(m, slot_hash(kvmap_hash(k, klen)), k, klen);
	if (e->hash == 0)
		return NULL;
	*vlen = e->vlen;
	return e->kv + e->klen;
}

int kvmap_next(const kvmap *m, size_t *pos, sl_record *out)
{
	while (*pos < m->cap) {
		const kv_entry *e = &m->slots[(*pos)++];
		if (e->hash == 0)
			continue;
		out->key = e->kv;
		out->key_len = e->klen;
		out->value = e->kv + e->klen;
		out->value_len = e->vlen;
		out->event_time_ms = 0;
		return 1;
	}
	return 0;
}

/* ---- sorting for spills ---- */

uint64_t kvmap_order_hash(const uint8_t *k, uint32_t n)
{
	return slot_hash(kvmap_hash(k, n));
}

int kvmap_order_cmp(uint64_t ha, const uint8_t *ka, uint32_t la, uint64_t hb,
                    const uint8_t *kb, uint32_t lb)
{
	if (ha != hb)
		return ha < hb ? -1 : 1;
	if (la != lb)
		return la < lb ? -1 : 1;
	return la == 0 ? 0 : memcmp(ka, kb, la);
}

static int entry_cmp(const void *a, const void *b)
{
	const kv_entry *x = a, *y = b;
	return kvmap_order_cmp(x->hash, x->kv, x->klen, y->hash, y->kv, y->klen);
}

void kvmap_sort(kvmap *m)
{
	size_t n = 0;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].hash != 0)
			m->slots[n++] = m->slots[i];
	/* the empty slots after the entries end kvmap_next */
	memset(m->slots + n, 0, (m->cap - n) * sizeof(kv_entry));
	qsort(m->slots, n, sizeof(kv_entry), entry_cmp);
}

void kvmap_clear(kvmap *m)
{
	for (kv_chunk *c = m->chunks, *next; c != NULL; c = next) {
		next = c->next;
		sl_free(c);
	}
	m->chunks = NULL;
	m->bytes = 0;
	m->n = 0;
	sl_free(m->slots);
	m->cap = KV_MIN_CAP;
	m->slots = sl_calloc(m->cap, sizeof(kv_entry));
}
