/*
 * Spilling combined records to local disk and merging them back: what keeps
 * the map-side combine and the reduce side's hash maps within their share
 * of the worker's memory budget whatever the number of distinct keys (the
 * external half of Spark's ExternalAppendOnlyMap and ExternalSorter).
 *
 * A spill set belongs to one map (a reducer bucket of a map task, or the
 * partition of a reduce task). When the map passes its budget the owner
 * calls spill_set_add: the map's entries are sorted in kvmap_order, written
 * as one run (a file of LZ4-compressed frames of records), and the map is
 * emptied to fill again. At the end, spill_merge_start sorts what is left
 * in the map and spill_merge_next returns every key once, merging the runs
 * and the map by key with the set's merge function; each run and the map
 * hold each key at most once, so a key is merged from at most one record
 * per source.
 *
 * A set keeps at most 16 runs: when a spill makes it 16, they are merged
 * into one, so that open files and the merge's memory stay bounded.
 *
 * Run files are created in the directory given (the worker's work
 * directory) and unlinked at once: they take disk space while the set is
 * open, and none is left behind by a crash. Memory while merging: one frame
 * (<= 64 KiB of records, plus its compressed form) per run.
 *
 * Not thread-safe: a set belongs to the task that owns its map.
 */
#ifndef SLUICE_WORKER_SPILL_H
#define SLUICE_WORKER_SPILL_H

#include "kvmap.h"

#include <stddef.h>
#include <stdint.h>

typedef struct spill_set spill_set;

/* A set whose runs go to files in dir, merged by key with merge (a reduce
 * function: the node's reduce, sl_sum_i64 for counts, spill_concat for
 * group_by_key's value lists). */
spill_set *spill_set_new(const char *dir, sl_reduce_fn merge);
/* Closes (and so deletes) the run files; NULL is a no-op. */
void spill_set_free(spill_set *s);

/* Sorts m, writes it as a new run and empties it (kvmap_clear), merging
 * the runs into one when they reach the limit. SL_EIO with err set when
 * a run cannot be written (the map is then unchanged but sorted: the
 * caller fails its task); a merge error (above) while compacting. */
int spill_set_add(spill_set *s, kvmap *m, char *err, size_t errlen);
/* Runs written so far, and their bytes on disk. */
size_t spill_set_runs(const spill_set *s);
uint64_t spill_set_disk_bytes(const spill_set *s);

/* Starts merging the runs with m (sorted here; it must not be changed
 * until the merge ends). m may be empty. */
int spill_merge_start(spill_set *s, kvmap *m, char *err, size_t errlen);
/* The next key in kvmap_order with its merged value: 1 and *out (valid
 * until the next call), 0 at the end, or an error with err set (SL_EIO or
 * SL_EPROTO for a run that cannot be read back, the merge function's own
 * error when it fails). */
int spill_merge_next(spill_set *s, sl_record *out, char *err, size_t errlen);

/* The merge of group_by_key's value lists (u32 length | bytes, repeated,
 * as kvmap_append builds them): a followed by b. */
int spill_concat(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                 sl_value *out);

#endif
