/*
 * Stopped-job cleanup on the workers: see jobdrop.h.
 */
#include "jobdrop.h"
#include "cluster.h"
#include "log.h"
#include "master.h"
#include "msgtypes.h"
#include "sluice/err.h"

static void drop_done(void *arg, int rv, const envelope *reply, const char *err)
{
	(void)arg;
	(void)reply;
	if (rv != SL_OK)
		log_warn("drop-job: %s", err);
}

void jobdrop_maybe(job *j)
{
	if (j->state == JOB_RUNNING)
		j->dropped = false; /* started again: its next stop cleans up again */
	if (j->state != JOB_STOPPED || j->dropped || j->nbatches > 0 || j->nretiring > 0)
		return;
	j->dropped = true;
	cluster *cl = j->e->m->cl;
	Sluice__DropJob d = SLUICE__DROP_JOB__INIT;
	d.job_id = j->id;
	size_t n = 0;
	for (size_t i = 0; i < cluster_count(cl); i++) {
		worker_entry *w = cluster_at(cl, i);
		if (w->state != WORKER_ALIVE || w->client == NULL)
			continue;
		if (rpc_call_async(w->client, MSG_DROP_JOB, &d, drop_done, NULL) == SL_OK)
			n++;
	}
	log_info("job %s stopped and drained: its data dropped on %zu workers", j->name,
	         n);
}
