/*
 * The engine's data model, shared by its files:
 *   jobs.c      job registry, submission, queries, persistence
 *   batches.c   JobGenerator, batch lifecycle, DAG planning, output commit
 *   sched.c     task scheduler: placement, launch, status, retries, loss
 *   rtracker.c  ReceiverTracker: receivers and received blocks
 *
 * Ownership is a tree: engine -> jobs -> batches -> output jobs -> stages ->
 * tasks. Everything is touched only under the master's lock.
 */
#ifndef SLUICE_MASTER_ENGINE_INT_H
#define SLUICE_MASTER_ENGINE_INT_H

#include "checkpoint.h"
#include "engine.h"
#include "job.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

#define HOLDERS_MAX 2

/* A block received by a receiver, as the master knows it. */
typedef struct {
	char *id;
	uint32_t node;
	uint64_t records, bytes;
	int nholders;
	char holder_id[HOLDERS_MAX][32];
	char *holder_url[HOLDERS_MAX];
	int64_t created_ms;
	char *wal; /* "<worker id>:<path>" of its WAL segment, "" if not logged */
} rblock;

typedef enum { TIN_BLOCK, TIN_SHUFFLE, TIN_GENERATOR, TIN_FILE, TIN_KAFKA } tin_kind;

/* One Kafka partition's offsets for one batch: [from, until). */
typedef struct {
	uint32_t node;
	char *topic;
	int32_t partition;
	int64_t from, until;
} krange;

/* What one task reads. */
typedef struct {
	tin_kind kind;
	uint32_t source_node;
	rblock *block;        /* TIN_BLOCK (owned by the batch) */
	struct stage *parent; /* TIN_SHUFFLE: the map stage */
	uint32_t reduce_partition;
	int64_t gen_start, gen_count;
	char *file;       /* TIN_FILE */
	const krange *kr; /* TIN_KAFKA (owned by the batch) */
} tinput;

typedef enum { TASK_PENDING, TASK_LAUNCHING, TASK_RUNNING, TASK_DONE } mtask_state;

typedef struct mtask {
	uint64_t id;
	struct stage *stage;
	uint32_t index;
	tinput in;
	uint32_t *chain;
	size_t nchain;
	mtask_state state;
	uint32_t attempt; /* of the current or last launch */
	uint32_t failures;
	char worker[32]; /* running on / output held by */
	char avoid[32];  /* worker it last failed on */
	int64_t launch_wall;
	int64_t running_mono; /* when the worker accepted it (TASK_RUNNING) */
	char **lines;         /* print output of this partition */
	size_t nlines;
	int64_t wait_since_mono; /* waiting for a block's WAL worker; 0 = not */
} mtask;

typedef struct stage {
	uint32_t id;
	struct ojob *oj;
	bool is_map;           /* writes shuffle buckets */
	uint32_t shuffle_node; /* is_map: the shuffle it feeds */
	uint32_t num_reducers;
	char shuffle_id[96];
	struct stage **parents;
	size_t nparents;
	mtask **tasks;
	size_t ntasks, done;
} stage;

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
	uint32_t fetch_failures;
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
	int64_t first_task_wall; /* earliest task start: launch + worker queue time; 0 =
	                            none */
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

typedef enum { RCV_INACTIVE, RCV_STARTING, RCV_ACTIVE } rcv_state;

typedef struct {
	uint32_t id;
	uint32_t node;
	rcv_state state;
	char worker[32];
	uint32_t generation; /* bumped on each start, to ignore stale replies */
	int64_t retry_after_mono;
	/* After a master restart: the worker it ran on, waited for until
	 * prefer_until_mono (it is probably still running there). */
	char prefer[32];
	int64_t prefer_until_mono;
} receiver;

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
	bool stop_on_failure;  /* sluice.batch.onFailure=stop */
	bool graceful_stop;    /* spark.streaming.stopGracefullyOnShutdown */
	bool draining;         /* stopping gracefully: receivers told to stop */
	bool live;             /* receivers, Kafka sources and checkpoint loaded */
	uint32_t rcv_stopping; /* StopReceiver calls not answered yet */
	receiver *rcv;
	size_t nrcv;
	rblock **pending; /* received, not yet allocated to a batch */
	size_t npending, pending_cap;
	batch **batches; /* queued and running, oldest first */
	size_t nbatches, batches_cap;
	batch_summary hist[BATCH_HISTORY];
	size_t nhist, hist_next;
	uint64_t batches_done, batches_failed, records;
	int64_t last_batch_ms;
	char **seen_files; /* text_file_stream: files already taken */
	size_t nseen;
	struct ksrc **ksrc; /* Kafka direct streams (kafka_src.c) */
	size_t nksrc;
	ratecontrol *rc;  /* backpressure: rate per input stream (ratecontrol.h) */
	bool dropped;     /* stopped: workers told to drop its data (jobdrop.h) */
	ckpt_range *koff; /* next offset per Kafka partition, as batches took them */
	size_t nkoff;
	batch **retiring; /* ended, waiting for their end to be durable */
	size_t nretiring;
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

typedef struct {
	char id[32];
	uint32_t running; /* tasks we launched there and have not heard end of */
	uint32_t receivers;
} wload;

struct engine {
	master *m;
	job **jobs;
	size_t njobs;
	uint64_t next_task_id;
	uint32_t epoch; /* master starts on this state store (in shuffle ids) */
	wload *load;
	size_t nload;
	checkpointer *ckpt;
	bool stopping; /* engine_stop: no more checkpoints queued */
};

/* jobs.c */
job *jobs_find(struct engine *e, const char *name_or_id);
job *jobs_find_id(struct engine *e, uint64_t id);
void job_fail(job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* jobs.c */
/* Applies the definition's configuration to the job; errors name the key. */
int job_conf_apply(job *j, char *err, size_t errlen);
void job_free(job *j);
/* recovery.c: rebuilds every stored job; resumes the RUNNING ones. */
int jobs_recover(struct engine *e, int64_t grace_ms, char *err, size_t errlen);
/* recovery.c: makes a job loaded as STOPPED/FAILED runnable from its last
 * checkpoint (receivers, Kafka sources, unfinished and halted batches). */
int job_resume(job *j, int64_t grace_ms, char *err, size_t errlen);

/* lifecycle.c (lifecycle.h has the actions) */
const char *job_state_name(job_state s);
/* Sets the state and records the transition (checkpointed with the job). */
void job_transition_to(job *j, job_state to, const char *who, const char *why);

/* jobs.c: the job changed; a checkpoint of it is queued at the end of
 * the current tick or handler (engine_flush). */
void job_checkpoint(job *j);

/* batches.c */
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
void ojob_task_done(ojob *oj, mtask *t, const Sluice__TaskStatus *st);
/* Completes a running output job whose result stage is done (also one with
 * no tasks at all). */
void ojob_maybe_complete(ojob *oj);
void ojob_fail(ojob *oj, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Whether an output job that uses stage s (its owner, or one reading its
 * shuffle) is running: the stage's tasks are scheduled and heard while so. */
bool stage_live(const stage *s);
/* Fails every running output job that uses s. */
void stage_fail_users(stage *s, const char *why);
void batches_check_done(job *j);
void batch_summarise(job *j, const batch *b, Sluice__BatchInfo *out);

/* jobs.c: starts output jobs, schedules tasks and retires finished batches
 * without generating new batches (safe from any handler). */
void engine_kick(struct engine *e);

/* sched.c */
void sched_run(struct engine *e);
int sched_handle_status(struct engine *e, const envelope *req, rpc_reply *rep);
void sched_worker_lost(struct engine *e, const char *worker_id);
/* Re-queues tasks RUNNING on worker_id since before since_mono that the
 * worker's heartbeat (ids) does not list; returns how many. */
uint32_t sched_worker_tasks(struct engine *e, const char *worker_id, int64_t since_mono,
                            const uint64_t *ids, size_t n);
wload *sched_load(struct engine *e, const char *worker_id);
/* A batch is retired while tasks of a failed output job may still run on
 * workers (their siblings failed for good); their late reports find no task,
 * so their slots are given back here. */
void sched_release_batch(struct engine *e, batch *b);
void sched_broadcast_remove(struct engine *e, const char *prefix, rblock **blocks,
                            size_t n);

/* rtracker.c */
void rtracker_init(job *j);
/* After a restart: prefer each receiver's last worker for grace_ms. */
void rtracker_restore(job *j, const ckpt_job *c, int64_t grace_ms);
void rtracker_snapshot(job *j, ckpt_job *c);
/* sluice start: receivers are placed again. */
void rtracker_rearm(job *j);
void rtracker_tick(job *j);
int rtracker_handle_add_block(struct engine *e, const envelope *req, rpc_reply *rep);
void rtracker_allocate(job *j, batch *b);
void rtracker_worker_lost(job *j, const char *worker_id);
/* A worker (re-)registered: it serves again the blocks whose WAL it has. */
void rtracker_worker_back(job *j, const worker_entry *w);
/* The worker holding b's WAL segment, in out; false if b is not logged. */
bool rblock_wal_worker(const rblock *b, char out[32]);
void rtracker_stop(job *j);
void rblock_free(rblock *b);

#endif
