/*
 * sluice-worker entry point and membership loop.
 *
 * The worker registers with the master (retrying until it answers), then
 * heartbeats every interval. When the master says it does not know us (it
 * restarted, or had marked us LOST) we register again with the same id. The
 * id is saved in the work directory so a restarted worker process keeps it.
 */
#include "alloc.h"
#include "clock.h"
#include "log.h"
#include "logq.h"
#include "metrics.h"
#include "msgtypes.h"
#include "proc.h"
#include "sluice/err.h"
#include "wal.h"
#include "wengine.h"
#include "worker.h"
#include "cluster.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: sluice-worker --master URL [--host ADDR] [--port N] [--slots N]\n"
	    "                     [--memory SIZE] [--work-dir DIR] [--url URL]\n"
	    "                     [--properties-file F] [--conf key=value]...\n"
	    "Runs a Sluice worker that registers with the master at URL.\n"
	    "  --host ADDR     address to listen on and advertise (sluice.worker.host)\n"
	    "  --port N        RPC port, 0 = any free (sluice.worker.port)\n"
	    "  --slots N       task slots (sluice.worker.slots)\n"
	    "  --memory SIZE   memory budget, e.g. 1g (sluice.worker.memory)\n"
	    "  --work-dir DIR  blocks, spill, WAL, job libraries (sluice.worker.dir)\n"
	    "  --url URL       full listen URL, e.g. tls+tcp://10.0.0.2:0\n");
}

static int worker_handle(void *arg, const envelope *req, rpc_reply *rep)
{
	worker *w = arg;
	switch (req->type) {
	case MSG_PING: {
		Sluice__Pong p = SLUICE__PONG__INIT;
		p.role = "worker";
		p.version = SLUICE_PROTOCOL_VERSION;
		rpc_reply_set(rep, MSG_PONG, &p);
		return SL_OK;
	}
	case MSG_LOG_QUERY:
		return logq_handle(req, rep); /* sluice logs: this worker's lines */
	default: {
		int rv =
		    w->engine ? wengine_handle(w->engine, req, rep) : SL_EUNKNOWN_TYPE;
		if (rv == SL_EUNKNOWN_TYPE && rep->errmsg[0] == '\0') {
			log_warn("refused %s from %s (%s): not served by a worker",
			         msg_type_name(req->type), req->sender, rep->peer);
			return rpc_reply_error(rep, SL_EUNKNOWN_TYPE,
			                       "worker does not serve %s",
			                       msg_type_name(req->type));
		}
		return rv;
	}
	}
}

static int parse_args(worker *w, int argc, char **argv, char *err, size_t errlen)
{
	static const char *const opts[][2] = {
	    {"--host", "sluice.worker.host"},    {"--port", "sluice.worker.port"},
	    {"--slots", "sluice.worker.slots"},  {"--memory", "sluice.worker.memory"},
	    {"--work-dir", "sluice.worker.dir"}, {"--master", "sluice.master.url"},
	};
	for (int i = 1; i < argc; i++) {
		int rv = proc_conf_arg(w->conf, argc, argv, &i, err, errlen);
		if (rv < 0)
			return rv;
		if (rv == 1)
			continue;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
			snprintf(w->url, sizeof(w->url), "%s", argv[++i]);
			continue;
		}
		const char *key = NULL;
		for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
			if (strcmp(argv[i], opts[k][0]) == 0)
				key = opts[k][1];
		if (key == NULL || i + 1 >= argc) {
			snprintf(err, errlen, "unknown or incomplete option '%s'",
			         argv[i]);
			return SL_EINVAL;
		}
		if (conf_set(w->conf, key, argv[++i], err, errlen) != SL_OK)
			return SL_ECONFIG;
	}
	return SL_OK;
}

static void id_file(worker *w, char *path, size_t len)
{
	snprintf(path, len, "%s/worker.id", w->dir);
}

static void id_load(worker *w)
{
	char path[1100];
	id_file(w, path, sizeof(path));
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	if (fgets(w->id, sizeof(w->id), f) != NULL)
		w->id[strcspn(w->id, "\r\n")] = '\0';
	fclose(f);
}

static void id_save(worker *w)
{
	char path[1100], tmp[1200];
	id_file(w, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f == NULL)
		return;
	fprintf(f, "%s\n", w->id);
	fclose(f);
	rename(tmp, path);
}

static int worker_open(worker *w, char *err, size_t errlen)
{
	int rv;
	snprintf(w->dir, sizeof(w->dir), "%s",
	         conf_get_str(w->conf, "sluice.worker.dir"));
	snprintf(w->host, sizeof(w->host), "%s",
	         conf_get_str(w->conf, "sluice.worker.host"));
	snprintf(w->master_url, sizeof(w->master_url), "%s",
	         conf_get_str(w->conf, "sluice.master.url"));
	w->slots = (uint32_t)conf_get_int(w->conf, "sluice.worker.slots");
	w->memory = (uint64_t)conf_get_bytes(w->conf, "sluice.worker.memory");
	w->hb_ms = conf_get_duration_ms(w->conf, "sluice.heartbeat.interval");
	if ((rv = proc_mkdirs(w->dir, err, errlen)) != SL_OK ||
	    (rv = proc_load_secret(w->conf, NULL, false, &w->key, err, errlen)) != SL_OK)
		return rv;
	id_load(w);
	if (getrandom(&w->boot_id, sizeof(w->boot_id), 0) != sizeof(w->boot_id))
		w->boot_id = (uint64_t)clock_wall_ms() << 20 ^ (uint64_t)getpid();
	snprintf(w->identity, sizeof(w->identity), "%s", w->id[0] ? w->id : "worker");
	proc_rpc_opts(w->conf, &w->key, w->identity, &w->rpc);
	if (w->url[0] == '\0')
		snprintf(w->url, sizeof(w->url), "tcp://%s:%lld", w->host,
		         (long long)conf_get_int(w->conf, "sluice.worker.port"));
	if ((rv = rpc_server_start(&w->server, w->url, &w->rpc, worker_handle, w,
	                           &w->port, err, errlen)) != SL_OK)
		return rv;
	char *colon = strrchr(w->url, ':');
	if (colon != NULL && w->port > 0)
		snprintf(colon + 1, sizeof(w->url) - (size_t)(colon + 1 - w->url), "%d",
		         w->port);
	if ((rv = rpc_client_open(&w->master, w->master_url, &w->rpc, err, errlen)) !=
	    SL_OK)
		return rv;
	if ((rv = wengine_new(w, &w->engine, err, errlen)) != SL_OK)
		return rv;
	/* before registering: the master may re-add us as a holder at once */
	wal_replay(wengine_blocks(w->engine), w->dir);
	return SL_OK;
}

static int worker_register(worker *w)
{
	char err[512];
	envelope rep;
	Sluice__RegisterWorker r = SLUICE__REGISTER_WORKER__INIT;
	r.worker_id = w->id;
	r.host = w->host;
	r.rpc_url = w->url;
	r.slots = w->slots;
	r.memory_bytes = w->memory;
	r.pid = getpid();
	r.boot_id = w->boot_id;
	int rv = rpc_call_pb(w->master, MSG_REGISTER_WORKER, &r, &rep, err, sizeof(err));
	if (rv != SL_OK) {
		log_warn("registration with %s failed: %s", w->master_url, err);
		return rv;
	}
	Sluice__RegisterWorkerReply *rr =
	    sluice__register_worker_reply__unpack(NULL, rep.payload_len, rep.payload);
	envelope_release(&rep);
	if (rr == NULL || rr->worker_id == NULL || rr->worker_id[0] == '\0') {
		log_warn("malformed registration reply from %s", w->master_url);
		if (rr)
			sluice__register_worker_reply__free_unpacked(rr, NULL);
		return SL_EPROTO;
	}
	pthread_mutex_lock(&w->lock);
	snprintf(w->id, sizeof(w->id), "%s", rr->worker_id);
	snprintf(w->identity, sizeof(w->identity), "%s", rr->worker_id);
	if (rr->heartbeat_interval_ms > 0)
		w->hb_ms = rr->heartbeat_interval_ms;
	pthread_mutex_unlock(&w->lock);
	sluice__register_worker_reply__free_unpacked(rr, NULL);
	id_save(w);
	log_info("registered with %s as %s (%s, %u slots)", w->master_url, w->id, w->url,
	         w->slots);
	return SL_OK;
}

/* Returns 1 when the master asks us to register again. */
static int worker_heartbeat(worker *w)
{
	char err[512];
	envelope rep;
	Sluice__Heartbeat h = SLUICE__HEARTBEAT__INIT;
	double load[1] = {0};
	h.worker_id = w->id;
	if (getloadavg(load, 1) == 1)
		h.cpu_load = load[0];
	uint64_t *tasks = NULL;
	if (w->engine != NULL) {
		wengine_stats(w->engine, &h.slots_busy, &h.memory_used_bytes, &h.blocks);
		h.n_tasks = wengine_tasks(w->engine, &tasks);
		h.tasks = tasks;
	}
	int rv = rpc_call_pb(w->master, MSG_HEARTBEAT, &h, &rep, err, sizeof(err));
	sl_free(tasks);
	if (rv != SL_OK) {
		log_warn("heartbeat to %s failed: %s", w->master_url, err);
		return 0;
	}
	Sluice__HeartbeatReply *hr =
	    sluice__heartbeat_reply__unpack(NULL, rep.payload_len, rep.payload);
	envelope_release(&rep);
	int again = hr != NULL && hr->reregister;
	if (hr)
		sluice__heartbeat_reply__free_unpacked(hr, NULL);
	return again;
}

static void worker_loop(worker *w)
{
	bool registered = false;
	while (!w->stopping) {
		if (!registered) {
			registered = worker_register(w) == SL_OK;
			if (!registered) {
				clock_sleep_ms(500);
				continue;
			}
		} else if (worker_heartbeat(w)) {
			log_info("master asked %s to register again", w->id);
			registered = false;
			continue;
		}
		for (int64_t t = 0; t < w->hb_ms && !w->stopping; t += 50)
			clock_sleep_ms(50);
	}
}

int main(int argc, char **argv)
{
	worker w;
	wmetrics *metrics = NULL;
	char err[1024];
	int rv;
#ifdef __GLIBC__
	/* Block buffers (up to a few MiB, made and freed all the time by
	 * receivers, tasks and fetches) must go back to the system when freed.
	 * glibc's default raises its mmap threshold to the largest chunk freed,
	 * after which such buffers come from the per-thread heaps and freed
	 * ones stay resident there: the process grows past its memory budget
	 * with the volume of data seen. A fixed threshold keeps them mmapped. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.lock, NULL);
	w.conf = conf_new(CONF_STRICT);
	if (parse_args(&w, argc, argv, err, sizeof(err)) != SL_OK ||
	    proc_check_url(w.conf, "--url", w.url, err, sizeof(err)) != SL_OK ||
	    proc_check_url(w.conf, "--master", conf_get_str(w.conf, "sluice.master.url"),
	                   err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "sluice-worker: %s\n", err);
		usage(stderr);
		conf_free(w.conf);
		return 2;
	}
	proc_signals(&w.stopping);
	if ((rv = proc_log_setup(w.conf, "worker", err, sizeof(err))) != SL_OK ||
	    (rv = worker_open(&w, err, sizeof(err))) != SL_OK ||
	    (rv = wmetrics_start(&w, &metrics, err, sizeof(err))) != SL_OK) {
		fprintf(stderr, "sluice-worker: %s\n", err);
		log_error("%s", err);
		rv = 1;
		goto out;
	}
	log_info("worker listening on %s, master %s", w.url, w.master_url);
	worker_loop(&w);
	log_info("worker %s stopping", w.id);
	rv = 0;
out:
	wmetrics_stop(metrics);
	rpc_server_close(w.server);
	wengine_free(w.engine);
	rpc_client_close(w.master);
	conf_free(w.conf);
	return rv;
}
