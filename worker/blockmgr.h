/*
 * BlockManager: a worker's store of blocks (receiver blocks, shuffle
 * buckets), in memory within a budget and on disk beyond it.
 *
 * Memory: the storage budget is given at creation (the worker computes it
 * from sluice.worker.memory x spark.memory.fraction x
 * spark.memory.storageFraction, plus what execution does not use). Putting a
 * block that would exceed it first spills least-recently-used MEMORY_AND_DISK
 * blocks to disk (LZ4-encoded, one file each under DIR/blocks); if a
 * MEMORY_ONLY block still does not fit it is refused with SL_ENOSPC (the
 * caller decides: receivers use MEMORY_AND_DISK levels). A block larger than
 * the whole budget goes straight to disk.
 *
 * Reading: blockmgr_get returns a reference that keeps the block's records
 * alive (even if it is removed or spilled meanwhile) until released; a block
 * on disk is decoded into a private copy for that reader, which counts as
 * execution memory, not storage. Blocks are immutable once put.
 *
 * Thread-safe: one internal mutex; disk I/O happens outside it where
 * possible. Block ids are opaque strings up to 200 bytes, [A-Za-z0-9_.-].
 */
#ifndef SLUICE_BLOCKMGR_H
#define SLUICE_BLOCKMGR_H

#include "record.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct blockmgr blockmgr;
typedef struct block_ref block_ref;

typedef enum {
	BLOCK_MEMORY_ONLY = 0,
	BLOCK_MEMORY_AND_DISK = 1,
	BLOCK_DISK_ONLY = 2,
} block_level;

typedef struct {
	uint64_t mem_bytes;  /* raw bytes of blocks held in memory */
	uint64_t disk_bytes; /* encoded bytes on disk */
	uint64_t budget;     /* storage budget */
	uint32_t mem_blocks, disk_blocks;
	uint64_t spilled_blocks; /* total spills since start */
	uint64_t refused;        /* puts refused for lack of memory */
	uint64_t disk_budget;    /* most encoded bytes on disk; 0 = no limit */
	uint64_t disk_refused;   /* disk writes refused for the disk budget */
} blockmgr_stats;

/* Creates a manager storing spill files under dir/blocks (created; stale
 * files from an earlier run are removed). */
int blockmgr_new(blockmgr **out, const char *dir, uint64_t budget, char *err,
                 size_t errlen);
/* Frees every block and deletes the spill files. */
void blockmgr_free(blockmgr *bm);

/* Stores records under id, taking the contents of *data (left empty).
 * SL_EEXIST if the id is present (blocks are immutable), SL_ENOSPC as above,
 * SL_EIO if the disk write failed (nothing stored), SL_EINVAL for a bad id
 * or level. On any failure *data is left untouched, so the caller may retry
 * at another level. */
int blockmgr_put(blockmgr *bm, const char *id, rbuf *data, block_level level);
/* Stores an encoded block (from the wire or the WAL), validating it. */
int blockmgr_put_encoded(blockmgr *bm, const char *id, const uint8_t *enc, size_t len,
                         block_level level);

/* Looks a block up; SL_ENOTFOUND if absent. */
int blockmgr_get(blockmgr *bm, const char *id, block_ref **out);
const rbuf *block_ref_data(const block_ref *r);
void block_ref_release(block_ref *r);

/* The block in encoded form, for serving fetches (*out freed with sl_free). */
int blockmgr_get_encoded(blockmgr *bm, const char *id, uint8_t **out, size_t *len);

bool blockmgr_contains(blockmgr *bm, const char *id);
int blockmgr_remove(blockmgr *bm, const char *id);
/* Removes every block whose id starts with prefix; returns how many. */
uint32_t blockmgr_remove_prefix(blockmgr *bm, const char *prefix);
void blockmgr_get_stats(blockmgr *bm, blockmgr_stats *st);

/* Disk budget (sluice.worker.diskBudget): a write to disk (a spill, a
 * DISK_ONLY or overflowing MEMORY_AND_DISK put) that would take the encoded
 * bytes on disk, writes in flight included, past bytes is refused with
 * SL_ENOSPC instead of written; 0 = no limit (the default). */
void blockmgr_set_disk_budget(blockmgr *bm, uint64_t bytes);
/* Whether a block of raw_len bytes would fit now in free memory, or on disk
 * within share (0..1] of the disk budget. Receivers ask it before storing,
 * and hold back (stop reading) while it is false, leaving the rest of the
 * budget to shuffle output. */
bool blockmgr_disk_room(blockmgr *bm, uint64_t raw_len, double share);

#endif
