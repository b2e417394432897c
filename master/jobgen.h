/*
 * The job generator (Spark's JobGenerator) and the batch lifecycle: at every
 * multiple of a running job's batch interval a batch is generated with the
 * input of its sources (receiver blocks from the tracker, offset ranges from
 * the Kafka planner, files, generator records); each output node of the
 * graph becomes an output job (plan.h), at most
 * spark.streaming.concurrentJobs run at once, oldest batch first, and only
 * once the checkpoint recording the batch is durable. An ended batch is
 * retired once the checkpoint recording its end is durable: its blocks and
 * shuffle buckets are removed from the workers and its Kafka offsets
 * committed.
 *
 * Calls go down: jobs.c, recovery.c and lifecycle.c call in; this file
 * calls the planner, the receiver tracker, the Kafka planner and the
 * scheduler. A batch that fails the job (sluice.batch.onFailure=stop) is
 * reported in job.halt, which the registry applies (jobs.c).
 * Everything runs under the master's lock.
 */
#ifndef SLUICE_MASTER_JOBGEN_H
#define SLUICE_MASTER_JOBGEN_H

#include "model.h"

void batches_generate(job *j, int64_t now_wall);
/* Recreates the unfinished batches, unallocated blocks and Kafka offsets of
 * a checkpoint (after a master restart). */
void batches_restore(job *j, const ckpt_job *c);
/* Adds the job's batches, blocks and offsets to a snapshot. */
void batches_snapshot(job *j, ckpt_job *c);
/* Retires ended batches whose end is durable (job.ckpt_durable). */
void batches_retire(job *j);
/* sluice start: batches halted by a failure (onFailure=stop) run again,
 * minus their committed outputs. */
void batches_rearm(job *j);
/* Drops the unallocated blocks (a stopped job starts afresh). */
void batches_drop_pending(job *j);
void batches_start_ojobs(job *j);
void batch_free(batch *b);
/* Ends running batches whose output jobs all ended. */
void batches_check_done(job *j);
void batch_summarise(job *j, const batch *b, Sluice__BatchInfo *out);

#endif
