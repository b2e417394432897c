/*
 * A hash map from key bytes to value bytes, for map-side combine, reduce and
 * group-by-key. Open addressing with linear probing on a power-of-two table;
 * each entry's key and value live in one allocation. Not thread-safe: one
 * task owns one map.
 */
#ifndef SLUICE_KVMAP_H
#define SLUICE_KVMAP_H

#include "sluice/sluice.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kvmap kvmap;

kvmap *kvmap_new(void);
void kvmap_free(kvmap *m);
size_t kvmap_count(const kvmap *m);
/* Approximate bytes held (keys, values, table). */
size_t kvmap_bytes(const kvmap *m);

/* Inserts (k, v), or combines v into the existing value with fn. Returns 0
 * or the reduce function's error. */
int kvmap_combine(kvmap *m, const uint8_t *k, uint32_t klen, const uint8_t *v,
                  uint32_t vlen, sl_reduce_fn fn);
/* Appends v to the key's value list (u32 length | bytes, repeated). */
void kvmap_append(kvmap *m, const uint8_t *k, uint32_t klen, const uint8_t *v,
                  uint32_t vlen);
/* Appends an already encoded list (as kvmap_append builds) to the key's list. */
void kvmap_append_list(kvmap *m, const uint8_t *k, uint32_t klen, const uint8_t *list,
                       uint32_t len);

/* Iteration in table order: call with *pos = 0 until it returns 0. */
int kvmap_next(const kvmap *m, size_t *pos, sl_record *out);

#endif
