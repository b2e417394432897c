/*
 * sluice-worker: task slots, block manager, receivers, shuffle service.
 *
 * Threads: nng callback threads serve RPC (commands from the master, block
 * and shuffle fetches from peers); the main thread runs the membership loop
 * (register, heartbeat, re-register); task slots are a fixed pool of threads
 * (added by the engine). Worker state shared between them is guarded by
 * `lock` unless a component documents its own locking.
 */
#ifndef SLUICE_WORKER_H
#define SLUICE_WORKER_H

#include "config.h"
#include "envelope.h"
#include "rpc.h"

#include <pthread.h>
#include <stdint.h>

typedef struct worker {
	sl_conf *conf;
	auth_key key;
	rpc_opts rpc;
	rpc_server *server;
	rpc_client *master;
	pthread_mutex_t lock;
	volatile int stopping;
	char id[32];       /* "worker-N" once registered; kept across restarts */
	char identity[40]; /* sender name: id, or "worker" before registration */
	char master_url[300];
	char url[300]; /* our advertised RPC URL */
	char host[64];
	char dir[1024]; /* work directory */
	int port;
	uint32_t slots;
	uint64_t memory;
	int64_t hb_ms;
	uint64_t boot_id;       /* random per process: tells the master we are new */
	struct wengine *engine; /* task slots, blocks, receivers */
} worker;

#endif
