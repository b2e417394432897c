/*
 * The task scheduler (Spark's TaskScheduler): it knows stages, tasks and
 * worker slots, never jobs, batches or output jobs. The planner above it
 * (plan.h) registers the stages it plans and is told of their ends through
 * a table of callbacks (sched_ops); nothing here calls back up by name.
 *
 * A registered stage is runnable when every parent map stage has all its
 * outputs and the planner says it is live (some output job still needs
 * it). A task goes to a worker with a free slot other than the one it last
 * failed on, preferring (1) a holder of its receiver block or the worker
 * its input prefers (a Kafka partition's last reader), then (2) the least
 * loaded; the worker it failed on is used again only when it is the only
 * one alive. Launches are asynchronous; the worker answers at once and
 * reports the end with MSG_TASK_STATUS.
 *
 * Failures: a FAILED task is retried, on another worker when there is one,
 * until it has failed max_failures times; then the stage fails
 * (ops.stage_failed). A FETCH_FAILED task does not count: the parents' map
 * outputs on the worker that lacked them are recomputed. A LOST worker's
 * running tasks are re-queued and its still-needed map outputs recomputed;
 * a task RUNNING on a worker whose heartbeat no longer lists it is
 * re-queued (the task timeout).
 *
 * Everything runs under the master's lock, which serves RPCs, so nothing
 * here writes to a socket: launches and removals are packed under it into
 * an outbox that the scheduler's sender thread sends without it, in order
 * (nng writes inline on the sending thread). Their completions, and a send
 * that fails (the task fails as an unanswered launch does), re-take it.
 */
#ifndef SLUICE_MASTER_TASKSCHED_H
#define SLUICE_MASTER_TASKSCHED_H

#include "cluster.h"
#include "job.pb-c.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define HOLDERS_MAX 2

/* A block received by a receiver, as the master knows it (receiver tracker,
 * rtracker.h); read here to send it as a task's input. */
typedef struct {
	char *id;
	uint32_t node;
	uint64_t records, bytes;
	int nholders;
	char holder_id[HOLDERS_MAX][32];
	char *holder_url[HOLDERS_MAX];
	int64_t created_ms;
	char *wal;     /* "<worker id>:<path>" of its WAL segment, "" if not logged */
	uint32_t refs; /* batches whose datasets hold it (rtracker.h) */
} rblock;

/* The worker holding b's WAL segment, in out; false if b is not logged. */
bool rblock_wal_worker(const rblock *b, char out[32]);

/* One Kafka partition's offsets for one batch: [from, until). */
typedef struct {
	uint32_t node;
	char *topic;
	int32_t partition;
	int64_t from, until;
} krange;

typedef enum { TIN_BLOCK, TIN_SHUFFLE, TIN_GENERATOR, TIN_FILE, TIN_KAFKA } tin_kind;

/* What one task reads. */
typedef struct {
	tin_kind kind;
	uint32_t source_node;
	rblock *block;        /* TIN_BLOCK (owned by the batch's dataset) */
	struct stage *parent; /* TIN_SHUFFLE: the map stage */
	struct stage *right;  /* TIN_SHUFFLE into a join: the right side's */
	uint32_t reduce_partition;
	int64_t gen_start, gen_count;
	char *file;       /* TIN_FILE */
	int64_t gen_ms;   /* TIN_GENERATOR: the batch time it generates for */
	const krange *kr; /* TIN_KAFKA (owned by the batch) */
	char prefer[32];  /* worker to prefer (a Kafka partition's last reader) */
	bool recompute;   /* an incremental window's state task: from parent alone */
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

/* Where a result stage's tasks write (set by the planner). */
typedef struct {
	Sluice__TaskOutput__Kind kind;
	uint32_t node;
	uint32_t print_limit;
	const char *save_dir; /* SAVE */
} stage_out;

typedef struct stage {
	uint32_t id;
	void *owner; /* the planner's (its output job); opaque here */
	/* the planner's too: output jobs of later batches reading it (windows) */
	void **users;
	size_t nusers;
	/* set by the planner before sched_add_stage */
	uint64_t job_id;
	int64_t batch_ms;
	const char *lib_hash;
	const char *name; /* for logs: the job's name */
	uint32_t max_failures;
	/* the only worker its tasks may run on (a standalone job's run_worker,
	 * kept current by the registry); NULL or "" = any */
	const char *pin;
	bool is_map;           /* writes shuffle buckets */
	uint32_t shuffle_node; /* is_map: the shuffle it feeds */
	uint32_t num_reducers;
	char shuffle_id[96];
	stage_out out; /* !is_map */
	struct stage **parents;
	size_t nparents;
	mtask **tasks;
	size_t ntasks, done;
	/* kept by the scheduler */
	bool registered; /* between sched_add_stage and sched_remove_stage */
	uint32_t launches, failures, fetch_failures;
	int64_t first_task_wall; /* earliest task start (launch + queue time) */
} stage;

/* Where a pinned task runs (sched_ops.task_pin) and, for a state task,
 * where its state replicates and whether it writes a full checkpoint. */
typedef struct task_pinning {
	char worker[32];
	char replica_id[32];
	char replica_url[256];
	bool full;
	int64_t ckpt_ms;      /* its last full checkpoint, 0 = none */
	int64_t watermark_ms; /* event-time window: the batch's, INT64_MIN = none */
} task_pinning;

/* How the scheduler reports to the layer that registered the stages. */
typedef struct {
	/* Whether an output job that uses s is running: only then are its tasks
	 * launched and their reports applied. */
	bool (*stage_live)(const stage *s);
	/* A task finished (t->state is TASK_DONE, s->done counted). */
	void (*task_done)(stage *s, mtask *t, const Sluice__TaskStatus *st);
	/* s cannot complete: a task failed max_failures times, a block has no
	 * copy left, or too many fetch failures. */
	void (*stage_failed)(stage *s, const char *why);
	/* t was sent to worker (locality bookkeeping). */
	void (*task_launched)(stage *s, mtask *t, const char *worker);
	/* Optional: whether t must run on one worker (out->worker; "" = none
	 * can take it yet), e.g. a state partition's task where its state
	 * lives, and what the task is told about its state's replica. A pinned
	 * task waits for that worker's slot, whatever it failed on. */
	bool (*task_pin)(stage *s, const mtask *t, struct task_pinning *out);
} sched_ops;

typedef struct {
	char id[32];
	uint32_t running; /* tasks we launched there and have not heard end of */
	uint32_t receivers;
} wload;

typedef struct sched sched;

/* The scheduler of a master whose lock is *lock (taken by completions);
 * NULL when its sender thread cannot start. */
sched *sched_new(cluster *cl, pthread_mutex_t *lock, const sched_ops *ops,
                 uint64_t first_task_id);
/* Stops the sender thread; calls still queued are dropped, never sent.
 * Call without the lock (a failed send re-takes it), before the stages'
 * owners are freed. sched_free does it too. */
void sched_stop(sched *s);
void sched_free(sched *s);

/* Registers a planned stage: gives its tasks their ids (consecutive) and
 * schedules it from now on, in registration order. */
void sched_add_stage(sched *s, stage *st);
/* Forgets a stage (before it is freed, or once no output job needs it);
 * gives back the slots of its tasks still launching or running (their late
 * reports find no task) and makes them pending, so a stage registered
 * again (a window reading an earlier batch) runs them again. Registering a
 * stage again gives its tasks new ids. */
void sched_remove_stage(sched *s, stage *st);

/* Launches what can run (oldest registered stage first). */
void sched_run(sched *s);
/* MSG_TASK_STATUS; the caller re-runs planning and scheduling after it. */
int sched_handle_status(sched *s, const envelope *req, rpc_reply *rep);
void sched_worker_lost(sched *s, const char *worker_id);
/* Re-queues tasks RUNNING on worker_id since before since_mono that the
 * worker's heartbeat (ids) does not list; returns how many. */
uint32_t sched_worker_tasks(sched *s, const char *worker_id, int64_t since_mono,
                            const uint64_t *ids, size_t n);
/* The load kept for a worker (receivers are counted by the tracker). */
wload *sched_load(sched *s, const char *worker_id);
/* Tells every alive worker to remove the shuffle buckets whose id starts with
 * prefix ("" none) and the blocks among blocks it holds. */
void sched_remove_data(sched *s, const char *prefix, rblock **blocks, size_t n);

#endif
