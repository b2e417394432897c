/*
 * Cluster membership: the master's registry of workers.
 *
 * A worker registers (getting a stable id "worker-N" the first time and
 * keeping it afterwards), then heartbeats every sluice.heartbeat.interval. A
 * worker not heard from for sluice.worker.timeout (default three intervals)
 * is marked LOST; the engine reschedules its work. Ids and addresses are
 * persisted in the state store, so after a master restart every known
 * worker is listed as LOST until it heartbeats, is told to re-register, and
 * comes back ALIVE under the same id.
 *
 * A worker process is told apart by its boot id (random per process). A
 * registration under a known id with another boot id is a new process: the
 * old one is gone with its running tasks, receivers and in-memory blocks, so
 * the engine hears the worker was lost (event lost = true) before it hears it
 * registered (lost = false), even when the restart was quicker than
 * sluice.worker.timeout. Boot ids are persisted so that this also holds
 * across a master restart.
 *
 * All functions are called with the master's state lock held.
 */
#ifndef SLUICE_MASTER_CLUSTER_H
#define SLUICE_MASTER_CLUSTER_H

#include "rpc.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum { WORKER_ALIVE, WORKER_LOST } worker_state;

typedef struct {
	char id[32];
	char host[64];
	char rpc_url[256];
	uint32_t slots;
	uint64_t memory;
	worker_state state;
	int64_t registered_ms;
	int64_t last_hb_wall; /* ms since epoch, for display */
	int64_t last_hb_mono; /* for the liveness timeout */
	int64_t prev_hb_mono; /* the heartbeat (or registration) before that */
	uint32_t slots_busy;  /* as reported by the worker */
	uint64_t mem_used;
	double cpu_load;
	rpc_client *client;   /* master -> worker calls; NULL until registered */
	uint32_t incarnation; /* bumped on each (re-)registration */
	uint64_t boot_id;     /* of the process registered under this id */
	int64_t pid;
	bool awaited; /* known from before the master's start, not registered since */
} worker_entry;

typedef struct cluster cluster;

/* Called (under the lock) when a worker becomes LOST or re-registers. */
typedef void (*cluster_event_fn)(void *arg, worker_entry *w, bool lost);

int cluster_new(cluster **out, store *db, const rpc_opts *client_opts, int64_t hb_ms,
                int64_t timeout_ms, char *err, size_t errlen);
void cluster_free(cluster *c);
/* Closes every master -> worker client (at shutdown, before cluster_free);
 * their pending calls complete with SL_ECLOSED. */
void cluster_close_clients(cluster *c);
void cluster_on_event(cluster *c, cluster_event_fn fn, void *arg);

/* Called (under the lock) on each heartbeat of an ALIVE worker with the ids
 * of the tasks its process has accepted and not yet reported the end of.
 * Every task that process accepted before w->prev_hb_mono is in the list
 * unless it ended: the heartbeat was built after the worker saw the reply to
 * the previous one. */
typedef void (*cluster_hb_fn)(void *arg, worker_entry *w, const uint64_t *tasks,
                              size_t ntasks);
void cluster_on_heartbeat(cluster *c, cluster_hb_fn fn, void *arg);

/* RPC handlers (see msgtypes.h for the payloads). */
int cluster_handle_register(cluster *c, const envelope *req, rpc_reply *rep);
int cluster_handle_heartbeat(cluster *c, const envelope *req, rpc_reply *rep);
int cluster_handle_list(cluster *c, const envelope *req, rpc_reply *rep);

/* Marks workers LOST whose last heartbeat is older than the timeout, and
 * reports as lost (once) the workers known before the master's start that
 * have not registered again within the timeout of the first call (made
 * once the master listens). */
void cluster_check_liveness(cluster *c, int64_t now_mono);

/* Iteration over workers (index-stable until the next registration). */
size_t cluster_count(const cluster *c);
int64_t cluster_timeout_ms(const cluster *c);
worker_entry *cluster_at(cluster *c, size_t i);
worker_entry *cluster_find(cluster *c, const char *id);

#endif
