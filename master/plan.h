/*
 * The planner (Spark's DAGScheduler for one batch): turns an output job of
 * a batch into stages of tasks over the batch's datasets, registers them
 * with the task scheduler (tasksched.h) and follows their ends through the
 * scheduler's callbacks (plan_sched_ops), completing or failing output jobs.
 *
 * Planning walks the graph back from the output node: narrow nodes extend
 * the chain of the partitions below them (a task runs a fused chain in one
 * pass), a union concatenates its inputs' partitions, and a shuffle node
 * closes a map stage (hash-partitioned buckets) and opens `partitions`
 * reduce partitions reading them. The output's partitions form the result
 * stage. The data of one shuffle node for one batch is computed once: a
 * batch keeps its map stages by shuffle node and every output job that
 * needs one reads it (batch.shuffles). Each output job is planned when it
 * starts, so a stage's partition count may differ from batch to batch.
 *
 * Calls go down only: the job generator (jobgen.h) calls in; this file
 * calls the scheduler, the Kafka planner (locality) and nothing above.
 * Everything runs under the master's lock.
 */
#ifndef SLUICE_MASTER_PLAN_H
#define SLUICE_MASTER_PLAN_H

#include "model.h"

/* The callbacks the engine gives the scheduler (sched_new). */
extern const sched_ops plan_sched_ops;

/* Plans a waiting output job and registers its stages; it is RUNNING after
 * (or DONE at once when it has nothing to run). */
void ojob_plan(ojob *oj);
/* Frees an output job's stages (unregistering them) and makes it WAITING
 * again (a re-run after a failure). */
void ojob_reset(ojob *oj);
/* Frees an output job and everything it owns. */
void ojob_free(ojob *oj);
/* Fails a running output job; the first error is the batch's. */
void ojob_fail(ojob *oj, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* An ended batch's stages leave the scheduler (slots of tasks still running
 * for failed output jobs are given back; their late reports find nothing). */
void plan_release_batch(batch *b);

typedef struct {
	uint32_t tasks, task_failures;
	int64_t first_task_wall; /* 0: no task reported */
} plan_stats;

/* How long after its time a batch's datasets must stay for the windows of
 * later batches (the sum of the graph's window lengths beyond one
 * interval, plus a slide for an incremental window, which reads the
 * batches leaving it; 0 without windows). */
int64_t plan_retention_ms(const Sluice__JobGraph *g, int64_t interval_ms);

/* The batch's task launches and failures so far. */
plan_stats plan_batch_stats(const batch *b);

#endif
