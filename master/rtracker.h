/*
 * The receiver tracker (Spark's ReceiverTracker and ReceivedBlockTracker):
 * one receiver per receiver-based input stream of a running job, placed on
 * the worker with the fewest receivers (a replica worker for the _2 storage
 * levels), restarted elsewhere when its worker is lost. Blocks the
 * receivers report (MSG_ADD_BLOCK) wait in the job's unallocated queue
 * until the next batch takes them all. A lost worker's copies are struck
 * from every block; a worker that comes back with a WAL serves its blocks
 * again.
 *
 * It feeds the job generator (jobgen.h), which calls in; it calls the
 * scheduler's load table and nothing above. Runs under the master's lock;
 * its StartReceiver/StopReceiver completions re-take it and find their job
 * by id (model.h), never by a pointer that may be gone.
 */
#ifndef SLUICE_MASTER_RTRACKER_H
#define SLUICE_MASTER_RTRACKER_H

#include "model.h"

void rtracker_init(job *j);
/* After a restart: prefer each receiver's last worker for grace_ms. */
void rtracker_restore(job *j, const ckpt_job *c, int64_t grace_ms);
void rtracker_snapshot(job *j, ckpt_job *c);
/* sluice start: receivers are placed again. */
void rtracker_rearm(job *j);
void rtracker_tick(job *j);
/* A checked AddBlock for j: queued unless already known (a retried report).
 * Returns whether it was new. */
bool rtracker_add_block(job *j, const Sluice__AddBlock *a);
/* SL_OK, or an error reply naming what is wrong with a. */
int rtracker_check_add_block(const Sluice__AddBlock *a, rpc_reply *rep);
/* Moves the unallocated blocks into a new batch's list. */
void rtracker_allocate(job *j, rblock ***blocks, size_t *n);
void rtracker_worker_lost(job *j, const char *worker_id);
/* A worker (re-)registered: it serves again the blocks whose WAL it has. */
void rtracker_worker_back(job *j, const worker_entry *w);
void rtracker_stop(job *j);
void rblock_free(rblock *b);

#endif
