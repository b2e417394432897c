/*
 * Run configuration: the capacity check at start (runconf.h). CUs are a
 * reservation the master accounts for, not a placement: a job that fits is
 * scheduled on the free slots as any job.
 */
#include "runconf.h"

#include "channels.h"

#include "sluice/err.h"

#include <stdio.h>

/* CUs one worker offers. */
static int64_t worker_cus(const worker_entry *w, int64_t cu_mem)
{
	int64_t by_mem = (int64_t)(w->memory / (uint64_t)cu_mem);
	return by_mem < (int64_t)w->slots ? by_mem : (int64_t)w->slots;
}

int runconf_check_start(job *j, char *err, size_t errlen)
{
	if (channels_check_start(j, err, errlen) != SL_OK)
		return SL_ESTATE;
	if (j->run_cus <= 0)
		return SL_OK;
	master *m = j->e->m;
	int64_t cu_mem = conf_get_bytes(m->conf, "sluice.cu.memory");
	int64_t total = 0, largest = 0, held = 0, alive = 0;
	for (size_t i = 0; i < cluster_count(m->cl); i++) {
		const worker_entry *w = cluster_at(m->cl, i);
		if (w->state != WORKER_ALIVE)
			continue;
		int64_t c = worker_cus(w, cu_mem);
		total += c;
		largest = c > largest ? c : largest;
		alive++;
	}
	for (size_t i = 0; i < j->e->njobs; i++) {
		const job *o = j->e->jobs[i];
		if (o != j && (o->state == JOB_RUNNING || o->state == JOB_PAUSED))
			held += o->run_cus;
	}
	int64_t free_cus = total - held;
	if (j->run_cus <= free_cus && (!j->run_standalone || j->run_cus <= largest))
		return SL_OK;
	snprintf(
	    err, errlen,
	    "job '%s' needs %lld CU%s%s but the cluster has %lld CU free (%lld CU on "
	    "%lld alive worker%s, the largest %lld; %lld held by running or paused "
	    "jobs; 1 CU = 1 task slot + %lld MiB)",
	    j->name, (long long)j->run_cus, j->run_cus == 1 ? "" : "s",
	    j->run_standalone ? " on one worker (sluice.run.mode=standalone)" : "",
	    (long long)(free_cus > 0 ? free_cus : 0), (long long)total, (long long)alive,
	    alive == 1 ? "" : "s", (long long)largest, (long long)held,
	    (long long)(cu_mem >> 20));
	return SL_ESTATE;
}
