/*
 * Kafka lag of a job: see joblag.h. The rows come from the job's next
 * offsets (job.koff, as batches took them) and the planner's end offsets.
 */
#include "joblag.h"

#include "alerts.h"
#include "kafka_src.h"

#include <stdio.h>
#include <string.h>

size_t joblag_rows(job *j, joblag_row *out, size_t cap)
{
	for (size_t i = 0; i < j->nkoff && i < cap; i++) {
		const ckpt_range *r = &j->koff[i];
		int64_t end =
		    kafka_end_offset(&j->kafka, r->node, r->topic, r->partition);
		out[i] = (joblag_row){.topic = r->topic,
		                      .partition = r->partition,
		                      .end = end,
		                      .next = r->until,
		                      .lag = end > r->until ? end - r->until : 0};
	}
	return j->nkoff;
}

void joblag_tick(job *j, int64_t now_mono)
{
	if (j->kafka.n == 0 || now_mono < j->lag_eval_mono)
		return;
	const sl_conf *mc = j->e->m->conf;
	j->lag_eval_mono = now_mono + conf_get_duration_ms(mc, "sluice.alerts.interval");
	joblag_row rows[256];
	size_t n = joblag_rows(j, rows, 256);
	int64_t total = 0, worst = -1;
	char worst_name[200] = "";
	for (size_t i = 0; i < n && i < 256; i++) {
		/* An end offset not known yet (a restarted master before its first
		 * plan) is no lag of 0: a lag incident must not resolve on it. */
		if (rows[i].end < 0)
			return;
		total += rows[i].lag;
		if (rows[i].lag > worst) {
			worst = rows[i].lag;
			snprintf(worst_name, sizeof(worst_name), "%s-%d", rows[i].topic,
			         rows[i].partition);
		}
	}
	alerts_job_lag(j->e->m->alerts, j->id, j->name, j->conf, total,
	               worst < 0 ? 0 : worst, worst_name);
}
