/*
 * Stopped-job cleanup on the workers: see jobdrop.h.
 */
#include "jobdrop.h"
#include "cluster.h"
#include "log.h"
#include "master.h"
#include "msgtypes.h"
#include "sluice/err.h"
#include "stateplan.h"

static void drop_done(void *arg, int rv, const envelope *reply, const char *err)
{
	(void)arg;
	(void)reply;
	if (rv != SL_OK)
		log_warn("drop-job: %s", err);
}

static bool drained(const job *j)
{
	return j->state == JOB_STOPPED && j->nbatches == 0 && j->nretiring == 0;
}

static bool send_drop(const job *j, worker_entry *w)
{
	if (w->state != WORKER_ALIVE || w->client == NULL)
		return false;
	Sluice__DropJob d = SLUICE__DROP_JOB__INIT;
	d.job_id = j->id;
	d.state = !stateplan_holds(j, w->id); /* kept where a start needs it */
	return rpc_call_async(w->client, MSG_DROP_JOB, &d, drop_done, NULL) == SL_OK;
}

void jobdrop_maybe(job *j)
{
	if (j->state == JOB_RUNNING)
		j->dropped = false; /* started again: its next stop cleans up again */
	if (!drained(j) || j->dropped)
		return;
	j->dropped = true;
	cluster *cl = j->e->m->cl;
	size_t n = 0;
	for (size_t i = 0; i < cluster_count(cl); i++)
		n += send_drop(j, cluster_at(cl, i));
	log_info("job %s stopped and drained: its data dropped on %zu workers (its state "
	         "kept where placed)",
	         j->name, n);
}

void jobdrop_worker_back(job *j, worker_entry *w)
{
	if (drained(j) && send_drop(j, w))
		log_info("job %s is stopped: worker %s told to drop its data", j->name,
		         w->id);
}
