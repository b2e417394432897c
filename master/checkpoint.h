/*
 * The driver checkpoint (SPEC §7): what a restarted master needs to resume a
 * job, written to the state store as ONE SQLite transaction per checkpoint,
 * on a thread of its own.
 *
 * A checkpoint is a snapshot of one job (ckpt_job): its generator clock
 * (next batch time, which never goes backwards), the batches not yet retired
 * with their state and the outputs already committed, the Kafka offset
 * ranges of those batches and the next offset of every partition, every
 * receiver block still needed (unallocated ones, batch_ms = 0, and those of
 * unfinished batches) with its holders and WAL location, where each receiver
 * runs, where each state partition lives, which files text_file_stream
 * took (and which of them each batch reads), and the rate controller's state
 * (an opaque string; backpressure fills it later). The snapshot owns plain copies, never
 * engine pointers, so the engine makes it under the master's lock and the checkpointer
 * writes it without that lock.
 *
 * The engine snapshots a job at most once per tick and only when something
 * changed: after generating batches ("before" the batches run: a batch is
 * not started until the checkpoint that contains it is durable), after an
 * output committed, and after a batch ended ("after": its blocks are removed
 * from the workers and its Kafka offsets committed only once that is
 * durable). Because every checkpoint is one transaction, a master killed at
 * any moment recovers a state some checkpoint committed (the unit test
 * test_checkpoint kills a writer between every two statements).
 *
 * Threading: checkpoint_write / checkpoint_load take a connection the caller
 * owns; the checkpointer owns its own connection (SQLite's WAL mode lets it
 * commit while the master's connection reads) and calls done callbacks on
 * its thread with no lock held.
 */
#ifndef SLUICE_MASTER_CHECKPOINT_H
#define SLUICE_MASTER_CHECKPOINT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CKPT_HOLDERS 2

typedef struct {
	char *id;
	uint32_t node;
	int64_t batch_ms; /* 0: not yet allocated to a batch */
	uint64_t records, bytes;
	int64_t created_ms;
	int nholders;
	char *holder_id[CKPT_HOLDERS];
	char *holder_url[CKPT_HOLDERS];
	char *wal; /* "worker-id:segment:offset" or "" */
} ckpt_block;

typedef struct {
	int64_t batch_ms; /* 0 for a next offset (ckpt_job.offsets) */
	uint32_t node;
	char *topic;
	int32_t partition;
	int64_t from, until; /* next offset: until */
} ckpt_range;

typedef struct {
	int64_t time_ms;
	/* QUEUED, RUNNING, DONE, FAILED, or HALTED: failed, the job stopped
	 * (sluice.batch.onFailure=stop), kept to run again at its start */
	char state[12];
	uint64_t outputs_done; /* bit i: output job i committed */
	uint64_t input_records;
	int64_t start_ms, end_ms;
	char *error;
} ckpt_batch;

typedef struct {
	uint32_t receiver_id;
	char worker[32];
} ckpt_receiver;

/* A lifecycle transition (lifecycle.h); written with INSERT OR IGNORE, so a
 * snapshot may carry transitions an earlier one already wrote. */
typedef struct {
	uint32_t seq; /* 1, 2, ... per job */
	int64_t at_ms;
	char from[12], to[12];
	char *who, *why;
} ckpt_transition;

/* Where partition part of a stateful node keeps its state (stateplan.h):
 * the placement a restarted master keeps, so the workers' in-memory state
 * is found again. */
typedef struct {
	uint32_t node, part, nparts;
	char worker[32];
	char replica[32]; /* holds its checkpoint and the deltas since */
	int64_t ckpt_ms;  /* its last full checkpoint, 0 = none */
	/* event-time windows: stplace's ev_* (model.h), the watermark's base */
	int64_t ev_max, ev_batch, ev_bmax;
	uint64_t ev_late, ev_blate;
} ckpt_statepart;

/* A file text_file_stream took (jobgen.c): batch_ms 0 for the job's set of
 * files already taken (a name found again in its directory is not read
 * again), else a file batch batch_ms reads (its re-run reads it again). */
typedef struct {
	int64_t batch_ms;
	char *path;
} ckpt_file;

typedef struct {
	uint64_t job_id;
	char state[12];
	char *error;
	int64_t next_batch_ms, last_batch_ms;
	char *rate_state;
	/* totals since the job was submitted (records of ended batches) */
	uint64_t records, batches_done, batches_failed;
	ckpt_batch *batches; /* not yet retired (QUEUED, RUNNING, or just ended) */
	size_t nbatches;
	ckpt_batch *kept; /* ended ones a window may read (checkpoint_load_kept) */
	size_t nkept;
	ckpt_range *ranges; /* Kafka ranges of those batches */
	size_t nranges;
	ckpt_range *offsets; /* next offset per Kafka partition */
	size_t noffsets;
	ckpt_block *blocks; /* every receiver block still needed */
	size_t nblocks;
	ckpt_receiver *receivers;
	size_t nreceivers;
	ckpt_transition *transitions; /* those not yet known durable */
	size_t ntransitions;
	ckpt_statepart *stparts; /* state partitions' placement */
	size_t nstparts;
	ckpt_file *files; /* text_file_stream: files taken, files of the batches */
	size_t nfiles;
} ckpt_job;

/* Appenders (the engine builds snapshots with them). */
ckpt_batch *ckpt_add_batch(ckpt_job *c);
ckpt_range *ckpt_add_range(ckpt_range **v, size_t *n);
ckpt_block *ckpt_add_block(ckpt_job *c);
void ckpt_add_file(ckpt_job *c, int64_t batch_ms, const char *path);
void ckpt_job_free(ckpt_job *c); /* frees the contents and c itself */

/* Writes c in one transaction on db; on any error rolls back (the stored
 * state is the previous checkpoint) and returns SL_EDB with err set. */
int checkpoint_write(sqlite3 *db, const ckpt_job *c, char *err, size_t errlen);

/* Reads job_id's last committed checkpoint into a new *out: batches that are
 * QUEUED, RUNNING or HALTED, their ranges, the next offsets, the needed blocks,
 * receivers. SL_ENOTFOUND if there is no such job. */
int checkpoint_load(sqlite3 *db, uint64_t job_id, ckpt_job **out, char *err,
                    size_t errlen);

/* Adds to c->kept the ended (DONE or FAILED) batches of c's job from
 * since_ms on: those a job with windows keeps for later batches (their
 * blocks and Kafka ranges are in c when it recorded them kept). SL_EDB with
 * err set on a database error. */
int checkpoint_load_kept(sqlite3 *db, ckpt_job *c, int64_t since_ms, char *err,
                         size_t errlen);

/* Fault injection for tests: fn is called before every statement of a
 * checkpoint_write with its index (0, 1, ...); a nonzero return fails that
 * statement as an I/O error would (a test may also _exit there, as kill -9
 * would). NULL turns it off. Not thread-safe: set it before writing. */
void checkpoint_set_fault(int (*fn)(void *arg, int stmt), void *arg);

/* The checkpointer: a thread committing snapshots in the order given. */
typedef struct checkpointer checkpointer;
/* Called on the checkpointer thread, no lock held, after the transaction
 * committed (rv = SL_OK) or failed and rolled back. */
typedef void (*checkpoint_done_fn)(void *arg, uint64_t job_id, uint64_t seq, int rv,
                                   const char *err);

/* Opens its own connection to the database at path and starts the thread. */
int checkpointer_start(const char *path, checkpoint_done_fn done, void *arg,
                       checkpointer **out, char *err, size_t errlen);
/* Queues a snapshot (taking ownership); never blocks on I/O. A snapshot
 * superseded by a later one of the same job before it is written is dropped
 * (no done call for its seq; the later seq's covers it), so the queue stays
 * short however slow the disk. */
void checkpointer_submit(checkpointer *cp, ckpt_job *c, uint64_t seq);
/* Writes what is queued, joins the thread, closes the connection. */
void checkpointer_stop(checkpointer *cp);

#endif
