/*
 * sluice-fake-worker: a worker at the wire level that accepts tasks and
 * loses them, to test the master's task timeout (issue 8: a task RUNNING on
 * a worker whose heartbeat no longer lists it is re-queued).
 *
 *   sluice-fake-worker MASTER_URL [--slots N] [--hold N] [--seconds S]
 *
 * It registers with the master as a worker (the cluster secret from
 * $SLUICE_SECRET_FILE, as a real worker), serves MSG_LAUNCH_TASK by
 * accepting every task and never running it, and heartbeats at the interval
 * the master gives. A task is listed in the next --hold heartbeats (default
 * 2: the master sees it running there), then no more, as a process that
 * lost it would; its end is never reported. Each task it drops is printed
 * as "dropped task ID" on stdout. Other master calls (remove blocks, set
 * rate...) are answered with an error. Exits after --seconds (default 60)
 * or on SIGTERM; 2 on a usage or set-up error.
 */
#include "alloc.h"
#include "clock.h"
#include "config.h"
#include "envelope.h"
#include "msgtypes.h"
#include "proc.h"
#include "rpc.h"
#include "sluice/err.h"
#include "cluster.pb-c.h"
#include "job.pb-c.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_TASKS 4096

typedef struct {
	uint64_t id;
	int heartbeats; /* listed in this many heartbeats so far */
} held_task;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static held_task tasks[MAX_TASKS];
static size_t ntasks;
static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static int fake_handle(void *arg, const envelope *req, rpc_reply *rep)
{
	(void)arg;
	if (req->type != MSG_LAUNCH_TASK)
		return rpc_reply_error(rep, SL_EUNKNOWN_TYPE,
		                       "fake worker: type %u not served", req->type);
	Sluice__LaunchTask *lt =
	    sluice__launch_task__unpack(NULL, req->payload_len, req->payload);
	if (lt == NULL || lt->task == NULL) {
		if (lt != NULL)
			sluice__launch_task__free_unpacked(lt, NULL);
		return rpc_reply_error(rep, SL_EPROTO, "malformed LaunchTask");
	}
	pthread_mutex_lock(&mu);
	if (ntasks < MAX_TASKS)
		tasks[ntasks++] = (held_task){.id = lt->task->task_id};
	pthread_mutex_unlock(&mu);
	sluice__launch_task__free_unpacked(lt, NULL);
	Sluice__LaunchTaskReply out = SLUICE__LAUNCH_TASK_REPLY__INIT;
	out.accepted = 1;
	rpc_reply_set(rep, MSG_LAUNCH_TASK_REPLY, &out);
	return SL_OK;
}

/* The ids to list in this heartbeat; tasks listed --hold times are dropped. */
static size_t listed_ids(int hold, uint64_t *ids)
{
	size_t n = 0, k = 0;
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < ntasks; i++) {
		if (tasks[i].heartbeats++ < hold) {
			ids[n++] = tasks[i].id;
			tasks[k++] = tasks[i];
		} else {
			printf("dropped task %llu\n", (unsigned long long)tasks[i].id);
			fflush(stdout);
		}
	}
	ntasks = k;
	pthread_mutex_unlock(&mu);
	return n;
}

static int fake_register(rpc_client *m, const char *url, uint32_t slots, char id[64],
                         int64_t *hb_ms)
{
	char err[512];
	envelope rep;
	Sluice__RegisterWorker r = SLUICE__REGISTER_WORKER__INIT;
	r.worker_id = id;
	r.host = "127.0.0.1";
	r.rpc_url = (char *)url;
	r.slots = slots;
	r.memory_bytes = 256u << 20;
	r.pid = getpid();
	r.boot_id = ((uint64_t)clock_wall_ms() << 20) ^ (uint64_t)getpid();
	if (rpc_call_pb(m, MSG_REGISTER_WORKER, &r, &rep, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "sluice-fake-worker: register: %s\n", err);
		return SL_ETRANSPORT;
	}
	Sluice__RegisterWorkerReply *rr =
	    sluice__register_worker_reply__unpack(NULL, rep.payload_len, rep.payload);
	envelope_release(&rep);
	if (rr == NULL || rr->worker_id == NULL || rr->worker_id[0] == '\0') {
		if (rr != NULL)
			sluice__register_worker_reply__free_unpacked(rr, NULL);
		fprintf(stderr, "sluice-fake-worker: malformed registration reply\n");
		return SL_EPROTO;
	}
	snprintf(id, 64, "%s", rr->worker_id);
	if (rr->heartbeat_interval_ms > 0)
		*hb_ms = rr->heartbeat_interval_ms;
	sluice__register_worker_reply__free_unpacked(rr, NULL);
	printf("registered as %s\n", id);
	fflush(stdout);
	return SL_OK;
}

static void fake_heartbeat(rpc_client *m, const char *id, int hold)
{
	static uint64_t ids[MAX_TASKS];
	char err[512];
	envelope rep;
	Sluice__Heartbeat h = SLUICE__HEARTBEAT__INIT;
	h.worker_id = (char *)id;
	h.n_tasks = listed_ids(hold, ids);
	h.tasks = ids;
	h.slots_busy = (uint32_t)h.n_tasks;
	if (rpc_call_pb(m, MSG_HEARTBEAT, &h, &rep, err, sizeof(err)) == SL_OK)
		envelope_release(&rep);
}

static int usage(void)
{
	fprintf(stderr, "usage: sluice-fake-worker MASTER_URL [--slots N] [--hold N] "
	                "[--seconds S]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *master_url = NULL;
	int slots = 1, hold = 2, seconds = 60;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--slots") == 0 && i + 1 < argc)
			slots = atoi(argv[++i]);
		else if (strcmp(argv[i], "--hold") == 0 && i + 1 < argc)
			hold = atoi(argv[++i]);
		else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc)
			seconds = atoi(argv[++i]);
		else if (argv[i][0] != '-' && master_url == NULL)
			master_url = argv[i];
		else
			return usage();
	}
	if (master_url == NULL || slots < 1 || hold < 0 || seconds < 1)
		return usage();
	char err[1024], url[300] = "tcp://127.0.0.1:0", id[64] = "";
	auth_key key;
	rpc_opts opts;
	rpc_server *srv = NULL;
	rpc_client *m = NULL;
	int port = 0, rv = 2;
	int64_t hb_ms = 1000;
	sl_conf *conf = conf_new(CONF_STRICT);
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	if (proc_load_secret(conf, NULL, false, &key, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "sluice-fake-worker: %s\n", err);
		goto out;
	}
	static char ident[64] = "worker"; /* our sender name; the id once registered */
	proc_rpc_opts(conf, &key, ident, &opts);
	opts.identity = ident;
	if (rpc_server_start(&srv, url, &opts, fake_handle, NULL, &port, err,
	                     sizeof(err)) != SL_OK ||
	    rpc_client_open(&m, master_url, &opts, err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "sluice-fake-worker: %s\n", err);
		goto out;
	}
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", port);
	if (fake_register(m, url, (uint32_t)slots, id, &hb_ms) != SL_OK)
		goto out;
	snprintf(ident, sizeof(ident), "%s", id); /* as a real worker does */
	int64_t end = clock_mono_ms() + (int64_t)seconds * 1000;
	while (!stopping && clock_mono_ms() < end) {
		clock_sleep_ms(hb_ms);
		fake_heartbeat(m, id, hold);
	}
	rv = 0;
out:
	if (srv != NULL)
		rpc_server_close(srv);
	if (m != NULL)
		rpc_client_close(m);
	conf_free(conf);
	return rv;
}
