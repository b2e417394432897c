/*
 * Worker /metrics: see metrics.h. Each scrape reads the engine's and the
 * block manager's counters (each under its own short lock) and the process'
 * CPU time and resident memory from /proc, and renders them with
 * common/promtext.c.
 */
#include "metrics.h"

#include "alloc.h"
#include "clock.h"
#include "httpd.h"
#include "log.h"
#include "promtext.h"
#include "sluice/err.h"
#include "wengine.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct wmetrics {
	worker *w;
	httpd *http;
	double start_s; /* process start, seconds since the epoch */
};

/* utime + stime in seconds and RSS in bytes of this process. */
static void proc_self(double *cpu_s, double *rss)
{
	*cpu_s = 0;
	*rss = 0;
	long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	FILE *f = fopen("/proc/self/stat", "r");
	if (f != NULL) {
		char buf[1024];
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		/* fields after the command name, which ends at the last ')' */
		const char *p = strrchr(buf, ')');
		unsigned long ut = 0, st = 0;
		if (p != NULL && tick > 0 &&
		    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
		           &ut, &st) == 2)
			*cpu_s = (double)(ut + st) / (double)tick;
	}
	f = fopen("/proc/self/statm", "r");
	if (f != NULL) {
		unsigned long size = 0, res = 0;
		if (fscanf(f, "%lu %lu", &size, &res) == 2 && page > 0)
			*rss = (double)res * (double)page;
		fclose(f);
	}
}

static void gauge(promtext *p, const char *name, const char *help, double v)
{
	promtext_family(p, name, "gauge", help);
	promtext_sample(p, name, NULL, v);
}

static void counter(promtext *p, const char *name, const char *help, double v)
{
	promtext_family(p, name, "counter", help);
	promtext_sample(p, name, NULL, v);
}

/* Per receiver (a long-running task): records, time blocked on its rate
 * limiter or a full block buffer, its last blocked share and its rate. The
 * tasks of batches never wait on a rate limiter or a bounded buffer, so
 * receivers are the only tasks with these figures. */
static void render_receivers(wmetrics *m, promtext *p)
{
	static const char *const names[] = {
	    "sluice_worker_receiver_records_total",
	    "sluice_worker_receiver_blocked_seconds_total",
	    "sluice_worker_receiver_blocked_ratio",
	    "sluice_worker_receiver_rate_limit_records_per_second"};
	static const char *const types[] = {"counter", "counter", "gauge", "gauge"};
	static const char *const helps[] = {
	    "records the receiver took since it started",
	    "time the receiver waited on its rate limiter or a full block buffer",
	    "share of its time the receiver was blocked, over its last block report",
	    "records per second its token bucket allows (0 = unlimited)"};
	receiver_load *l;
	size_t n = receivers_load(wengine_receivers(m->w->engine), &l);
	for (size_t f = 0; f < 4; f++) {
		promtext_family(p, names[f], types[f], helps[f]);
		for (size_t i = 0; i < n; i++) {
			char job[24], rcv[16];
			snprintf(job, sizeof(job), "%llu",
			         (unsigned long long)l[i].job_id);
			snprintf(rcv, sizeof(rcv), "%u", l[i].receiver_id);
			double v[] = {(double)l[i].records, l[i].blocked_s,
			              l[i].blocked_share, l[i].rate};
			promtext_sample(
			    p, names[f],
			    (const char *const[]){"job_id", job, "receiver", rcv, NULL},
			    v[f]);
		}
	}
	sl_free(l);
}

static void render(wmetrics *m, promtext *p)
{
	worker *w = m->w;
	uint32_t busy = 0, blocks = 0;
	uint64_t mem_used = 0;
	wengine_stats(w->engine, &busy, &mem_used, &blocks);
	blockmgr_stats bs;
	blockmgr_get_stats(wengine_blocks(w->engine), &bs);
	char id[32];
	pthread_mutex_lock(&w->lock);
	snprintf(id, sizeof(id), "%s", w->id[0] ? w->id : "unregistered");
	pthread_mutex_unlock(&w->lock);
	const char *const info[] = {"worker", id, NULL};
	promtext_family(p, "sluice_worker_info", "gauge",
	                "worker identity (value is always 1)");
	promtext_sample(p, "sluice_worker_info", info, 1);
	gauge(p, "sluice_worker_slots", "task slots this worker offers", w->slots);
	gauge(p, "sluice_worker_slots_busy", "task slots running a task now", busy);
	gauge(p, "sluice_worker_memory_budget_bytes", "memory budget (--memory)",
	      (double)w->memory);
	gauge(p, "sluice_worker_storage_budget_bytes",
	      "share of the budget for blocks (memory.fraction x storageFraction)",
	      (double)bs.budget);
	promtext_family(p, "sluice_worker_block_bytes", "gauge",
	                "bytes of blocks held, by store (memory: raw, disk: encoded)");
	promtext_sample(p, "sluice_worker_block_bytes",
	                (const char *const[]){"store", "memory", NULL},
	                (double)bs.mem_bytes);
	promtext_sample(p, "sluice_worker_block_bytes",
	                (const char *const[]){"store", "disk", NULL},
	                (double)bs.disk_bytes);
	promtext_family(p, "sluice_worker_blocks", "gauge", "blocks held, by store");
	promtext_sample(p, "sluice_worker_blocks",
	                (const char *const[]){"store", "memory", NULL}, bs.mem_blocks);
	promtext_sample(p, "sluice_worker_blocks",
	                (const char *const[]){"store", "disk", NULL}, bs.disk_blocks);
	counter(p, "sluice_worker_spilled_blocks_total",
	        "blocks moved from memory to disk since start",
	        (double)bs.spilled_blocks);
	counter(p, "sluice_worker_block_puts_refused_total",
	        "block writes refused for lack of memory and disk", (double)bs.refused);
	gauge(p, "sluice_worker_disk_budget_bytes",
	      "most encoded bytes of blocks on disk (sluice.worker.diskBudget)",
	      (double)bs.disk_budget);
	counter(p, "sluice_worker_disk_writes_refused_total",
	        "block writes to disk refused for the disk budget",
	        (double)bs.disk_refused);
	render_receivers(m, p);
	double cpu, rss;
	proc_self(&cpu, &rss);
	counter(p, "process_cpu_seconds_total", "user and system CPU time", cpu);
	gauge(p, "process_resident_memory_bytes", "resident set size", rss);
	gauge(p, "process_start_time_seconds", "start time since the epoch", m->start_s);
}

static void on_http(void *arg, const httpd_req *req, httpd_res *res)
{
	wmetrics *m = arg;
	if (strcmp(req->path, "/metrics") != 0) {
		httpd_error(res, 404, "no such path: %.200s (the worker serves /metrics)",
		            req->path);
		return;
	}
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		httpd_error(res, 405, "method %.20s not allowed on /metrics (use GET)",
		            req->method);
		return;
	}
	promtext p = {0};
	render(m, &p);
	res->status = 200;
	res->content_type = "text/plain; version=0.0.4; charset=utf-8";
	res->body = promtext_take(&p, &res->len);
}

int wmetrics_start(worker *w, wmetrics **out, char *err, size_t errlen)
{
	wmetrics *m = sl_calloc(1, sizeof(*m));
	m->w = w;
	m->start_s = (double)clock_wall_ms() / 1000.0;
	int port = (int)conf_get_int(w->conf, "sluice.worker.http.port");
	int rv = httpd_start(&m->http, w->host, port, on_http, m, err, errlen);
	if (rv != SL_OK) {
		sl_free(m);
		return rv;
	}
	log_info("metrics on http://%s:%d/metrics", w->host, httpd_port(m->http));
	*out = m;
	return SL_OK;
}

int wmetrics_port(const wmetrics *m)
{
	return httpd_port(m->http);
}

void wmetrics_stop(wmetrics *m)
{
	if (m == NULL)
		return;
	httpd_stop(m->http);
	sl_free(m);
}
