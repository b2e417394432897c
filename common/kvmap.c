/* Key/value hash map: see kvmap.h. FNV-1a hashing of the key bytes. */
#include "kvmap.h"
#include "alloc.h"
#include "api.h"

#include <string.h>

typedef struct {
	uint64_t hash;
	uint8_t *kv; /* key then value */
	uint32_t klen, vlen, vcap;
} kv_entry;

struct kvmap {
	kv_entry *slots;
	size_t cap, n, bytes;
	sl_value tmp;
};

static uint64_t kv_hash(const uint8_t *k, uint32_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (uint32_t i = 0; i < n; i++)
		h = (h ^ k[i]) * 1099511628211ull;
	return h | 1; /* 0 marks an empty slot */
}

kvmap *kvmap_new(void)
{
	kvmap *m = sl_calloc(1, sizeof(*m));
	m->cap = 64;
	m->slots = sl_calloc(m->cap, sizeof(kv_entry));
	return m;
}

void kvmap_free(kvmap *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->cap; i++)
		sl_free(m->slots[i].kv);
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

/* Finds the key's slot, inserting an empty-valued entry when absent. */
static kv_entry *kv_slot(kvmap *m, const uint8_t *k, uint32_t klen, int *fresh)
{
	if ((m->n + 1) * 4 > m->cap * 3)
		kv_grow(m);
	uint64_t h = kv_hash(k, klen);
	size_t i = h & (m->cap - 1);
	while (m->slots[i].hash != 0) {
		kv_entry *e = &m->slots[i];
		if (e->hash == h && e->klen == klen &&
		    (klen == 0 || memcmp(e->kv, k, klen) == 0)) {
			*fresh = 0;
			return e;
		}
		i = (i + 1) & (m->cap - 1);
	}
	kv_entry *e = &m->slots[i];
	e->hash = h;
	e->klen = klen;
	e->vlen = 0;
	e->vcap = 8;
	e->kv = sl_malloc(klen + e->vcap);
	if (klen)
		memcpy(e->kv, k, klen);
	m->n++;
	m->bytes += klen + e->vcap + 16;
	*fresh = 1;
	return e;
}

static void kv_set(kvmap *m, kv_entry *e, const uint8_t *v, uint32_t vlen, int append)
{
	uint32_t need = append ? e->vlen + vlen : vlen;
	if (need > e->vcap) {
		uint32_t ncap = e->vcap;
		while (ncap < need)
			ncap *= 2;
		e->kv = sl_realloc(e->kv, e->klen + ncap);
		m->bytes += ncap - e->vcap;
		e->vcap = ncap;
	}
	if (vlen)
		memcpy(e->kv + e->klen + (append ? e->vlen : 0), v, vlen);
	e->vlen = need;
}

int kvmap_combine(kvmap *m, const uint8_t *k, uint32_t klen, const uint8_t *v,
                  uint32_t vlen, sl_reduce_fn fn)
{
	int fresh;
	kv_entry *e = kv_slot(m, k, klen, &fresh);
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

void kvmap_append(kvmap *m, const uint8_t *k, uint32_t klen, const uint8_t *v,
                  uint32_t vlen)
{
	int fresh;
	kv_entry *e = kv_slot(m, k, klen, &fresh);
	uint8_t len[4] = {(uint8_t)vlen, (uint8_t)(vlen >> 8), (uint8_t)(vlen >> 16),
	                  (uint8_t)(vlen >> 24)};
	kv_set(m, e, len, 4, 1);
	kv_set(m, e, v, vlen, 1);
}

void kvmap_append_list(kvmap *m, const uint8_t *k, uint32_t klen, const uint8_t *list,
                       uint32_t len)
{
	int fresh;
	kv_entry *e = kv_slot(m, k, klen, &fresh);
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
