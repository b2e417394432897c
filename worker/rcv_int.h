/*
 * Inside a receiver: what the reader thread (receivers.c) and the block
 * generator thread (rcvgen.c) of one receiver share. Private to those two
 * files; the contract for the rest of the worker is receivers.h.
 *
 * Locking: r->lock guards buf, cut_now, last_share and the sleeps of both
 * threads; the reader's and the generator's own fields are touched by their
 * thread only; the counters are atomics.
 */
#ifndef SLUICE_WORKER_RCV_INT_H
#define SLUICE_WORKER_RCV_INT_H

#include "receivers.h"
#include "ratelimit.h"
#include "record.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define RCV_DEFAULT_INTERVAL_MS 200
#define RCV_DEFAULT_LEVEL       "MEMORY_AND_DISK_SER_2"
#define RCV_READ_CHUNK          (64 * 1024)
#define RCV_MAX_LINE            (1024 * 1024) /* longer lines are cut into records */
#define RCV_POLL_MS             100           /* stop latency of socket waits */
#define RCV_CONNECT_TIMEOUT_MS  5000
#define RCV_BACKOFF_MIN_MS      100
#define RCV_BACKOFF_MAX_MS      2000
#define RCV_LOG_EVERY_MS        30000 /* repeated failures are logged this often */
#define RCV_STORE_ATTEMPTS      5
#define RCV_ENOSPC_PAUSE_MS     50
#define RCV_REPLICA_PAUSE_MS    2000
/* A block is cut early once its buffer holds max_block bytes: storage
 * budget / RCV_BLOCK_BUDGET_DIV, within these bounds. */
#define RCV_BLOCK_BUDGET_DIV 8
#define RCV_BLOCK_MIN        (256 * 1024)
#define RCV_BLOCK_MAX        (8 * 1024 * 1024)

/* A cut block whose AddBlock the master has not acknowledged yet. */
typedef struct pending_block {
	struct pending_block *next;
	char *id;
	char *wal_path; /* NULL when not in the WAL */
	uint64_t records, bytes;
	int64_t created_ms;
	bool stored;     /* held by this worker's BlockManager */
	bool replicated; /* held by the replica */
} pending_block;

/* Logs a recurring failure when it starts and then at most every
 * RCV_LOG_EVERY_MS; one thread each. */
typedef struct {
	bool failing;
	uint64_t count;
	int64_t last_log_ms;
} fail_log;

typedef struct receiver {
	struct receiver *next;
	const receiver_env *env;
	/* the spec, copied */
	uint64_t job_id;
	uint32_t node, id;
	char *host, *replica_url, *replica_worker_id;
	int port;
	int64_t interval_ms;
	block_level level;
	bool wal, replicate;
	char *wal_dir;    /* dir/wal/<job_id> when wal */
	int64_t start_ms; /* makes block ids unique across restarts */
	char name[64];    /* "receiver <job>/<id>" for logs */

	ratelimit rl;
	pthread_t reader, generator;
	bool reader_started, generator_started;
	atomic_bool stop_reader, stop_generator;
	pthread_mutex_t lock; /* buf, cut_now, and the sleeps of both threads */
	pthread_cond_t cond;
	rbuf buf;
	size_t max_block; /* buf is cut early when it reaches this size */
	bool cut_now;     /* the reader asks the generator for an early cut */

	/* reader only */
	uint8_t *line;
	size_t line_len, line_cap;
	fail_log conn_log;
	/* generator only */
	uint64_t seq;
	pending_block *pending, **pending_tail;
	uint32_t npending;
	int64_t report_at_ms, report_backoff_ms;
	int64_t replica_paused_until_ms;
	fail_log report_log, replica_log;
	int64_t share_since_ns; /* blocked share: since the last report */
	uint64_t share_blocked_ns;
	double last_share; /* under lock: the share last reported */

	/* counters, logged when the receiver stops */
	atomic_uint_fast64_t records, blocked_ns;
	uint64_t blocks, connects;
} receiver;

/* A recurring failure: true when it is to be logged now (when it starts,
 * then at most every RCV_LOG_EVERY_MS). */
bool rcv_fail_log_due(fail_log *fl);
/* Returns how many failures preceded a success (0 if none) and resets. */
uint64_t rcv_fail_log_clear(fail_log *fl);

/* Sleeps until the monotonic time until_ms or until *flag is set (or, with
 * wake_on_cut, an early cut is asked for); returns the flag. */
bool rcv_sleep_until(receiver *r, int64_t until_ms, atomic_bool *flag, bool wake_on_cut);

/* rcvgen.c: the generator thread of r (pthread start routine). Cuts, stores,
 * logs, replicates and reports blocks until r->stop_generator, then cuts and
 * reports the last block; the reader must have been joined by then. */
void *rcv_generator_main(void *arg);

#endif
