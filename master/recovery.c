/*
 * Driver recovery: at start, the master rebuilds every job of its state
 * store and resumes the ones that were RUNNING from their last checkpoint
 * (SPEC §7, docs/recovery.md).
 *
 * Per job: the definition (library checked against its SHA-256, graph,
 * configuration) from the jobs and libraries tables; for a RUNNING job also
 * its Kafka sources, receivers (each waits for the worker it ran on for one
 * worker timeout, as it is probably still running there), the batches that
 * had not finished (re-run, minus the outputs they had already committed),
 * the unallocated blocks and the next Kafka offsets. The generator clock
 * resumes at the checkpointed next batch time, so the batches whose time
 * passed while the master was down are generated one per interval (as
 * Spark's JobGenerator does on restart), and batch time never goes back.
 *
 * PAUSED jobs are resumed the same way (their generator stays stopped);
 * PUBLISHED and STOPPED ones get their sources and receivers ready for a
 * start, Kafka reading from the committed offsets; a STOPPED one also gets
 * its state placement back (the workers keep its state partitions while it
 * is stopped: jobdrop.h), so a start sends their tasks where they are.
 * A FAILED job is resumed from its checkpoint by `sluice start`
 * (lifecycle.c), which re-runs the batch its failure halted.
 *
 * A job that cannot be rebuilt (its library missing or not matching its
 * hash, its graph or configuration unreadable) is listed FAILED with the
 * reason; the master itself still starts.
 */
#include "alloc.h"
#include "clock.h"
#include "ratecontrol.h"
#include "engine_int.h"
#include "jobdef.h"
#include "kafka_src.h"
#include "lifecycle.h"
#include "log.h"
#include "sluice/err.h"
#include "stateplan.h"

#include <stdio.h>
#include <string.h>

static job_state state_from(const char *s)
{
	return strcmp(s, "RUNNING") == 0     ? JOB_RUNNING
	       : strcmp(s, "PAUSED") == 0    ? JOB_PAUSED
	       : strcmp(s, "PUBLISHED") == 0 ? JOB_PUBLISHED
	       : strcmp(s, "STOPPED") == 0   ? JOB_STOPPED
	                                     : JOB_FAILED;
}

/* Resumes a job from its checkpoint; SL_OK or an error in err. */
int job_resume(job *j, int64_t grace_ms, char *err, size_t errlen)
{
	ckpt_job *c = NULL;
	int rv = job_kafka_init(j, err, errlen);
	if (rv == SL_OK)
		rv = checkpoint_load(store_db(j->e->m->db), j->id, &c, err, errlen);
	if (rv == SL_OK && j->retain_ms > 0) /* windows read the batches before */
		rv = checkpoint_load_kept(
		    store_db(j->e->m->db), c,
		    c->next_batch_ms - j->retain_ms - j->interval_ms, err, errlen);
	if (rv != SL_OK) {
		ckpt_job_free(c);
		return rv;
	}
	job_rtracker_init(j);
	rtracker_restore(&j->rt, c, grace_ms);
	batches_restore(j, c);
	kafka_restore(&j->kafka, j->koff, j->nkoff);
	j->live = true;
	ratecontrol_restore(j, c->rate_state);
	log_info("job %s (id %llu) resumed from its checkpoint: %zu unfinished batches, "
	         "%zu unallocated blocks, %zu Kafka partitions, next batch at %lld",
	         j->name, (unsigned long long)j->id, j->nbatches, j->rt.npending,
	         j->nkoff, (long long)j->next_batch_ms);
	ckpt_job_free(c);
	return SL_OK;
}

/* A STOPPED job's state placement, from its checkpoint. */
static int stopped_state(job *j, char *err, size_t errlen)
{
	ckpt_job *c = NULL;
	int rv = checkpoint_load(store_db(j->e->m->db), j->id, &c, err, errlen);
	if (rv == SL_OK) {
		stateplan_restore(j, c);
		if (j->nstp > 0)
			log_info("job %s is stopped: its state partitions stay on their "
			         "workers for a start",
			         j->name);
	}
	ckpt_job_free(c);
	return rv;
}

static job *job_from_row(struct engine *e, sqlite3_stmt *st, int64_t grace_ms)
{
	char err[700] = "";
	job *j = sl_calloc(1, sizeof(*j));
	j->e = e;
	j->id = (uint64_t)sqlite3_column_int64(st, 0);
	j->name = sl_strdup((const char *)sqlite3_column_text(st, 1));
	j->state = state_from((const char *)sqlite3_column_text(st, 2));
	snprintf(j->lib_hash, sizeof(j->lib_hash), "%s", sqlite3_column_text(st, 3));
	j->interval_ms = sqlite3_column_int64(st, 6);
	j->created_ms = sqlite3_column_int64(st, 7);
	j->next_batch_ms = sqlite3_column_int64(st, 8);
	snprintf(j->error, sizeof(j->error), "%s", sqlite3_column_text(st, 9));
	/* totals as of the last checkpoint; a batch it did not record as ended
	 * runs again and is counted then */
	j->records = (uint64_t)sqlite3_column_int64(st, 10);
	j->batches_done = (uint64_t)sqlite3_column_int64(st, 11);
	j->batches_failed = (uint64_t)sqlite3_column_int64(st, 12);
	int rv =
	    jobdef_load(&j->def, store_db(e->m->db), j->lib_hash,
	                sqlite3_column_blob(st, 4), (size_t)sqlite3_column_bytes(st, 4),
	                (const char *)sqlite3_column_text(st, 5), err, sizeof(err));
	j->graph = j->def.graph;
	bool live = j->state == JOB_RUNNING || j->state == JOB_PAUSED;
	if (rv == SL_OK)
		rv = job_conf_apply(j, err, sizeof(err));
	if (rv == SL_OK)
		rv = lifecycle_load(j, store_db(e->m->db), err, sizeof(err));
	if (rv == SL_OK && live)
		rv = job_resume(j, grace_ms, err, sizeof(err));
	else if (rv == SL_OK && (j->state == JOB_PUBLISHED || j->state == JOB_STOPPED)) {
		/* startable: Kafka reading starts from the committed offsets */
		rv = job_kafka_init(j, err, sizeof(err));
		job_rtracker_init(j);
		if (rv == SL_OK && j->state == JOB_STOPPED)
			rv = stopped_state(j, err, sizeof(err));
	}
	if (rv != SL_OK && j->state != JOB_FAILED) {
		/* listed, never run: the reason names what is wrong */
		kafka_free(&j->kafka);
		snprintf(j->error, sizeof(j->error), "cannot resume after a restart: %s",
		         err);
		log_error("job %s: %s", j->name, j->error);
		job_transition_to(j, JOB_FAILED, "master", j->error);
	}
	return j;
}

int jobs_recover(struct engine *e, int64_t grace_ms, char *err, size_t errlen)
{
	sqlite3 *db = store_db(e->m->db);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(
	        db,
	        "SELECT id, name, state, library_hash, graph, conf, "
	        "batch_interval_ms, created_ms, next_batch_ms, error, "
	        "records, batches_done, batches_failed FROM jobs ORDER BY id",
	        -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "state store: %s", sqlite3_errmsg(db));
		return SL_EDB;
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		job *j = job_from_row(e, st, grace_ms);
		e->jobs = sl_realloc(e->jobs, (e->njobs + 1) * sizeof(*e->jobs));
		e->jobs[e->njobs++] = j;
	}
	sqlite3_finalize(st);
	return SL_OK;
}
