/*
 * sluice-master entry point: parses the command line, opens the state store,
 * loads or creates the cluster secret, serves cluster RPC and runs the cron
 * loop until SIGINT/SIGTERM.
 */
#include "alerts.h"
#include "alloc.h"
#include "clock.h"
#include "engine.h"
#include "kafka_src.h"
#include "log.h"
#include "master.h"
#include "msgtypes.h"
#include "proc.h"
#include "rest.h"
#include "sluice/err.h"
#include "cluster.pb-c.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: sluice-master [--state-dir DIR] [--host ADDR] [--port N]\n"
	       "                     [--properties-file F] [--conf key=value]...\n"
	       "Runs the Sluice master: cluster manager and job driver.\n"
	       "  --state-dir DIR   SQLite state and secret (sluice.state.dir)\n"
	       "  --host ADDR       listen address (sluice.master.host)\n"
	       "  --port N          cluster RPC port, 0 = any free (sluice.master.port)\n"
	       "  --url URL         full listen URL, e.g. tls+tcp://10.0.0.1:7077\n"
	       "The chosen URL is written to DIR/master.url once listening.\n");
}

static int master_handle(void *arg, const envelope *req, rpc_reply *rep)
{
	master *m = arg;
	int rv;
	if (req->type == MSG_JOB_QUERY)
		return rest_query(m, req, rep); /* takes the lock itself */
	if (req->type == MSG_API_CALL)
		return rest_call(m, req, rep); /* takes the lock itself */
	pthread_mutex_lock(&m->lock);
	switch (req->type) {
	case MSG_PING: {
		Sluice__Pong p = SLUICE__PONG__INIT;
		p.role = "master";
		p.version = SLUICE_PROTOCOL_VERSION;
		rpc_reply_set(rep, MSG_PONG, &p);
		rv = SL_OK;
		break;
	}
	case MSG_REGISTER_WORKER:
		rv = cluster_handle_register(m->cl, req, rep);
		break;
	case MSG_HEARTBEAT:
		rv = cluster_handle_heartbeat(m->cl, req, rep);
		break;
	case MSG_LIST_WORKERS:
		rv = cluster_handle_list(m->cl, req, rep);
		break;
	default:
		rv = engine_handle(m->engine, req, rep);
		if (rv == SL_EUNKNOWN_TYPE && rep->errmsg[0] == '\0') {
			rv = rpc_reply_error(rep, SL_EUNKNOWN_TYPE,
			                     "master does not serve %s",
			                     msg_type_name(req->type));
			log_warn("refused %s from %s (%s): not served by the master",
			         msg_type_name(req->type), req->sender, rep->peer);
		}
	}
	pthread_mutex_unlock(&m->lock);
	return rv;
}

static int parse_args(master *m, int argc, char **argv, char *err, size_t errlen)
{
	for (int i = 1; i < argc; i++) {
		int rv = proc_conf_arg(m->conf, argc, argv, &i, err, errlen);
		if (rv < 0)
			return rv;
		if (rv == 1)
			continue;
		const char *a = argv[i];
		const char *key = strcmp(a, "--state-dir") == 0 ? "sluice.state.dir"
		                  : strcmp(a, "--host") == 0    ? "sluice.master.host"
		                  : strcmp(a, "--port") == 0    ? "sluice.master.port"
		                                                : NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--url") == 0 && i + 1 < argc) {
			snprintf(m->url, sizeof(m->url), "%s", argv[++i]);
			continue;
		}
		if (key == NULL || i + 1 >= argc) {
			snprintf(err, errlen, "unknown or incomplete option '%s'", a);
			return SL_EINVAL;
		}
		if (conf_set(m->conf, key, argv[++i], err, errlen) != SL_OK)
			return SL_ECONFIG;
	}
	return SL_OK;
}

static void master_worker_event(void *arg, worker_entry *w, bool lost)
{
	master *m = arg;
	if (m->engine != NULL)
		engine_worker_event(m->engine, w, lost);
}

/* One master per state directory: two would both write master.db and
 * master.url and their job lists would diverge. An flock on STATE/master.lock
 * is held for the life of the process (the kernel drops it when the process
 * dies, even by kill -9); the file names the holder's pid for the message. */
static void master_worker_heartbeat(void *arg, worker_entry *w, const uint64_t *tasks,
                                    size_t ntasks)
{
	master *m = arg;
	if (m->engine != NULL)
		engine_worker_tasks(m->engine, w, tasks, ntasks);
}

static int master_lock_state(master *m, char *err, size_t errlen)
{
	char path[1200], pid[32] = "";
	snprintf(path, sizeof(path), "%s/master.lock", m->state_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %.900s: %s", path, strerror(errno));
		return SL_EIO;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\r\n")] = '\0';
		snprintf(
		    err, errlen,
		    "state directory %.900s is in use by another sluice-master (pid %s); "
		    "stop it or choose another --state-dir",
		    m->state_dir, pid[0] ? pid : "unknown");
		close(fd);
		return SL_EEXIST;
	}
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
		log_warn("cannot write our pid to %s: %s", path, strerror(errno));
	m->lock_fd = fd;
	return SL_OK;
}

static int master_open(master *m, char *err, size_t errlen)
{
	char path[1200];
	int rv;
	snprintf(m->state_dir, sizeof(m->state_dir), "%s",
	         conf_get_str(m->conf, "sluice.state.dir"));
	if ((rv = proc_mkdirs(m->state_dir, err, errlen)) != SL_OK ||
	    (rv = master_lock_state(m, err, errlen)) != SL_OK)
		return rv;
	snprintf(path, sizeof(path), "%s/secret", m->state_dir);
	if ((rv = proc_load_secret(m->conf, path, true, &m->key, err, errlen)) != SL_OK)
		return rv;
	proc_rpc_opts(m->conf, &m->key, "master", &m->rpc);
	snprintf(path, sizeof(path), "%s/master.db", m->state_dir);
	if ((rv = store_open(path, &m->db, err, errlen)) != SL_OK)
		return rv;
	int64_t hb = conf_get_duration_ms(m->conf, "sluice.heartbeat.interval");
	int64_t timeout = conf_is_set(m->conf, "sluice.worker.timeout")
	                      ? conf_get_duration_ms(m->conf, "sluice.worker.timeout")
	                      : 3 * hb;
	if ((rv = cluster_new(&m->cl, m->db, &m->rpc, hb, timeout, err, errlen)) != SL_OK)
		return rv;
	cluster_on_event(m->cl, master_worker_event, m);
	cluster_on_heartbeat(m->cl, master_worker_heartbeat, m);
	if ((rv = alerts_new(path, m->conf, &m->alerts, err, errlen)) != SL_OK)
		return rv;
	return engine_new(m, &m->engine, err, errlen);
}

static int master_listen(master *m, char *err, size_t errlen)
{
	if (m->url[0] == '\0')
		snprintf(m->url, sizeof(m->url), "tcp://%s:%lld",
		         conf_get_str(m->conf, "sluice.master.host"),
		         (long long)conf_get_int(m->conf, "sluice.master.port"));
	int rv = rpc_server_start(&m->server, m->url, &m->rpc, master_handle, m, &m->port,
	                          err, errlen);
	if (rv != SL_OK)
		return rv;
	/* Replace port 0 by the bound port in the advertised URL. */
	char *colon = strrchr(m->url, ':');
	if (colon != NULL && m->port > 0)
		snprintf(colon + 1, sizeof(m->url) - (size_t)(colon + 1 - m->url), "%d",
		         m->port);
	char path[1200], tmp[1300];
	snprintf(path, sizeof(path), "%s/master.url", m->state_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (f != NULL) {
		fprintf(f, "%s\n", m->url);
		fclose(f);
		rename(tmp, path);
	}
	log_info("master listening on %s (state in %s)", m->url, m->state_dir);
	return SL_OK;
}

/* Wakes the cron thread now (call with the lock held). */
static void master_wake(master *m)
{
	m->wake_pending = true;
	pthread_cond_signal(&m->wake);
}

/* Milliseconds until the earliest next batch, capped at cap (0: due). */
static int64_t master_until_batch(master *m, int64_t cap)
{
	int64_t due = engine_next_batch_wall(m->engine), now = clock_wall_ms();
	if (due <= now)
		return 0;
	return due - now < cap ? due - now : cap;
}

/* Waits on m->wake for up to ms (lock held; returns with it held). */
static void master_wait(master *m, int64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	int64_t ns = ts.tv_nsec + ms * 1000000;
	ts.tv_sec += ns / 1000000000;
	ts.tv_nsec = ns % 1000000000;
	while (!m->wake_pending && !m->stopping &&
	       pthread_cond_timedwait(&m->wake, &m->lock, &ts) == 0)
		;
	m->wake_pending = false;
}

/* Kafka I/O of the tick, done without the lock (kafka_src.h); the cron
 * thread is woken when a plan was made (the batch may be generated). */
static void master_kafka_io(master *m)
{
	ksrc *due[64], *all[256];
	size_t nall = 0;
	pthread_mutex_lock(&m->lock);
	size_t n = engine_kafka_due(m->engine, clock_wall_ms(), due, 64, all, 256, &nall);
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; i < n; i++)
		kafka_plan(due[i]);
	pthread_mutex_lock(&m->lock);
	if (n > 0)
		master_wake(m);
	pthread_mutex_unlock(&m->lock);
	for (size_t i = 0; i < nall; i++)
		kafka_commit_pending(all[i]);
}

/* Kafka planning and offset commits talk to brokers and may block for
 * seconds (an unreachable broker), so they run on their own thread: the cron
 * thread keeps checking liveness and driving every other job meanwhile. */
static void *master_kafka_thread(void *arg)
{
	master *m = arg;
	while (!m->stopping) {
		master_kafka_io(m);
		/* until the next batch is due (its plan is needed then), at most
		 * half a tick; a due batch whose plan is made waits for the
		 * generator, so a full half tick then */
		pthread_mutex_lock(&m->lock);
		int64_t ms = master_until_batch(m, MASTER_TICK_MS / 2);
		pthread_mutex_unlock(&m->lock);
		clock_sleep_ms(ms > 0 ? ms : MASTER_TICK_MS / 2);
	}
	return NULL;
}

/* The driver's clock: a tick every MASTER_TICK_MS (liveness, receivers,
 * lifecycle), and at once when a batch falls due or a Kafka plan is ready,
 * so a batch is generated at its time rather than at the next tick. Task
 * reports and checkpoint commits drive the engine from their own threads
 * (engine_kick); they need no tick. */
static void master_cron(master *m)
{
	pthread_t kafka;
	pthread_create(&kafka, NULL, master_kafka_thread, m);
	int64_t stuck = INT64_MIN; /* a due batch the last tick could not make */
	pthread_mutex_lock(&m->lock);
	while (!m->stopping) {
		int64_t ms = master_until_batch(m, MASTER_TICK_MS);
		if (ms == 0 && engine_next_batch_wall(m->engine) == stuck)
			ms = MASTER_TICK_MS; /* its Kafka plan wakes us, else a tick */
		if (ms > 0)
			master_wait(m, ms);
		cluster_check_liveness(m->cl, clock_mono_ms());
		engine_tick(m->engine);
		int64_t due = engine_next_batch_wall(m->engine);
		stuck = due <= clock_wall_ms() ? due : INT64_MIN;
	}
	pthread_mutex_unlock(&m->lock);
	pthread_join(kafka, NULL);
}

int main(int argc, char **argv)
{
	master m;
	rest *api = NULL;
	char err[1024];
	int rv;
	memset(&m, 0, sizeof(m));
	m.lock_fd = -1;
	pthread_mutex_init(&m.lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m.wake, &ca);
	pthread_condattr_destroy(&ca);
	m.conf = conf_new(CONF_STRICT);
	if ((rv = parse_args(&m, argc, argv, err, sizeof(err))) != SL_OK ||
	    (rv = proc_check_url(m.conf, "--url", m.url, err, sizeof(err))) != SL_OK) {
		fprintf(stderr, "sluice-master: %s\n", err);
		usage(stderr);
		conf_free(m.conf);
		return 2;
	}
	proc_signals(&m.stopping);
	if ((rv = proc_log_setup(m.conf, "master", err, sizeof(err))) != SL_OK ||
	    (rv = master_open(&m, err, sizeof(err))) != SL_OK ||
	    (rv = master_listen(&m, err, sizeof(err))) != SL_OK) {
		fprintf(stderr, "sluice-master: %s\n", err);
		log_error("%s", err);
		rv = 1;
		goto out;
	}
	/* The API is an addition to the cluster RPC: a master whose HTTP port
	 * is taken still runs its jobs, and says why there is no API. */
	if (rest_start(&m, &api, err, sizeof(err)) != SL_OK)
		log_error("no REST API or /metrics: %s", err);
	master_cron(&m);
	log_info("master stopping");
	rv = 0;
out:
	rest_stop(api);
	rpc_server_close(m.server);
	if (m.cl != NULL) {
		pthread_mutex_lock(&m.lock);
		cluster_close_clients(m.cl);
		pthread_mutex_unlock(&m.lock);
	}
	/* Completions of calls to workers take the lock and touch the engine. */
	for (int i = 0; i < 100 && rpc_async_inflight() > 0; i++)
		clock_sleep_ms(20);
	engine_stop(m.engine);
	engine_free(m.engine);
	alerts_free(m.alerts);
	cluster_free(m.cl);
	store_close(m.db);
	conf_free(m.conf);
	if (m.lock_fd >= 0)
		close(m.lock_fd); /* releases the state directory */
	return rv;
}
