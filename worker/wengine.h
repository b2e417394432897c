/*
 * The worker's engine: task slots, the job cache, the block manager, the
 * receivers and the block/shuffle service, behind the worker's RPC handler.
 *
 * Threads: RPC handlers (nng callbacks) only enqueue tasks, serve blocks and
 * start/stop receivers; `slots` slot threads run tasks one at a time each
 * and queue their packed status for one reporter thread, which sends the
 * reports to the master in order (with retries).
 */
#ifndef SLUICE_WORKER_WENGINE_H
#define SLUICE_WORKER_WENGINE_H

#include "blockmgr.h"
#include "kafka_io.h"
#include "peers.h"
#include "receivers.h"
#include "worker.h"
#include "job.pb-c.h"

/* A job's code and graph, loaded once per worker. */
typedef struct wjob {
	uint64_t id;
	char hash[65];
	void *dl;
	Sluice__FetchLibraryReply *info; /* graph, conf, name */
	sl_conf *conf;
	void **fns; /* per node: resolved user function */
	/* its state partitions on this worker (statestore.h, stateops.h) */
	struct state_store *states;
	struct wjob *next;
} wjob;

typedef struct wengine wengine;

int wengine_new(worker *w, wengine **out, char *err, size_t errlen);
/* Stops slots and receivers, frees everything. */
void wengine_free(wengine *we);
/* Handles engine messages; SL_EUNKNOWN_TYPE for others. */
int wengine_handle(wengine *we, const envelope *req, rpc_reply *rep);
void wengine_stats(wengine *we, uint32_t *slots_busy, uint64_t *mem_used,
                   uint32_t *blocks);
/* Ids of the tasks accepted and not yet reported (queued or running), in
 * *ids (caller frees with sl_free); returns how many. Thread-safe. */
size_t wengine_tasks(wengine *we, uint64_t **ids);

/* jobcache.c: the loaded job for a task, fetching and loading it on first
 * use (thread-safe). */
int jobcache_get(wengine *we, uint64_t job_id, const char *hash, wjob **out, char *err,
                 size_t errlen);
void jobcache_free(wengine *we);
/* Frees the in-memory state partitions of job job_id (those no task holds);
 * returns how many. */
size_t jobcache_drop_state(wengine *we, uint64_t job_id);

/* Accessors the task runner (ops.c) needs. */
worker *wengine_worker(wengine *we);
blockmgr *wengine_blocks(wengine *we);
receivers *wengine_receivers(wengine *we);
peer_pool *wengine_peers(wengine *we);
kafka_io *wengine_kafka(wengine *we);

/* ops.c: runs one task; fills st (state, error, counters, lines, buckets). */
void ops_run_task(wengine *we, wjob *j, const Sluice__TaskSpec *ts,
                  Sluice__TaskStatus *st);
/* Frees what ops_run_task allocated inside st. */
void ops_status_free(Sluice__TaskStatus *st);

#endif
