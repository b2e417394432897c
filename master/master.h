/*
 * sluice-master: the cluster manager and the driver of every job.
 *
 * Threads: nng's callback threads run RPC handlers; one cron thread ticks
 * every MASTER_TICK_MS for liveness checks and the job generators. All
 * master state is guarded by one mutex (`lock`); handlers and the cron tick
 * hold it briefly and never call another process while holding it
 * (outgoing calls are asynchronous, their completions take the lock again).
 */
#ifndef SLUICE_MASTER_H
#define SLUICE_MASTER_H

#include "cluster.h"
#include "config.h"
#include "envelope.h"
#include "rpc.h"
#include "store.h"

#include <pthread.h>

#define MASTER_TICK_MS 50

typedef struct master {
	sl_conf *conf;
	auth_key key;
	rpc_opts rpc;
	rpc_server *server;
	store *db;
	cluster *cl;
	pthread_mutex_t lock;
	/* Wakes the cron thread before its next tick (main.c: master_wake):
	 * signalled with the lock held, on CLOCK_MONOTONIC. */
	pthread_cond_t wake;
	bool wake_pending;
	volatile int stopping;
	char state_dir[1024];
	int lock_fd; /* holds the flock on STATE/master.lock */
	char url[300];
	int port;
	struct engine *engine; /* jobs; NULL until the engine is started */
	struct alerts *alerts; /* job alerts (alerts.h); NULL until started */
} master;

#endif
