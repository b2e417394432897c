/*
 * Job lifecycle: see lifecycle.h for the states and what each action
 * keeps or discards. The engine's generator and Kafka planner act only on
 * RUNNING jobs, so PAUSED needs nothing from them; this file decides which
 * transitions are allowed, does what each one implies for receivers and
 * blocks, and records it.
 */
#include "lifecycle.h"

#include "alerts.h"
#include "alloc.h"
#include "clock.h"
#include "kafka_src.h"
#include "log.h"
#include "ratecontrol.h"
#include "runconf.h"
#include "sluice/err.h"
#include "stateplan.h"

#include <stdio.h>
#include <string.h>

const char *job_state_name(job_state s)
{
	static const char *const names[] = {"RUNNING", "STOPPED", "FAILED", "PUBLISHED",
	                                    "PAUSED"};
	return names[s];
}

const char *job_shown_state(const job *j)
{
	return j->draining && j->state == JOB_RUNNING ? "STOPPING"
	                                              : job_state_name(j->state);
}

void job_transition_to(job *j, job_state to, const char *who, const char *why)
{
	j->trans = sl_realloc(j->trans, (j->ntrans + 1) * sizeof(*j->trans));
	job_transition *jt = &j->trans[j->ntrans++];
	memset(jt, 0, sizeof(*jt));
	jt->t.seq = (uint32_t)j->ntrans;
	jt->t.at_ms = clock_wall_ms();
	/* a new job's first transition comes from nothing */
	const char *from = j->ntrans > 1           ? j->trans[j->ntrans - 2].t.to
	                   : j->state_since_ms > 0 ? job_state_name(j->state)
	                                           : "";
	snprintf(jt->t.from, sizeof(jt->t.from), "%s", from);
	snprintf(jt->t.to, sizeof(jt->t.to), "%s", job_state_name(to));
	jt->t.who = sl_strdup(who ? who : "master");
	jt->t.why = sl_strdup(why ? why : "");
	jt->at_seq = j->ckpt_seq + 1; /* the next snapshot queued */
	log_info("job %s: %s -> %s by %s%s%s", j->name, jt->t.from, jt->t.to, jt->t.who,
	         jt->t.why[0] ? ": " : "", jt->t.why);
	j->state = to;
	j->state_since_ms = jt->t.at_ms;
	job_checkpoint(j);
	if (j->conf != NULL)
		alerts_job_state(j->e->m->alerts, j->id, j->name, j->conf, jt->t.to,
		                 jt->t.why);
}

/* The next batch falls on the next multiple of the interval from now, and
 * batch time never goes back. */
static void generator_realign(job *j)
{
	int64_t next = (clock_wall_ms() / j->interval_ms + 1) * j->interval_ms;
	if (next > j->next_batch_ms)
		j->next_batch_ms = next;
}

void lifecycle_stop(job *j, const char *who, const char *why)
{
	j->draining = false;
	rtracker_stop(&j->rt);
	/* buffered input no batch took is discarded (SPEC §8) */
	rtracker_drop_pending(&j->rt);
	job_transition_to(j, JOB_STOPPED, who, why);
}

static int refuse(const job *j, const char *action, char *err, size_t errlen)
{
	snprintf(err, errlen, "job '%s' is %s: cannot %s it", j->name, job_shown_state(j),
	         action);
	return SL_ESTATE;
}

static int do_stop(job *j, bool graceful, const char *who, const char *why)
{
	if (j->state == JOB_RUNNING && (graceful || j->graceful_stop)) {
		if (!j->draining)
			log_info("job %s stopping gracefully (asked by %s): receivers "
			         "stop, what they received is processed",
			         j->name, who);
		j->draining = true;
		rtracker_stop(&j->rt);
		lifecycle_tick(j, clock_wall_ms());
	} else if (j->state == JOB_RUNNING || j->state == JOB_PAUSED) {
		lifecycle_stop(j, who, why);
	}
	return SL_OK;
}

/* At start: the job's configuration is derived again from its definition,
 * so run-config changes take effect (runconf.h); its rate controller's
 * state is kept. */
static int reload_conf(job *j, char *err, size_t errlen)
{
	char *rate_state = j->rc ? ratecontrol_snapshot(j) : NULL;
	conf_free(j->conf);
	int rv = job_conf_apply(j, err, errlen);
	if (rv == SL_OK) {
		if (rate_state != NULL)
			ratecontrol_restore(j, rate_state);
		kafka_set_max_rate(
		    &j->kafka,
		    conf_get_int(j->conf, "spark.streaming.kafka.maxRatePerPartition"));
	}
	sl_free(rate_state);
	return rv;
}

/* start: a PUBLISHED job runs for the first time; a STOPPED one continues
 * from where processing stopped, with its state (its buffered input and
 * the batches its windows kept were dropped at the stop); a FAILED one
 * re-runs the batch its failure halted (sluice.batch.onFailure=stop kept it
 * with its blocks, Kafka ranges and committed outputs in the checkpoint)
 * and goes on. A job loaded FAILED after a master restart is first resumed
 * from that checkpoint. The idle time is not made up with empty batches:
 * the next batch is the next interval from now. */
static int do_start(job *j, const char *who, const char *why, char *err, size_t errlen)
{
	if (j->state != JOB_PUBLISHED && j->state != JOB_STOPPED &&
	    j->state != JOB_FAILED)
		return refuse(j, "start", err, errlen);
	if (j->graph == NULL) {
		snprintf(err, errlen, "job '%s' cannot run: %s", j->name, j->error);
		return SL_ESTATE;
	}
	int rv = reload_conf(j, err, errlen);
	if (rv == SL_OK)
		rv = runconf_check_start(j, err, errlen);
	if (rv != SL_OK)
		return rv;
	if (!j->live && j->state == JOB_FAILED) {
		/* resumed from the store: its last snapshot must be there */
		if (j->ckpt_dirty || j->ckpt_durable < j->ckpt_seq) {
			snprintf(
			    err, errlen,
			    "job '%s' is still writing its checkpoint; try again in a "
			    "moment",
			    j->name);
			return SL_EBUSY;
		}
		char why_not[600];
		if (job_resume(j, 0, why_not, sizeof(why_not)) != SL_OK) {
			snprintf(err, errlen, "job '%s' cannot start: %s", j->name,
			         why_not);
			return SL_ESTATE;
		}
	}
	j->live = true;
	if (j->state == JOB_STOPPED) {
		batches_drop_pending(j);
		stateplan_started(j); /* its state continues (jobdrop.h) */
	}
	batches_rearm(j);
	rtracker_rearm(&j->rt);
	generator_realign(j);
	j->error[0] = '\0';
	job_transition_to(j, JOB_RUNNING, who, why);
	return SL_OK;
}

int lifecycle_control(job *j, const char *action, bool graceful, const char *who,
                      const char *why, char *err, size_t errlen)
{
	if (strcmp(action, "start") == 0) {
		return do_start(j, who, why, err, errlen);
	} else if (strcmp(action, "pause") == 0) {
		if (j->state != JOB_RUNNING || j->draining)
			return refuse(j, action, err, errlen);
		job_transition_to(j, JOB_PAUSED, who, why);
	} else if (strcmp(action, "resume") == 0) {
		if (j->state != JOB_PAUSED)
			return refuse(j, action, err, errlen);
		generator_realign(j);
		job_transition_to(j, JOB_RUNNING, who, why);
	} else if (strcmp(action, "stop") == 0) {
		if (j->state == JOB_PUBLISHED || j->state == JOB_FAILED)
			return refuse(j, action, err, errlen);
		return do_stop(j, graceful, who, why);
	} else {
		snprintf(err, errlen,
		         "unknown job action '%s' (start, pause, resume, stop)", action);
		return SL_EINVAL;
	}
	return SL_OK;
}

void lifecycle_tick(job *j, int64_t now_wall)
{
	if (j->draining && j->state == JOB_RUNNING && j->rt.rcv_stopping == 0 &&
	    j->rt.npending == 0 && j->nbatches == 0)
		lifecycle_stop(j, "master",
		               "stopped gracefully: everything received was processed");
	if (j->state == JOB_PAUSED && j->pause_max_ms > 0 &&
	    now_wall - j->state_since_ms > j->pause_max_ms) {
		char why[128];
		snprintf(why, sizeof(why),
		         "paused longer than sluice.pause.maxDuration (%lld ms)",
		         (long long)j->pause_max_ms);
		lifecycle_stop(j, "master", why);
	}
}

void lifecycle_snapshot(const job *j, ckpt_job *c)
{
	size_t n = 0;
	for (size_t i = 0; i < j->ntrans; i++)
		if (j->trans[i].at_seq > j->ckpt_durable)
			n++;
	if (n == 0)
		return;
	c->transitions = sl_calloc(n, sizeof(*c->transitions));
	for (size_t i = 0; i < j->ntrans; i++) {
		if (j->trans[i].at_seq <= j->ckpt_durable)
			continue;
		ckpt_transition *t = &c->transitions[c->ntransitions++];
		*t = j->trans[i].t;
		t->who = sl_strdup(j->trans[i].t.who);
		t->why = sl_strdup(j->trans[i].t.why);
	}
}

int lifecycle_load(job *j, sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	j->state_since_ms = j->created_ms;
	if (sqlite3_prepare_v2(db,
	                       "SELECT seq, at_ms, from_state, to_state, who, why FROM "
	                       "job_transitions WHERE job_id = ? ORDER BY seq",
	                       -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "state store: %s", sqlite3_errmsg(db));
		return SL_EDB;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)j->id);
	while (sqlite3_step(st) == SQLITE_ROW) {
		j->trans = sl_realloc(j->trans, (j->ntrans + 1) * sizeof(*j->trans));
		job_transition *jt = &j->trans[j->ntrans++];
		memset(jt, 0, sizeof(*jt)); /* at_seq 0: durable */
		jt->t.seq = (uint32_t)sqlite3_column_int64(st, 0);
		jt->t.at_ms = sqlite3_column_int64(st, 1);
		snprintf(jt->t.from, sizeof(jt->t.from), "%s",
		         sqlite3_column_text(st, 2));
		snprintf(jt->t.to, sizeof(jt->t.to), "%s", sqlite3_column_text(st, 3));
		jt->t.who = sl_strdup((const char *)sqlite3_column_text(st, 4));
		jt->t.why = sl_strdup((const char *)sqlite3_column_text(st, 5));
		j->state_since_ms = jt->t.at_ms;
	}
	sqlite3_finalize(st);
	return SL_OK;
}

void lifecycle_free(job *j)
{
	for (size_t i = 0; i < j->ntrans; i++) {
		sl_free(j->trans[i].t.who);
		sl_free(j->trans[i].t.why);
	}
	sl_free(j->trans);
	j->trans = NULL;
	j->ntrans = 0;
}
