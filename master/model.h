/*
 * The engine's data model: jobs, their batches and output jobs, as the job
 * generator (jobgen.h) and the planner (plan.h) keep them. Types only, and
 * two inline helpers: nothing here calls a file.
 *
 * Ownership is a tree: engine -> jobs -> batches -> output jobs -> stages ->
 * tasks (stages and tasks: tasksched.h). Everything is touched only under the
 * master's lock.
 */
#ifndef SLUICE_MASTER_MODEL_H
#define SLUICE_MASTER_MODEL_H

#include "checkpoint.h"
#include "job.pb-c.h"
#include "kafka_src.h"
#include "master.h"
#include "rtracker.h"
#include "tasksched.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum { OJ_WAITING, OJ_RUNNING, OJ_DONE, OJ_FAILED } ojob_state;

/* One output operation of one batch: Spark's streaming "job". */
typedef struct ojob {
	struct batch *b;
	uint32_t index;
	uint32_t output_node;
	ojob_state state;
	stage **stages;
	size_t nstages;
	stage *result;
	char *save_tmp, *save_final;
} ojob;

typedef enum { BATCH_QUEUED, BATCH_RUNNING, BATCH_DONE, BATCH_FAILED } batch_state;

typedef struct batch {
	struct job *job;
	int64_t time_ms;
	batch_state state;
	rblock **blocks;
	size_t nblocks;
	char **files;
	size_t nfiles;
	krange *kr;
	size_t nkr;
	uint64_t input_records;
	ojob **ojobs;
	size_t nojobs, ojobs_ended;
	int64_t start_wall, end_wall;
	/* Task counts of output jobs re-planned after a failure (their stages
	 * are gone); the live ones are summed from the stages (plan.h). */
	uint32_t tasks, task_failures;
	char error[512];
	char **output; /* print lines, in order */
	size_t noutput;
	/* Checkpoint sequence numbers (job.ckpt_*): the batch's output jobs
	 * start once the checkpoint that generated it is durable; an ended
	 * batch is retired (blocks dropped, offsets committed) once the one
	 * that records its end is. */
	uint64_t gen_seq, end_seq;
	/* The batch's map stages by shuffle node: the data of one shuffle of
	 * one batch is computed once and read by every output job that needs
	 * it (a stage is owned, planned and freed by the output job that
	 * planned it first; the others only read it). */
	struct stage **shuffles;
	size_t nshuffles;
	/* Window stages of this batch by window node (plan.c): the final
	 * shuffle of a reduce_by_key_and_window over the window's batches. */
	struct stage **wins;
	size_t nwins;
	/* Join map stages of this batch (plan.c), two per join node: the left
	 * side's then the right side's, both writing the join node's shuffle. */
	struct stage **joins;
	size_t njoins;
} batch;

/* A finished batch, kept for `sluice monitor` (the last BATCH_HISTORY). */
typedef struct {
	int64_t time_ms;
	batch_state state;
	uint64_t input_records;
	int64_t sched_ms, proc_ms, total_ms;
	int64_t first_task_ms; /* -1: no task reported */
	uint32_t tasks, task_failures;
	char *error;
	char **output;
	size_t noutput;
	char **offsets;
	size_t noffsets;
} batch_summary;

#define BATCH_HISTORY 512

/* SPEC §8: PUBLISHED -> RUNNING <-> PAUSED; RUNNING/PAUSED -> STOPPED; any ->
 * FAILED; STOPPED -> RUNNING again (lifecycle.c). */
typedef enum {
	JOB_RUNNING,
	JOB_STOPPED,
	JOB_FAILED,
	JOB_PUBLISHED,
	JOB_PAUSED
} job_state;

/* A transition kept in memory (all of a job's, listed by the REST API);
 * at_seq: the first checkpoint that carries it. */
typedef struct {
	ckpt_transition t;
	uint64_t at_seq;
} job_transition;

/* A job's definition: what was submitted, owned by the job, independent of
 * the wire message it came in (and rebuilt from the state store after a
 * restart). */
typedef struct {
	char lib_hash[65];
	uint8_t *library;
	size_t library_len;
	Sluice__JobGraph *graph; /* unpacked from its own bytes */
	char **conf_keys, **conf_values;
	size_t nconf;
} jobdef;

typedef struct ratecontrol ratecontrol; /* ratecontrol.c */

/* The sticky placement of one stateful node's partitions (stateplan.h):
 * partition p's state lives on worker[p] ("" = to be placed again, its
 * worker was lost) and replicates to replica[p] ("" = none); ckpt_ms[p]
 * is its last full checkpoint (0 = none), full[p] asks its next task for
 * one (a new replica). nparts is fixed at the node's first planning: a
 * key's partition never changes. */
typedef struct {
	uint32_t node;
	uint32_t nparts;
	char (*worker)[32];
	char (*replica)[32];
	int64_t *ckpt_ms;
	bool *full;
	uint64_t *keys, *bytes; /* size after its last task (not checkpointed) */
	/* Event-time windows (stateplan.h): per partition, the largest event
	 * time and the late records of every batch before ev_batch[p], and
	 * those of batch ev_batch[p] itself (its last report: a re-run of the
	 * batch replaces them), INT64_MIN = no event time. */
	int64_t *ev_max, *ev_batch, *ev_bmax;
	uint64_t *ev_late, *ev_blate;
	/* An incremental window whose partition started empty (its worker lost
	 * without a replica): its next window is recomputed whole. */
	bool recompute;
} stplace;

typedef struct job {
	struct engine *e;
	uint64_t id;
	char *name;
	job_state state;
	char error[512];
	char lib_hash[65];
	jobdef def;
	const Sluice__JobGraph *graph; /* def.graph */
	sl_conf *conf;
	int64_t interval_ms, next_batch_ms, created_ms;
	uint32_t max_failures, concurrent_jobs, default_parts;
	char storage_level[32];
	int64_t block_interval_ms, max_rate;
	bool wal;
	bool stop_on_failure; /* sluice.batch.onFailure=stop */
	bool graceful_stop;   /* spark.streaming.stopGracefullyOnShutdown */
	bool draining;        /* stopping gracefully: receivers told to stop */
	bool live;            /* receivers, Kafka sources and checkpoint loaded */
	rtracker rt;          /* receivers and their blocks (rtracker.h) */
	batch **batches;      /* queued and running, oldest first */
	size_t nbatches, batches_cap;
	batch_summary hist[BATCH_HISTORY];
	size_t nhist, hist_next;
	uint64_t batches_done, batches_failed, records;
	/* Set below the registry (a batch failed for good, a Kafka source
	 * cannot be planned): the job fails at the end of the tick. */
	char halt[768];
	int64_t last_batch_ms;
	/* text_file_stream: the files already taken that are still in their
	 * directory, sorted (strcmp); checkpointed (ckpt_file, batch_ms 0) */
	char **seen_files;
	size_t nseen;
	kset kafka;       /* Kafka direct streams (kafka_src.h) */
	ratecontrol *rc;  /* backpressure: rate per input stream (ratecontrol.h) */
	bool dropped;     /* stopped: workers told to drop its data (jobdrop.h) */
	ckpt_range *koff; /* next offset per Kafka partition, as batches took them */
	size_t nkoff;
	batch **retiring; /* ended, waiting for their end to be durable */
	size_t nretiring;
	/* Retired batches whose datasets (blocks, Kafka ranges, files, shuffle
	 * buckets) a later batch's window may still read: kept until every
	 * batch within retain_ms after them has retired (jobgen.c). */
	batch **kept;
	size_t nkept;
	int64_t retain_ms; /* the longest window length - the interval; 0: none */
	/* update_state_by_key / map_with_state nodes: where their partitions
	 * live (stateplan.h); a job with one runs its batches one after the
	 * other, each after the previous one's end is durable (jobgen.c). */
	stplace *stp;
	size_t nstp;
	bool stateful;
	/* Checkpoints: seq of the last one queued, of the last one durable;
	 * dirty when the job changed since the last one queued. */
	uint64_t ckpt_seq, ckpt_durable;
	bool ckpt_dirty;
	int64_t ckpt_retry_mono;
	/* Lifecycle (lifecycle.c): every transition, when the current state
	 * began (wall ms), the longest pause before it becomes a stop. */
	job_transition *trans;
	size_t ntrans;
	int64_t state_since_ms;
	int64_t pause_max_ms;
	int64_t lag_eval_mono; /* next lag alert evaluation (joblag.c) */
	/* Run configuration (runconf.h). */
	int64_t run_cus;
	bool run_standalone;
	char run_worker[32]; /* standalone: the one worker it runs on */
} job;

struct engine {
	master *m;
	job **jobs;
	size_t njobs;
	uint32_t epoch;     /* master starts on this state store (in shuffle ids) */
	sched *sched;       /* the task scheduler (tasksched.h) */
	rtracker_env rtenv; /* what the jobs' receiver trackers share */
	checkpointer *ckpt;
	bool stopping; /* engine_stop: no more checkpoints queued */
};

/* A job by id, or NULL (the registry: engine.jobs). */
static inline job *jobs_find_id(struct engine *e, uint64_t id)
{
	for (size_t i = 0; i < e->njobs; i++)
		if (e->jobs[i]->id == id)
			return e->jobs[i];
	return NULL;
}

/* The job changed; a checkpoint of it is queued at the end of the current
 * tick or handler (jobs.c: engine_flush). */
static inline void job_checkpoint(job *j)
{
	j->ckpt_dirty = true;
}

#endif
