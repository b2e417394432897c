/*
 * The receiver write-ahead log after a restart (SPEC §4, §7).
 *
 * A receiver with spark.streaming.receiver.writeAheadLog.enable writes each
 * block, encoded, to WORKDIR/wal/<job id>/<block id>.blk and fsyncs it
 * before the block is reported (receivers.c). A worker process killed with
 * SIGKILL loses its memory store, not those files: at start, before it
 * registers, the worker replays them into its BlockManager, so the blocks
 * the master had been told about are served again under their ids (the
 * master re-adds this worker as their holder when it re-registers: it knows
 * which blocks have their WAL here).
 *
 * A segment (one file per block) is deleted when the master removes its
 * block (MSG_REMOVE_BLOCKS), which it does once every batch that used the
 * block is done and that is checkpointed.
 *
 * Both functions run on one thread at a time per directory (start-up, and
 * the RemoveBlocks handler); they only touch the WAL files.
 */
#ifndef SLUICE_WORKER_WAL_H
#define SLUICE_WORKER_WAL_H

#include "blockmgr.h"

/* Loads every WAL segment under dir/wal into bm (MEMORY_AND_DISK); removes
 * half-written temp files. Returns the number of blocks replayed; a segment
 * that cannot be read or decoded is logged and left in place. */
uint32_t wal_replay(blockmgr *bm, const char *dir);

/* Deletes the segment of block_id ("rcv-<job>-..."), if there is one. */
void wal_remove(const char *dir, const char *block_id);

#endif
