/*
 * A hash map from key bytes to value bytes, for map-side combine, reduce and
 * group-by-key: the hottest structure of a word count, so it is built to do
 * no allocation per record.
 *
 * Open addressing with linear probing on a power-of-two table of 32-byte
 * slots; each key and its value live back to back in an arena of large
 * chunks owned by the map (no malloc per key; a value that outgrows its room
 * is moved to new room in the arena, the old room is left unused until the
 * map is freed). Pointers returned by kvmap_next stay valid until the map
 * is freed. Not thread-safe: one task owns one map.
 *
 * Hashing is kvmap_hash (below); callers that already hashed a key (the
 * shuffle sink picks the reducer bucket with it) pass the hash in so that a
 * key is hashed once per record.
 */
#ifndef SLUICE_KVMAP_H
#define SLUICE_KVMAP_H

#include "sluice/sluice.h"

#include <stddef.h>
#include <stdint.h>

typedef struct kvmap kvmap;

/* FNV-1a 64 of the key bytes (offset basis 1469598103934665603, as the
 * tests compute it): the shuffle's partitioner (a key goes to
 * reducer kvmap_hash(key) % reducers, the same on every worker and host;
 * tests/integration/test_shuffle.py checks it) and the input of the map's
 * own table hash. */
uint64_t kvmap_hash(const uint8_t *k, uint32_t n);

/* A map sized for expect_keys keys without growing (0: a small default).
 * Sizing from the previous batch's key count saves the rehashes. */
kvmap *kvmap_new_sized(size_t expect_keys);
kvmap *kvmap_new(void);
void kvmap_free(kvmap *m);
size_t kvmap_count(const kvmap *m);
/* Approximate bytes held (arena, table). */
size_t kvmap_bytes(const kvmap *m);
/* kvmap_bytes plus what the next new key would add for a moment when it
 * doubles the table (old and new tables held while rehashing): what a
 * caller keeping the map under a budget compares with it. */
size_t kvmap_bytes_peak(const kvmap *m);

/* Inserts (k, v), or combines v into the existing value with fn. Returns 0
 * or the reduce function's error (the stored value is then unchanged). */
int kvmap_combine(kvmap *m, const uint8_t *k, uint32_t klen, const uint8_t *v,
                  uint32_t vlen, sl_reduce_fn fn);
/* The same with the key's hash h = kvmap_hash(k, klen) already computed. */
int kvmap_combine_h(kvmap *m, uint64_t h, const uint8_t *k, uint32_t klen,
                    const uint8_t *v, uint32_t vlen, sl_reduce_fn fn);
/* Inserts (k, 8-byte little-endian add) or adds add to the key's i64 value:
 * the built-in sl_sum_i64 combine without a call per record. Returns
 * SL_EINVAL (value unchanged) when the stored value is not 8 bytes, as
 * sl_sum_i64 would. h = kvmap_hash(k, klen). */
int kvmap_add_i64(kvmap *m, uint64_t h, const uint8_t *k, uint32_t klen, int64_t add);
/* The fused word count's inner loop: splits p[0, len) into tokens at the
 * bytes b with sep[b] != 0 and adds 1 to each token's i64 count in
 * maps[kvmap_hash(token) % nred] (as kvmap_add_i64 would, in one pass, the
 * hash computed while finding the token's end). Every value already in the
 * maps must be an 8-byte count. Returns the number of tokens. */
uint64_t kvmap_count_tokens(kvmap **maps, uint32_t nred, const uint8_t *p, size_t len,
                            const uint8_t sep[256]);
/* Appends v to the key's value list (u32 length | bytes, repeated). */
void kvmap_append(kvmap *m, const uint8_t *k, uint32_t klen, const uint8_t *v,
                  uint32_t vlen);
/* Appends an already encoded list (as kvmap_append builds) to the key's list. */
void kvmap_append_list(kvmap *m, const uint8_t *k, uint32_t klen, const uint8_t *list,
                       uint32_t len);

/* The key's value (*vlen bytes), NULL when absent; valid until the map
 * changes. */
const uint8_t *kvmap_get(const kvmap *m, const uint8_t *k, uint32_t klen, uint32_t *vlen);
/* Iteration in table order: call with *pos = 0 until it returns 0. */
int kvmap_next(const kvmap *m, size_t *pos, sl_record *out);

/* ---- spilling (worker/spill.h) ---- */

/* The order of sorted runs: keys by kvmap_order_hash, then length, then
 * bytes. A total order on keys that every map and run agrees on, so that
 * runs merge by key without comparing most keys byte by byte. */
uint64_t kvmap_order_hash(const uint8_t *k, uint32_t n);
int kvmap_order_cmp(uint64_t ha, const uint8_t *ka, uint32_t la, uint64_t hb,
                    const uint8_t *kb, uint32_t lb);
/* Sorts the entries in kvmap_order (in place, no allocation): afterwards
 * kvmap_next returns them in that order, and the map must not be read by
 * key or changed until kvmap_clear. */
void kvmap_sort(kvmap *m);
/* Empties the map and gives its memory back (arena and table; the table
 * starts again at its smallest size). */
void kvmap_clear(kvmap *m);

#endif
