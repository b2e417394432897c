/*
 * The receiver tracker (Spark's ReceiverTracker and ReceivedBlockTracker):
 * one receiver per receiver-based input stream of a running job, placed on
 * the worker with the fewest receivers (a replica worker for the _2 storage
 * levels), restarted elsewhere when its worker is lost. Blocks the
 * receivers report (MSG_ADD_BLOCK) wait in the unallocated queue until the
 * next batch takes them all.
 *
 * The tracker owns every block it knows: unallocated ones, and allocated
 * ones while a batch's dataset references them (reference-counted: each
 * batch holding a block has a reference; a batch kept for the windows of
 * later batches keeps its own, jobgen.h). When the last reference goes the block is
 * removed from the workers (which deletes its WAL segment) and freed. A lost
 * worker's copies are struck from every block; a worker that comes back
 * with a WAL serves its blocks again.
 *
 * It feeds the job generator (jobgen.h), which calls in, and knows nothing
 * of jobs or batches: what it needs comes at init and through the shared
 * rtracker_env. Runs under the master's lock; StartReceiver/StopReceiver
 * completions re-take it and find their tracker by job id (env.find), never
 * by a pointer that may be gone.
 */
#ifndef SLUICE_MASTER_RTRACKER_H
#define SLUICE_MASTER_RTRACKER_H

#include "checkpoint.h"
#include "job.pb-c.h"
#include "tasksched.h"

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

typedef struct rtracker rtracker;

/* What the trackers of one master share (owned by the engine). */
typedef struct {
	cluster *cl;
	pthread_mutex_t *lock; /* the master's */
	sched *sched;          /* load table, data removal */
	/* The tracker of job_id, NULL if gone (completions look it up). */
	rtracker *(*find)(void *arg, uint64_t job_id);
	void *arg;
	/* The rate (records/s, 0 = unlimited) one receiver of node enforces. */
	double (*receiver_rate)(void *owner, uint32_t node);
} rtracker_env;

struct rtracker {
	const rtracker_env *env;
	void *owner; /* given to env->receiver_rate (the job) */
	uint64_t job_id;
	const char *name; /* the job's, for logs; outlives the tracker */
	const Sluice__JobGraph *graph;
	char storage_level[32];
	int64_t block_interval_ms;
	bool wal;
	/* A standalone job's one worker (the job's run_worker, kept current by
	 * the registry); NULL or "" = any worker. */
	const char *pin;
	receiver *rcv;
	size_t nrcv;
	uint32_t rcv_stopping; /* StopReceiver calls not answered yet */
	rblock **pending;      /* received, not yet allocated to a batch */
	size_t npending, pending_cap;
	rblock **held; /* allocated, referenced by batches */
	size_t nheld, held_cap;
};

/* One receiver per socket source node of g; nothing started yet. */
void rtracker_init(rtracker *rt, const rtracker_env *env, void *owner, uint64_t job_id,
                   const char *name, const Sluice__JobGraph *g, const char *storage_level,
                   int64_t block_interval_ms, bool wal);
/* Frees receivers and blocks (after rtracker_stop; no removal is sent). */
void rtracker_fini(rtracker *rt);
/* After a restart: prefer each receiver's last worker for grace_ms. */
void rtracker_restore(rtracker *rt, const ckpt_job *c, int64_t grace_ms);
/* A block of a checkpoint: unallocated ones (batch_ms 0) queue again;
 * allocated ones are held with one reference, returned for their batch. */
rblock *rtracker_adopt(rtracker *rt, const ckpt_block *cb);
/* Adds the receivers and the unallocated blocks to a snapshot. */
void rtracker_snapshot(const rtracker *rt, ckpt_job *c);
/* Adds one block to a snapshot, as allocated to batch_ms (0: none). */
void rtracker_snapshot_block(ckpt_job *c, const rblock *rb, int64_t batch_ms);
/* sluice start: receivers are placed again. */
void rtracker_rearm(rtracker *rt);
/* Starts the receivers that are not running and may be (re)tried. */
void rtracker_tick(rtracker *rt);
/* Stops every receiver (StopReceiver; rcv_stopping counts the answers). */
void rtracker_stop(rtracker *rt);
/* SL_OK, or an error reply naming what is wrong with a. */
int rtracker_check_add_block(const Sluice__AddBlock *a, rpc_reply *rep);
/* A checked AddBlock: queued unless known already (a retried report).
 * Returns whether it was new. */
bool rtracker_add_block(rtracker *rt, const Sluice__AddBlock *a);
/* Allocates every unallocated block to a new batch: *blocks (an array the
 * caller owns) gets them, each with one reference. */
void rtracker_allocate(rtracker *rt, rblock ***blocks, size_t *n);
/* Drops a reference to each block; blocks left with none are removed from
 * the workers and freed. */
void rtracker_release(rtracker *rt, rblock **blocks, size_t n);
/* Removes and frees the unallocated blocks (a stop drops buffered input). */
void rtracker_drop_pending(rtracker *rt);
/* A worker is lost: its copies are struck, its receivers restart
 * elsewhere. Returns whether a block's holders changed. */
bool rtracker_worker_lost(rtracker *rt, const char *worker_id);
/* A worker (re-)registered: it serves again the blocks whose WAL it has.
 * Returns whether a block's holders changed. */
bool rtracker_worker_back(rtracker *rt, const worker_entry *w);

#endif
