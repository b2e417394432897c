/*
 * Receivers on a worker: the ReceiverSupervisor and BlockGenerator of Spark
 * Streaming.
 *
 * The master starts a receiver on a worker (MSG_START_RECEIVER) for each
 * receiver-based input stream of a running job. Each receiver runs in its
 * own thread under a supervisor that restarts it (with backoff) when its
 * source fails, e.g. a socket that closed or cannot be reached yet. Records
 * pass a token bucket (max_rate records/s, 0 = unlimited) and go into the
 * current block buffer; every block_interval_ms the BlockGenerator cuts the
 * buffer into a block: stores it in the BlockManager (MEMORY_AND_DISK for
 * the *_DISK* levels, else MEMORY_ONLY), writes it to the write-ahead log
 * first when `wal` is set (fsync before anything is acknowledged),
 * replicates it to replica_url for the *_2 levels (MSG_PUT_BLOCK), and
 * reports it to the master (MSG_ADD_BLOCK) with its holders. A block is
 * reported only after it is stored (and replicated/logged as asked).
 *
 * Memory: a block is also cut early when its buffer reaches max_block bytes
 * (the storage budget / 8, between 256 KiB and 8 MiB), and the reader waits
 * for that cut before it reads on, so a source faster than the receiver can
 * store is held back by TCP flow control: a receiver holds at most about
 * one buffer being filled and one block being stored, whatever the rate.
 *
 * Block ids: "rcv-<job>-<receiver>-<start ms>-<seq>", unique across restarts.
 *
 * Thread-safe. Stopping joins the receiver thread (bounded: sockets use
 * timeouts so a stop completes within about one block interval).
 */
#ifndef SLUICE_WORKER_RECEIVERS_H
#define SLUICE_WORKER_RECEIVERS_H

#include "blockmgr.h"
#include "peers.h"
#include "rpc.h"
#include "job.pb-c.h"

#include <stdint.h>

typedef struct {
	blockmgr *bm;
	rpc_client *master;    /* for MSG_ADD_BLOCK */
	peer_pool *peers;      /* for MSG_PUT_BLOCK to the replica */
	const char *worker_id; /* pointers stable for the worker's life */
	const char *worker_url;
	const char *dir; /* work dir: WAL under dir/wal */
} receiver_env;

typedef struct receivers receivers;

int receivers_new(receivers **out, const receiver_env *env);
/* Stops every receiver and frees. */
void receivers_free(receivers *r);
/* Starts a receiver for spec (copied). SL_EEXIST if (job, receiver id) runs
 * here already; SL_EINVAL for a kind this worker cannot receive. */
int receivers_start(receivers *r, const Sluice__StartReceiver *spec, char *err,
                    size_t errlen);
/* Stops one receiver, flushing its current buffer as a last block. */
int receivers_stop(receivers *r, uint64_t job_id, uint32_t receiver_id);
/* Stops every receiver of a job. */
void receivers_stop_job(receivers *r, uint64_t job_id);
/* Backpressure (MSG_SET_RATE): the receiver's token bucket runs at rate
 * records/s (0 = unlimited) from now on, a reader waiting on it included.
 * SL_ENOTFOUND if it does not run here. */
int receivers_set_rate(receivers *r, uint64_t job_id, uint32_t receiver_id, double rate);
uint32_t receivers_count(receivers *r);

/* One receiver's backpressure figures (the worker's /metrics). A receiver is
 * blocked while its reader waits on its token bucket or on a full block
 * buffer (the generator has not cut it yet, or the disk budget is full). */
typedef struct {
	uint64_t job_id;
	uint32_t receiver_id;
	uint64_t records;     /* taken into its block buffer since it started */
	double blocked_s;     /* seconds blocked since it started */
	double blocked_share; /* share of its time blocked, in its last report */
	double rate;          /* records/s its token bucket allows, 0 = unlimited */
} receiver_load;

/* The figures of every receiver running here, in *out (an array the caller
 * frees with sl_free, also when 0 is returned); returns how many.
 * Thread-safe; takes each receiver's lock briefly, never blocks on I/O. */
size_t receivers_load(receivers *r, receiver_load **out);

#endif
