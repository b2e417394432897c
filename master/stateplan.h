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
 * Each partition also has a replica: another worker to which its state
 * task sends, after each batch, either a full checkpoint (every
 * checkpoint interval, and at once for a new replica) or the batch's delta
 * (the keys it changed), as blocks (worker/stateops.h). The master records
 * each partition's last full checkpoint (reported in the task's status)
 * and then removes the older checkpoint and its deltas from the workers.
 * When a partition's worker is LOST its replica takes it over, rebuilding
 * the state from the checkpoint and the deltas since, and a new replica is
 * picked (which gets a full checkpoint with the next batch). A worker that
 * dies while the master is down is declared LOST one worker timeout after
 * the master's start (cluster.c) and handled the same way. A partition
 * that had no replica (a single worker) starts empty elsewhere; the master
 * logs the loss.
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

/* The worker partition part of node must run on (out->worker, "" when no
 * worker is alive to take it yet, or while its replica is not ALIVE: after
 * a master restart, until it registers again or is declared LOST, so that
 * no delta is skipped and no task waits on a dead replica), its replica and whether its
 * next task writes a full checkpoint; for an event-time window also the watermark of
 * batch batch_ms (see stateplan_task_done). false when node has no
 * placement (not a planned stateful node): the task may run anywhere. A
 * partition left without a worker or a replica gets one now. */
bool stateplan_worker(job *j, uint32_t node, uint32_t part, int64_t batch_ms,
                      task_pinning *out);

/* A task of partition part of batch batch_ms finished (st): the partition
 * holds st->state_keys keys of about st->state_bytes bytes; state_ckpt_ms
 * > 0: it wrote a full checkpoint at that batch (the older one is removed
 * from the workers). For an event-time window, st's largest event time
 * and late records count as the batch's for this partition (a re-run of
 * the batch replaces them). The watermark a batch runs with is the largest
 * event time of every partition's earlier batches minus the node's allowed
 * lateness: batches of a stateful job run one after the other, so every
 * partition and every re-run of a batch (after a master restart too: this
 * is checkpointed) gets the same. */
void stateplan_task_done(job *j, uint32_t node, uint32_t part, int64_t batch_ms,
                         const Sluice__TaskStatus *st);

/* The job's state size: keys and bytes over all its partitions, as their
 * last tasks reported (0 after a master restart until the next batch). */
void stateplan_size(const job *j, uint64_t *keys, uint64_t *bytes);

/* Event-time windows: the records dropped as late over the job's life,
 * and the largest watermark of its nodes (INT64_MIN = none). */
void stateplan_events(const job *j, uint64_t *late, int64_t *watermark_ms);

/* Whether stateful node's next window must be recomputed from every batch
 * of it (an incremental window whose partition lost its state with its
 * worker, having no replica); clears the flag. */
bool stateplan_take_recompute(job *j, uint32_t node);

/* worker_id is LOST: the partitions it held move to their replicas, those
 * it replicated get a new replica; returns how many it touched. */
size_t stateplan_worker_lost(job *j, const char *worker_id);

/* Whether worker_id holds a state partition or a replica of one of j's
 * stateful nodes (a stopped job's other workers may drop its state). */
bool stateplan_holds(const job *j, const char *worker_id);

/* A STOPPED job starts again: its state partitions continue where they
 * were, but the batches its incremental windows would subtract were
 * dropped at the stop, so each such window's next value is recomputed
 * whole from the batches since the start. */
void stateplan_started(job *j);

/* The placement into a checkpoint snapshot, and back from one. */
void stateplan_snapshot(const job *j, ckpt_job *c);
void stateplan_restore(job *j, const ckpt_job *c);

/* Frees the job's placement. */
void stateplan_free(job *j);

#endif
