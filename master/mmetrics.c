/*
 * Master /metrics: see mmetrics.h. The figures are the ones `sluice jobs`
 * and `sluice monitor` show (the same job counters and batch summaries), so
 * a scrape and the CLI agree.
 */
#include "mmetrics.h"

#include "engine_int.h"
#include "joblag.h"
#include "lifecycle.h"
#include "ratecontrol.h"
#include "promtext.h"
#include "stateplan.h"

#include <stdio.h>
#include <string.h>

static void render_cluster(master *m, promtext *p)
{
	double alive = 0, lost = 0, slots = 0, busy = 0;
	for (size_t i = 0; i < cluster_count(m->cl); i++) {
		const worker_entry *w = cluster_at(m->cl, i);
		if (w->state == WORKER_ALIVE) {
			alive++;
			slots += w->slots;
			busy += w->slots_busy;
		} else {
			lost++;
		}
	}
	promtext_family(p, "sluice_master_workers", "gauge", "workers known, by state");
	promtext_sample(p, "sluice_master_workers",
	                (const char *const[]){"state", "ALIVE", NULL}, alive);
	promtext_sample(p, "sluice_master_workers",
	                (const char *const[]){"state", "LOST", NULL}, lost);
	promtext_family(p, "sluice_master_slots", "gauge", "task slots of alive workers");
	promtext_sample(p, "sluice_master_slots", NULL, slots);
	promtext_family(p, "sluice_master_slots_busy", "gauge",
	                "task slots busy, as the workers' heartbeats report");
	promtext_sample(p, "sluice_master_slots_busy", NULL, busy);
}

static void render_states(struct engine *e, promtext *p)
{
	static const char *const states[] = {"PUBLISHED", "RUNNING", "PAUSED",
	                                     "STOPPING",  "STOPPED", "FAILED"};
	promtext_family(p, "sluice_jobs", "gauge", "jobs, by state");
	for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
		double n = 0;
		for (size_t i = 0; i < e->njobs; i++)
			n += strcmp(job_shown_state(e->jobs[i]), states[s]) == 0;
		promtext_sample(p, "sluice_jobs",
		                (const char *const[]){"state", states[s], NULL}, n);
	}
}

/* The latest finished batch of j, or NULL. */
static const batch_summary *last_batch(const job *j)
{
	if (j->nhist == 0)
		return NULL;
	return &j->hist[(j->hist_next + BATCH_HISTORY - 1) % BATCH_HISTORY];
}

typedef struct {
	const char *name, *type, *help;
} family;

static const family job_families[] = {
    {"sluice_job_batches_total", "counter", "batches ended, by result"},
    {"sluice_job_records_total", "counter", "input records of the batches done"},
    {"sluice_job_batches_in_flight", "gauge", "batches queued or running"},
    {"sluice_job_pending_blocks", "gauge", "received blocks no batch has taken yet"},
    {"sluice_job_last_batch_input_records", "gauge", "input records of the last batch"},
    {"sluice_job_last_batch_scheduling_delay_seconds", "gauge",
     "batch time to start of the last finished batch"},
    {"sluice_job_last_batch_processing_seconds", "gauge",
     "start to end of the last finished batch"},
    {"sluice_job_last_batch_total_delay_seconds", "gauge",
     "batch time to end of the last finished batch"},
    {"sluice_job_state_keys", "gauge",
     "keys held by update_state_by_key / map_with_state, all partitions"},
    {"sluice_job_state_bytes", "gauge", "approximate bytes of those keys and states"},
    {"sluice_job_late_records_total", "counter",
     "records event_time_window dropped as later than the allowed lateness"},
};

static void render_job(const job *j, size_t f, promtext *p)
{
	const char *const l[] = {"job", j->name, NULL};
	const batch_summary *b = last_batch(j);
	switch (f) {
	case 0:
		promtext_sample(
		    p, job_families[f].name,
		    (const char *const[]){"job", j->name, "result", "done", NULL},
		    (double)j->batches_done);
		promtext_sample(
		    p, job_families[f].name,
		    (const char *const[]){"job", j->name, "result", "failed", NULL},
		    (double)j->batches_failed);
		break;
	case 1:
		promtext_sample(p, job_families[f].name, l, (double)j->records);
		break;
	case 2:
		promtext_sample(p, job_families[f].name, l, (double)j->nbatches);
		break;
	case 3:
		promtext_sample(p, job_families[f].name, l, (double)j->rt.npending);
		break;
	case 8:
	case 9: {
		uint64_t keys, bytes;
		stateplan_size(j, &keys, &bytes);
		promtext_sample(p, job_families[f].name, l,
		                (double)(f == 8 ? keys : bytes));
		break;
	}
	case 10: {
		uint64_t late;
		int64_t wm;
		stateplan_events(j, &late, &wm);
		promtext_sample(p, job_families[f].name, l, (double)late);
		break;
	}
	default:
		if (b == NULL)
			break;
		double v[] = {(double)b->input_records, (double)b->sched_ms / 1000.0,
		              (double)b->proc_ms / 1000.0, (double)b->total_ms / 1000.0};
		promtext_sample(p, job_families[f].name, l, v[f - 4]);
	}
}

static void render_jobs(struct engine *e, promtext *p)
{
	promtext_family(p, "sluice_job_state", "gauge",
	                "1 for the job's current state (label state)");
	for (size_t i = 0; i < e->njobs; i++)
		promtext_sample(p, "sluice_job_state",
		                (const char *const[]){"job", e->jobs[i]->name, "state",
		                                      job_shown_state(e->jobs[i]), NULL},
		                1);
	for (size_t f = 0; f < sizeof(job_families) / sizeof(job_families[0]); f++) {
		promtext_family(p, job_families[f].name, job_families[f].type,
		                job_families[f].help);
		for (size_t i = 0; i < e->njobs; i++)
			render_job(e->jobs[i], f, p);
	}
}

/* End offsets (their rate: the producer rate) and lag per partition. */
static void render_kafka(struct engine *e, promtext *p)
{
	static const char *const names[] = {"sluice_job_kafka_end_offset",
	                                    "sluice_job_kafka_next_offset",
	                                    "sluice_job_kafka_lag_records"};
	static const char *const helps[] = {
	    "producers' end offset (high watermark) per partition, as last planned",
	    "next offset the job's batches take per partition",
	    "records behind per partition (end - next)"};
	for (size_t f = 0; f < 3; f++) {
		promtext_family(p, names[f], "gauge", helps[f]);
		for (size_t i = 0; i < e->njobs; i++) {
			joblag_row rows[256];
			size_t n = joblag_rows(e->jobs[i], rows, 256);
			for (size_t r = 0; r < n && r < 256; r++) {
				char part[16];
				snprintf(part, sizeof(part), "%d", rows[r].partition);
				double v[] = {(double)rows[r].end, (double)rows[r].next,
				              (double)rows[r].lag};
				if (f == 0 && rows[r].end < 0)
					continue;
				promtext_sample(
				    p, names[f],
				    (const char *const[]){"job", e->jobs[i]->name,
				                          "topic", rows[r].topic,
				                          "partition", part, NULL},
				    v[f]);
			}
		}
	}
}

void mmetrics_render(master *m, httpd_res *res)
{
	promtext p = {0};
	pthread_mutex_lock(&m->lock);
	render_cluster(m, &p);
	render_states(m->engine, &p);
	render_jobs(m->engine, &p);
	render_kafka(m->engine, &p);
	ratecontrol_metrics(m->engine->jobs, m->engine->njobs, &p);
	pthread_mutex_unlock(&m->lock);
	res->status = 200;
	res->content_type = "text/plain; version=0.0.4; charset=utf-8";
	res->body = promtext_take(&p, &res->len);
}
