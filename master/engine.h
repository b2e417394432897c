/*
 * The master's streaming engine: every submitted job and its batches.
 *
 * Per job it runs Spark Streaming's driver components: the JobGenerator
 * (a batch at every multiple of the batch interval), the ReceiverTracker
 * (receivers placed on workers, their blocks recorded and allocated to
 * batches), the DAG scheduler (each output operation of a batch becomes a
 * job of stages split at shuffles) and the task scheduler (free slots,
 * locality, retries on another worker up to spark.task.maxFailures).
 *
 * Threading: every entry point is called with the master's lock held: RPC
 * handlers, the cron tick and cluster events. Calls to workers are
 * asynchronous; their completions re-take the lock (engine_launch_done).
 */
#ifndef SLUICE_MASTER_ENGINE_H
#define SLUICE_MASTER_ENGINE_H

#include "master.h"

/* Starts the checkpointer and resumes the jobs of the state store (their
 * RUNNING ones from their last checkpoint). */
int engine_new(master *m, struct engine **out, char *err, size_t errlen);
/* Writes the last checkpoints and stops the checkpointer; call WITHOUT the
 * lock (its completions take it), before engine_free. */
void engine_stop(struct engine *e);
void engine_free(struct engine *e);

/* Handles the engine's message types; SL_EUNKNOWN_TYPE for others. */
int engine_handle(struct engine *e, const envelope *req, rpc_reply *rep);

/* Generates due batches and schedules work. */
void engine_tick(struct engine *e);

/* A worker was marked LOST (lost = true) or (re-)registered. */
void engine_worker_event(struct engine *e, worker_entry *w, bool lost);

/* A heartbeat listed the tasks w's process has in flight: tasks running
 * there since before its previous heartbeat and not listed are gone (their
 * end was never reported) and are re-queued. This is the task timeout: no
 * task stays "running" longer than two heartbeats on a process without it. */
void engine_worker_tasks(struct engine *e, worker_entry *w, const uint64_t *tasks,
                         size_t ntasks);

/* The wall time (ms) of the earliest next batch of a running job, INT64_MAX
 * when none runs: the cron thread sleeps until then at most. */
int64_t engine_next_batch_wall(struct engine *e);

/* Under the lock, for the master's Kafka thread: the Kafka sources that
 * need a plan for their job's next batch (in due, up to ndue; returned
 * count) and every source (in all, up to nall_cap; count in *nall), to be
 * planned and committed without the lock (kafka_src.h). */
struct ksrc;
size_t engine_kafka_due(struct engine *e, int64_t now_wall, struct ksrc **due,
                        size_t ndue, struct ksrc **all, size_t nall_cap, size_t *nall);

#endif
