/*
 * Where the state of update_state_by_key and map_with_state lives: the
 * sticky placement of each stateful node's partitions on workers (Spark
 * keeps a StateDStream's partitions where its RDDs are cached; here the
 * master decides and remembers it).
 *
 * A stateful node is planned as a shuffle by key into nparts partitions and
 * a state task per partition that applies the batch to the partition's
 * in-memory state on one worker (worker/stateops.c). The partition count is
 * fixed at the node's first planning (a key must always reach the same
 * partition) and partition p always runs on the worker recorded here. The
 * placement is part of the job's checkpoint (checkpoint.h, ckpt_statepart),
 * so a restarted master sends each partition's tasks to the worker that
 * still holds its state in memory.
 *
 * A partition whose worker is LOST is placed again on the alive worker with
 * the fewest partitions of the job; its state starts empty there (rebuilding
 * it from a checkpoint is not built yet: the master logs the loss).
 *
 * Everything runs under the master's lock, over the model (model.h); it
 * calls nothing above it.
 */
#ifndef SLUICE_MASTER_STATEPLAN_H
#define SLUICE_MASTER_STATEPLAN_H

#include "model.h"

#include <stdbool.h>
#include <stdint.h>

/* The partition count of stateful node n of j: fixed at the first call
 * (n->partitions, else dflt) with the partitions spread over the alive
 * workers; the same at every later call. Marks the job for a checkpoint
 * when it places partitions. */
uint32_t stateplan_parts(job *j, const Sluice__Node *n, uint32_t dflt);

/* The worker partition part of node must run on, in out ("" when no worker
 * is alive to take it yet). false when node has no placement (not a
 * planned stateful node): the task may run anywhere. A partition left
 * without a worker is placed now. */
bool stateplan_worker(job *j, uint32_t node, uint32_t part, char out[32]);

/* worker_id is LOST: its partitions are to be placed again; returns how
 * many it held. */
size_t stateplan_worker_lost(job *j, const char *worker_id);

/* The placement into a checkpoint snapshot, and back from one. */
void stateplan_snapshot(const job *j, ckpt_job *c);
void stateplan_restore(job *j, const ckpt_job *c);

/* Frees the job's placement. */
void stateplan_free(job *j);

#endif
