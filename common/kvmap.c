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

/* ---- hashing ---- */

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

static uint64_t mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0xFF51AFD7ED558CCDull;
	return h ^ (h >> 32);
}

/* Short keys (words) take two overlapping loads instead of a byte loop, as
 * wyhash does; the length is mixed in, so overlaps cannot collide keys of
 * different lengths. */
uint64_t kvmap_hash(const uint8_t *k, uint32_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xC2B2AE3D27D4EB4Full);
	if (n >= 8) {
		uint32_t i = 0;
		for (; i + 8 < n; i += 8)
			h = mix(h, load_le64(k + i));
		h = mix(h, load_le64(k + n - 8));
	} else if (n >= 4) {
		h = mix(h, load_le32(k) | load_le32(k + n - 4) << 32);
	} else if (n > 0) {
		h = mix(h, (uint64_t)k[0] | (uint64_t)k[n / 2] << 8 |
		               (uint64_t)k[n - 1] << 16);
	}
	h ^= h >> 33;
	h *= 0xC4CEB9FE1A85EC53ull;
	h ^= h >> 29;
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

static size_t cap_for(size_t keys)
{
	size_t cap = KV_MIN_CAP;
	while (cap / 4 * 3 <= keys)
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
 * dominate a count: the same overlapping loads as kvmap_hash. */
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

/* Finds the key's slot, inserting an entry with room for vroom value bytes
 * (vlen 0) when absent. */
static kv_entry *kv_slot(kvmap *m, uint64_t h, const uint8_t *k, uint32_t klen,
                         uint32_t vroom, int *fresh)
{
	size_t mask = m->cap - 1, i = h & mask;
	kv_entry *e;
	while ((e = &m->slots[i])->hash != 0) {
		if (e->hash == h && e->klen == klen && key_eq(e->kv, k, klen)) {
			*fresh = 0;
			return e;
		}
		i = (i + 1) & mask;
	}
	if ((m->n + 1) * 4 > m->cap * 3) {
		kv_grow(m);
		return kv_slot(m, h, k, klen, vroom, fresh);
	}
	e->hash = h;
	e->klen = klen;
	e->vlen = 0;
	e->vcap = vroom < 8 ? 8 : vroom;
	e->kv = kv_alloc(m, (size_t)klen + e->vcap);
	if (klen)
		memcpy(e->kv, k, klen);
	m->n++;
	*fresh = 1;
	return e;
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
	int fresh;
	uint8_t buf[8];
	kv_entry *e = kv_slot(m, h, k, klen, 8, &fresh);
	if (!fresh && e->vlen != 8)
		return SL_EINVAL;
	int64_t sum =
	    fresh
	        ? add
	        : (int64_t)((uint64_t)sl_i64_decode(e->kv + e->klen, 8) + (uint64_t)add);
	sl_i64_encode(sum, buf);
	memcpy(e->kv + e->klen, buf, 8);
	e->vlen = 8;
	return 0;
}

void kvmap_append(kvmap *m, const uint8_t *k, uint32_t klen, const uint8_t *v,
                  uint32_t vlen)
{
	int fresh;
	kv_entry *e = kv_slot(m, kvmap_hash(k, klen), k, klen, 4 + vlen, &fresh);
	uint8_t len[4] = {(uint8_t)vlen, (uint8_t)(vlen >> 8), (uint8_t)(vlen >> 16),
	                  (uint8_t)(vlen >> 24)};
	kv_set(m, e, len, 4, 1);
	kv_set(m, e, v, vlen, 1);
}

void kvmap_append_list(kvmap *m, const uint8_t *k, uint32_t klen, const uint8_t *list,
                       uint32_t len)
{
	int fresh;
	kv_entry *e = kv_slot(m, kvmap_hash(k, klen), k, klen, len, &fresh);
	kv_set(m, e, list, len, 1);
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
