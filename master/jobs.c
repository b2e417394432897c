/*
 * Job registry: submission, queries and control, and the engine's entry
 * points (engine_new/handle/tick/worker_event).
 *
 * A submitted library is stored by the SHA-256 of its bytes (mbedTLS) in the
 * libraries table, never under a name the client chose; the job row records
 * that hash. The graph is checked again here (structure, outputs) because
 * the master trusts nothing it receives; symbols are checked by the client
 * and again by each worker when it loads the library.
 */
#include "alertrule.h"
#include "alloc.h"
#include "api.h"
#include "clock.h"
#include "ratecontrol.h"
#include "engine_int.h"
#include "jobdef.h"
#include "jobdrop.h"
#include "kafka_src.h"
#include "joblag.h"
#include "lifecycle.h"
#include "runconf.h"
#include "stateplan.h"
#include "log.h"
#include "msgtypes.h"
#include "sluice/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

job *jobs_find(struct engine *e, const char *name_or_id)
{
	for (size_t i = 0; i < e->njobs; i++)
		if (strcmp(e->jobs[i]->name, name_or_id) == 0)
			return e->jobs[i];
	char *end;
	unsigned long long id = strtoull(name_or_id, &end, 10);
	return *end == '\0' && end != name_or_id ? jobs_find_id(e, id) : NULL;
}

void job_fail(job *j, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->error, sizeof(j->error), fmt, ap);
	va_end(ap);
	if (j->state == JOB_FAILED)
		return;
	log_error("job %s FAILED: %s", j->name, j->error);
	rtracker_stop(&j->rt);
	job_transition_to(j, JOB_FAILED, "master", j->error);
}

static double job_stream_rate(void *arg, uint32_t node)
{
	return ratecontrol_stream_rate(arg, node);
}

static double job_receiver_rate(void *owner, uint32_t node)
{
	return ratecontrol_receiver_rate(owner, node);
}

static rtracker *job_rtracker_find(void *arg, uint64_t job_id)
{
	job *j = jobs_find_id(arg, job_id);
	return j != NULL ? &j->rt : NULL;
}

void job_rtracker_init(job *j)
{
	rtracker_init(&j->rt, &j->e->rtenv, j, j->id, j->name, j->graph, j->storage_level,
	              j->block_interval_ms, j->wal);
	j->rt.pin = j->run_worker; /* standalone placement (runconf.h) */
}

int job_kafka_init(job *j, char *err, size_t errlen)
{
	return kafka_init(&j->kafka, j->graph, j->conf, j->name, j->interval_ms,
	                  &j->e->m->lock, err, errlen);
}

int64_t engine_next_batch_wall(struct engine *e)
{
	int64_t next = INT64_MAX;
	for (size_t i = 0; i < e->njobs; i++)
		if (e->jobs[i]->state == JOB_RUNNING && e->jobs[i]->next_batch_ms < next)
			next = e->jobs[i]->next_batch_ms;
	return next;
}

size_t engine_kafka_due(struct engine *e, int64_t now_wall, ksrc **due, size_t ndue,
                        ksrc **all, size_t nall_cap, size_t *nall)
{
	size_t n = 0;
	*nall = 0;
	for (size_t i = 0; i < e->njobs; i++) {
		job *j = e->jobs[i];
		for (size_t k = 0; k < j->kafka.n && *nall < nall_cap; k++)
			all[(*nall)++] = j->kafka.v[k];
		if (j->state == JOB_RUNNING && now_wall >= j->next_batch_ms)
			n += kafka_collect(&j->kafka, j->next_batch_ms, job_stream_rate,
			                   j, due + n, ndue - n);
	}
	return n;
}

/* Applies the submitted configuration; errors name the key. */
int job_conf_apply(job *j, char *err, size_t errlen)
{
	j->conf = conf_new(CONF_APP_KEYS);
	for (size_t i = 0; i < j->def.nconf; i++)
		if (conf_set(j->conf, j->def.conf_keys[i], j->def.conf_values[i], err,
		             errlen) != SL_OK)
			return SL_ECONFIG;
	const sl_conf *mc = j->e->m->conf;
	j->retain_ms = plan_retention_ms(j->graph, j->interval_ms);
	for (size_t i = 0; i < j->graph->n_nodes; i++)
		j->stateful |= graph_node_stateful(j->graph->nodes[i]);
	j->max_failures = (uint32_t)conf_get_int(j->conf, "spark.task.maxFailures");
	j->concurrent_jobs =
	    (uint32_t)conf_get_int(j->conf, "spark.streaming.concurrentJobs");
	j->default_parts = (uint32_t)conf_get_int(j->conf, "sluice.shuffle.partitions");
	j->block_interval_ms =
	    conf_get_duration_ms(j->conf, "spark.streaming.blockInterval");
	j->max_rate = conf_get_int(j->conf, "spark.streaming.receiver.maxRate");
	j->wal = conf_get_bool(j->conf, "spark.streaming.receiver.writeAheadLog.enable");
	snprintf(j->storage_level, sizeof(j->storage_level), "%s",
	         conf_get_str(j->conf, "sluice.storage.level"));
	j->stop_on_failure =
	    strcmp(conf_get_str(j->conf, "sluice.batch.onFailure"), "stop") == 0;
	j->graceful_stop =
	    conf_get_bool(j->conf, "spark.streaming.stopGracefullyOnShutdown");
	(void)mc;
	j->pause_max_ms = conf_get_duration_ms(j->conf, "sluice.pause.maxDuration");
	j->run_cus = conf_get_int(j->conf, "sluice.run.cus");
	j->run_standalone =
	    strcmp(conf_get_str(j->conf, "sluice.run.mode"), "standalone") == 0;
	uint32_t states;
	char serr[128];
	if (alertrule_parse_states(conf_get_str(j->conf, "sluice.alerts.states"), &states,
	                           serr, sizeof(serr)) != 0) {
		snprintf(err, errlen, "sluice.alerts.states: %s", serr);
		return SL_ECONFIG;
	}
	return ratecontrol_init(j, err, errlen);
}

static int submit_check(struct engine *e, const Sluice__SubmitJob *s, rpc_reply *rep)
{
	char err[512];
	if (s->name == NULL || s->name[0] == '\0' || strlen(s->name) > 100)
		return rpc_reply_error(rep, SL_EJOB,
		                       "a job name of 1..100 characters is required");
	for (const char *p = s->name; *p; p++)
		if (!(*p == '-' || *p == '_' || *p == '.' || (*p >= '0' && *p <= '9') ||
		      (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return rpc_reply_error(rep, SL_EJOB,
			                       "job name '%s': use letters, digits, "
			                       "'-', '_' and '.'",
			                       s->name);
	if (jobs_find(e, s->name) != NULL)
		return rpc_reply_error(rep, SL_EEXIST, "a job named '%s' already exists",
		                       s->name);
	if (s->library.len == 0)
		return rpc_reply_error(rep, SL_EJOB, "job '%s': the job library is empty",
		                       s->name);
	if (s->batch_interval_ms < 10 || s->batch_interval_ms > 3600000)
		return rpc_reply_error(rep, SL_EJOB,
		                       "batch interval must be 10ms..1h, got %lld ms",
		                       (long long)s->batch_interval_ms);
	if (graph_validate_job(s->graph, s->batch_interval_ms, err, sizeof(err)) != SL_OK)
		return rpc_reply_error(rep, SL_EJOB, "job '%s': %s", s->name, err);
	return SL_OK;
}

static int job_store(job *j, char *err, size_t errlen)
{
	sqlite3 *db = store_db(j->e->m->db);
	sqlite3_stmt *st = NULL;
	int rv = SL_EDB;
	size_t glen = sluice__job_graph__get_packed_size(j->graph);
	uint8_t *g = sl_malloc(glen ? glen : 1);
	sluice__job_graph__pack(j->graph, g);
	char *conf = jobdef_conf_json(&j->def);
	store_begin(j->e->m->db);
	if (sqlite3_prepare_v2(
	        db,
	        "INSERT OR IGNORE INTO libraries(hash, size, data, stored_ms) "
	        "VALUES (?,?,?,?)",
	        -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, j->lib_hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)j->def.library_len);
	sqlite3_bind_blob(st, 3, j->def.library, (int)j->def.library_len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, clock_wall_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db,
	                       "INSERT INTO jobs(name, state, library_hash, graph, conf, "
	                       "batch_interval_ms, created_ms, start_ms, next_batch_ms) "
	                       "VALUES (?,?,?,?,?,?,?,?,?)",
	                       -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(st, 1, j->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, job_state_name(j->state), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, j->lib_hash, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, g, (int)glen, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, conf, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, j->interval_ms);
	sqlite3_bind_int64(st, 7, j->created_ms);
	sqlite3_bind_int64(st, 8, j->next_batch_ms);
	sqlite3_bind_int64(st, 9, j->next_batch_ms);
	if (sqlite3_step(st) != SQLITE_DONE) {
		if (sqlite3_extended_errcode(db) != SQLITE_CONSTRAINT_UNIQUE)
			goto fail;
		snprintf(err, errlen,
		         "a job of that name already exists in the state store");
		rv = SL_EEXIST;
		store_rollback(j->e->m->db);
		goto out;
	}
	j->id = (uint64_t)sqlite3_last_insert_rowid(db);
	rv = store_commit(j->e->m->db);
	goto out;
fail:
	snprintf(err, errlen, "state store: %s", sqlite3_errmsg(db));
	store_rollback(j->e->m->db);
out:
	sqlite3_finalize(st);
	sl_free(g);
	sl_free(conf);
	return rv;
}

void job_free(job *j)
{
	rtracker_stop(&j->rt);
	kafka_free(&j->kafka);
	stateplan_free(j);
	lifecycle_free(j);
	ratecontrol_free(j);
	for (size_t i = 0; i < j->nbatches; i++)
		batch_free(j->batches[i]);
	for (size_t i = 0; i < j->nretiring; i++)
		batch_free(j->retiring[i]);
	sl_free(j->retiring);
	for (size_t i = 0; i < j->nkept; i++)
		batch_free(j->kept[i]);
	sl_free(j->kept);
	for (size_t i = 0; i < j->nkoff; i++)
		sl_free(j->koff[i].topic);
	sl_free(j->koff);
	for (size_t i = 0; i < j->nhist; i++) {
		sl_free(j->hist[i].error);
		for (size_t k = 0; k < j->hist[i].noutput; k++)
			sl_free(j->hist[i].output[k]);
		sl_free(j->hist[i].output);
		for (size_t k = 0; k < j->hist[i].noffsets; k++)
			sl_free(j->hist[i].offsets[k]);
		sl_free(j->hist[i].offsets);
	}
	for (size_t i = 0; i < j->nseen; i++)
		sl_free(j->seen_files[i]);
	sl_free(j->seen_files);
	sl_free(j->batches);
	rtracker_fini(&j->rt); /* after the batches: it owns their blocks */
	conf_free(j->conf);
	jobdef_free(&j->def);
	sl_free(j->name);
	sl_free(j);
}

static int handle_submit(struct engine *e, const envelope *req, rpc_reply *rep)
{
	char err[512];
	Sluice__SubmitJob *s =
	    sluice__submit_job__unpack(NULL, req->payload_len, req->payload);
	if (s == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed SubmitJob");
	int rv = submit_check(e, s, rep);
	if (rv != SL_OK) {
		log_warn("refused job submission from %s: %s", rep->peer, rep->errmsg);
		sluice__submit_job__free_unpacked(s, NULL);
		return rv;
	}
	job *j = sl_calloc(1, sizeof(*j));
	j->e = e;
	jobdef_from_submit(&j->def, s);
	j->graph = j->def.graph;
	j->name = sl_strdup(s->name);
	j->interval_ms = s->batch_interval_ms;
	j->created_ms = clock_wall_ms();
	/* Batches fall on multiples of the interval (JobGenerator alignment). */
	j->next_batch_ms = (j->created_ms / j->interval_ms + 1) * j->interval_ms;
	memcpy(j->lib_hash, j->def.lib_hash, sizeof(j->lib_hash));
	const char *libname = s->library_name;
	j->state = s->start ? JOB_RUNNING : JOB_PUBLISHED;
	if ((rv = job_conf_apply(j, err, sizeof(err))) != SL_OK ||
	    (s->start && (rv = runconf_check_start(j, err, sizeof(err))) != SL_OK) ||
	    (rv = job_kafka_init(j, err, sizeof(err))) != SL_OK ||
	    (rv = job_store(j, err, sizeof(err))) != SL_OK) {
		/* The reply names the job: format it before job_free frees s. */
		rv = rpc_reply_error(rep, rv, "job '%s': %s", j->name, err);
		job_free(j);
		sluice__submit_job__free_unpacked(s, NULL);
		return rv;
	}
	job_rtracker_init(j);
	j->live = true;
	e->jobs = sl_realloc(e->jobs, (e->njobs + 1) * sizeof(*e->jobs));
	e->jobs[e->njobs++] = j;
	char who[160];
	snprintf(who, sizeof(who), "%s@%s", req->sender, rep->peer);
	job_transition_to(j, JOB_PUBLISHED, who, "submitted");
	if (s->start)
		job_transition_to(j, JOB_RUNNING, who, "started at submission");
	log_info("job %s (id %llu) submitted from %s: library %s (%zu bytes, sha256 "
	         "%.16s), %zu "
	         "graph nodes, batch interval %lld ms, first batch at %lld",
	         j->name, (unsigned long long)j->id, rep->peer, libname,
	         j->def.library_len, j->lib_hash, j->graph->n_nodes,
	         (long long)j->interval_ms, (long long)j->next_batch_ms);
	sluice__submit_job__free_unpacked(s, NULL);
	Sluice__SubmitJobReply out = SLUICE__SUBMIT_JOB_REPLY__INIT;
	out.job_id = j->id;
	out.library_hash = j->lib_hash;
	rpc_reply_set(rep, MSG_SUBMIT_JOB_REPLY, &out);
	return SL_OK;
}

static int handle_list(struct engine *e, rpc_reply *rep)
{
	Sluice__ListJobsReply out = SLUICE__LIST_JOBS_REPLY__INIT;
	Sluice__JobInfo *infos = sl_calloc(e->njobs + 1, sizeof(*infos));
	Sluice__JobInfo **ptrs = sl_calloc(e->njobs + 1, sizeof(*ptrs));
	for (size_t i = 0; i < e->njobs; i++) {
		job *j = e->jobs[i];
		Sluice__JobInfo *ji = &infos[i];
		sluice__job_info__init(ji);
		ji->id = j->id;
		ji->name = j->name;
		ji->state = (char *)job_shown_state(j);
		ji->batch_interval_ms = j->interval_ms;
		ji->batches_done = j->batches_done;
		ji->batches_failed = j->batches_failed;
		ji->records = j->records;
		ji->last_batch_ms = j->last_batch_ms;
		ji->error = j->error;
		ji->created_ms = j->created_ms;
		ji->receivers = (uint32_t)j->rt.nrcv;
		ji->batches_running = (uint32_t)j->nbatches;
		ji->library_hash = j->lib_hash;
		ptrs[i] = ji;
	}
	out.n_jobs = e->njobs;
	out.jobs = ptrs;
	rpc_reply_set(rep, MSG_LIST_JOBS_REPLY, &out);
	sl_free(ptrs);
	sl_free(infos);
	return SL_OK;
}

static int handle_control(struct engine *e, const envelope *req, rpc_reply *rep)
{
	Sluice__JobControl *c =
	    sluice__job_control__unpack(NULL, req->payload_len, req->payload);
	if (c == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed JobControl");
	int rv = SL_OK;
	job *j = jobs_find(e, c->job);
	char who[160], err[512];
	snprintf(who, sizeof(who), "%s@%s", req->sender, rep->peer);
	if (j == NULL)
		rv = rpc_reply_error(rep, SL_ENOTFOUND, "no job named '%s'", c->job);
	else if ((rv = lifecycle_control(j, c->action, c->graceful, who, c->reason, err,
	                                 sizeof(err))) != SL_OK)
		rv = rpc_reply_error(rep, rv, "%s", err);
	if (rv == SL_OK) {
		Sluice__JobControlReply out = SLUICE__JOB_CONTROL_REPLY__INIT;
		out.state = (char *)job_shown_state(j);
		rpc_reply_set(rep, MSG_JOB_CONTROL_REPLY, &out);
	}
	sluice__job_control__free_unpacked(c, NULL);
	return rv;
}

static int handle_fetch_library(struct engine *e, const envelope *req, rpc_reply *rep)
{
	Sluice__FetchLibrary *f =
	    sluice__fetch_library__unpack(NULL, req->payload_len, req->payload);
	if (f == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed FetchLibrary");
	job *j = jobs_find_id(e, f->job_id);
	sluice__fetch_library__free_unpacked(f, NULL);
	if (j == NULL || j->graph == NULL)
		return rpc_reply_error(rep, SL_ENOTFOUND, "no such job");
	Sluice__FetchLibraryReply out = SLUICE__FETCH_LIBRARY_REPLY__INIT;
	out.job_id = j->id;
	out.name = j->name;
	out.library_hash = j->lib_hash;
	out.library.data = j->def.library;
	out.library.len = j->def.library_len;
	out.graph = (Sluice__JobGraph *)j->graph;
	out.n_conf = j->def.nconf;
	out.conf = jobdef_conf_entries(&j->def);
	out.batch_interval_ms = j->interval_ms;
	rpc_reply_set(rep, MSG_FETCH_LIBRARY_REPLY, &out);
	jobdef_conf_entries_free(out.conf, out.n_conf);
	return SL_OK;
}

static int handle_batch_stats(struct engine *e, const envelope *req, rpc_reply *rep)
{
	Sluice__BatchStats *q =
	    sluice__batch_stats__unpack(NULL, req->payload_len, req->payload);
	if (q == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed BatchStats");
	job *j = jobs_find(e, q->job);
	if (j == NULL) {
		int rv = rpc_reply_error(rep, SL_ENOTFOUND, "no job named '%s'", q->job);
		sluice__batch_stats__free_unpacked(q, NULL);
		return rv;
	}
	size_t cap = j->nhist + j->nbatches, n = 0;
	uint32_t limit = q->limit ? q->limit : 100;
	Sluice__BatchInfo *infos = sl_calloc(cap + 1, sizeof(*infos));
	Sluice__BatchInfo **ptrs = sl_calloc(cap + 1, sizeof(*ptrs));
	size_t start = j->nhist < BATCH_HISTORY ? 0 : j->hist_next;
	for (size_t k = 0; k < j->nhist && n < limit; k++) {
		batch_summary *h = &j->hist[(start + k) % BATCH_HISTORY];
		if (h->time_ms <= q->after_batch_ms)
			continue;
		Sluice__BatchInfo *bi = &infos[n];
		sluice__batch_info__init(bi);
		bi->batch_ms = h->time_ms;
		bi->state = h->state == BATCH_DONE ? "DONE" : "FAILED";
		bi->input_records = h->input_records;
		bi->scheduling_delay_ms = h->sched_ms;
		bi->processing_ms = h->proc_ms;
		bi->total_delay_ms = h->total_ms;
		bi->first_task_ms = h->first_task_ms;
		bi->tasks = h->tasks;
		bi->task_failures = h->task_failures;
		bi->error = h->error ? h->error : "";
		bi->output = h->output;
		bi->n_output = h->noutput;
		bi->offset_ranges = h->offsets;
		bi->n_offset_ranges = h->noffsets;
		ptrs[n++] = bi;
	}
	for (size_t k = 0; k < j->nbatches && n < limit; k++) {
		/* an ended batch kept for a re-run is in the history already */
		if (j->batches[k]->time_ms <= q->after_batch_ms ||
		    j->batches[k]->state == BATCH_FAILED)
			continue;
		batch_summarise(j, j->batches[k], &infos[n]);
		ptrs[n] = &infos[n];
		n++;
	}
	Sluice__BatchStatsReply out = SLUICE__BATCH_STATS_REPLY__INIT;
	out.job_state = (char *)job_shown_state(j);
	ratecontrol_status(j, &out.rate, &out.blocked_share);
	out.blocked_level = (char *)ratecontrol_level(out.blocked_share);
	ratecontrol_receivers(j, &out);
	stateplan_size(j, &out.state_keys, &out.state_bytes);
	stateplan_events(j, &out.late_records, &out.watermark_ms);
	out.n_batches = n;
	out.batches = ptrs;
	rpc_reply_set(rep, MSG_BATCH_STATS_REPLY, &out);
	ratecontrol_receivers_free(&out);
	sl_free(ptrs);
	sl_free(infos);
	sluice__batch_stats__free_unpacked(q, NULL);
	return SL_OK;
}

static int handle_add_block(struct engine *e, const envelope *req, rpc_reply *rep)
{
	Sluice__AddBlock *a =
	    sluice__add_block__unpack(NULL, req->payload_len, req->payload);
	if (a == NULL)
		return rpc_reply_error(rep, SL_EPROTO, "malformed AddBlock");
	int rv = rtracker_check_add_block(a, rep);
	job *j = rv == SL_OK ? jobs_find_id(e, a->job_id) : NULL;
	if (j != NULL && j->state == JOB_RUNNING && rtracker_add_block(&j->rt, a)) {
		ratecontrol_note_receiver(j, a->receiver_id, a->blocked_share, a->rate);
		/* durable at the next tick (engine_flush); the window is in
		 * docs/recovery.md */
		job_checkpoint(j);
	}
	sluice__add_block__free_unpacked(a, NULL);
	if (rv != SL_OK)
		return rv;
	Sluice__AddBlockReply out = SLUICE__ADD_BLOCK_REPLY__INIT;
	rpc_reply_set(rep, MSG_ADD_BLOCK_REPLY, &out);
	return SL_OK;
}

static int handle_task_status(struct engine *e, const envelope *req, rpc_reply *rep)
{
	int rv = sched_handle_status(e->sched, req, rep);
	/* Schedule what this completion unblocked now, not at the next tick. */
	engine_kick(e);
	return rv;
}

void sched_broadcast_remove(struct engine *e, const char *prefix, rblock **blocks,
                            size_t n)
{
	sched_remove_data(e->sched, prefix, blocks, n);
}

/* The checkpointer's completion (its thread, no lock held). */
static void engine_checkpoint_done(void *arg, uint64_t job_id, uint64_t seq, int rv,
                                   const char *err)
{
	struct engine *e = arg;
	pthread_mutex_lock(&e->m->lock);
	job *j = jobs_find_id(e, job_id);
	if (j != NULL && rv == SL_OK && seq > j->ckpt_durable) {
		j->ckpt_durable = seq;
		batches_retire(j);
	} else if (j != NULL && rv != SL_OK) {
		log_error(
		    "job %s: checkpoint %llu not written (%s); batches wait for it, "
		    "retrying in 1 s",
		    j->name, (unsigned long long)seq, err);
		j->ckpt_dirty = true;
		j->ckpt_retry_mono = clock_mono_ms() + 1000;
	}
	if (!e->stopping)
		engine_kick(e);
	pthread_mutex_unlock(&e->m->lock);
}

static ckpt_job *job_snapshot(job *j)
{
	ckpt_job *c = sl_calloc(1, sizeof(*c));
	c->job_id = j->id;
	snprintf(c->state, sizeof(c->state), "%s", job_state_name(j->state));
	c->error = sl_strdup(j->error);
	c->next_batch_ms = j->next_batch_ms;
	c->last_batch_ms = j->last_batch_ms;
	c->rate_state = ratecontrol_snapshot(j);
	c->records = j->records;
	c->batches_done = j->batches_done;
	c->batches_failed = j->batches_failed;
	lifecycle_snapshot(j, c);
	batches_snapshot(j, c);
	rtracker_snapshot(&j->rt, c);
	return c;
}

/* Queues one checkpoint per job that changed: at most one per job per tick
 * or handler, built under the lock, written by the checkpointer thread. */
static void engine_flush(struct engine *e)
{
	int64_t now = clock_mono_ms();
	for (size_t i = 0; i < e->njobs && !e->stopping; i++) {
		job *j = e->jobs[i];
		if (!j->ckpt_dirty || now < j->ckpt_retry_mono)
			continue;
		j->ckpt_dirty = false;
		checkpointer_submit(e->ckpt, job_snapshot(j), ++j->ckpt_seq);
	}
}

int engine_new(master *m, struct engine **out, char *err, size_t errlen)
{
	struct engine *e = sl_calloc(1, sizeof(*e));
	char path[1200];
	long long epoch = 0;
	e->m = m;
	/* Workers may still report tasks of the master that ran before us:
	 * task ids start past any it can have used (ms clock x 4096). */
	e->sched =
	    sched_new(m->cl, &m->lock, &plan_sched_ops, (uint64_t)clock_wall_ms() << 12);
	if (e->sched == NULL) {
		snprintf(err, errlen,
		         "cannot start the task scheduler's sender thread "
		         "(out of threads or memory)");
		sl_free(e);
		return SL_ENOMEM;
	}
	e->rtenv = (rtracker_env){.cl = m->cl,
	                          .lock = &m->lock,
	                          .sched = e->sched,
	                          .find = job_rtracker_find,
	                          .arg = e,
	                          .receiver_rate = job_receiver_rate};
	store_meta_get_int(m->db, "master_epoch", 0, &epoch);
	e->epoch = (uint32_t)epoch + 1;
	store_meta_set_int(m->db, "master_epoch", e->epoch);
	snprintf(path, sizeof(path), "%s/master.db", m->state_dir);
	int rv =
	    checkpointer_start(path, engine_checkpoint_done, e, &e->ckpt, err, errlen);
	if (rv == SL_OK)
		rv = jobs_recover(e, cluster_timeout_ms(m->cl), err, errlen);
	if (rv != SL_OK) {
		engine_stop(e);
		engine_free(e);
		return rv;
	}
	*out = e;
	return SL_OK;
}

void engine_stop(struct engine *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&e->m->lock);
	engine_flush(e); /* the last changes */
	e->stopping = true;
	pthread_mutex_unlock(&e->m->lock);
	checkpointer_stop(e->ckpt);
	e->ckpt = NULL;
}

void engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	sched_stop(e->sched); /* no launch completion runs into freed jobs */
	for (size_t i = 0; i < e->njobs; i++)
		job_free(e->jobs[i]);
	sl_free(e->jobs);
	sched_free(e->sched);
	sl_free(e);
}

int engine_handle(struct engine *e, const envelope *req, rpc_reply *rep)
{
	switch (req->type) {
	case MSG_SUBMIT_JOB:
		return handle_submit(e, req, rep);
	case MSG_LIST_JOBS:
		return handle_list(e, rep);
	case MSG_JOB_CONTROL: {
		int rv = handle_control(e, req, rep);
		engine_flush(e);
		return rv;
	}
	case MSG_BATCH_STATS:
		return handle_batch_stats(e, req, rep);
	case MSG_FETCH_LIBRARY:
		return handle_fetch_library(e, req, rep);
	case MSG_TASK_STATUS:
		return handle_task_status(e, req, rep);
	case MSG_ADD_BLOCK: /* checkpointed at the next tick, with its peers */
		return handle_add_block(e, req, rep);
	default:
		return SL_EUNKNOWN_TYPE;
	}
}

/* What the layers below reported in job.halt (a batch failed for good, a
 * Kafka source cannot be planned) fails the job here, at the top. */
static void jobs_apply_halts(struct engine *e)
{
	for (size_t i = 0; i < e->njobs; i++) {
		job *j = e->jobs[i];
		if (j->halt[0] == '\0')
			continue;
		job_fail(j, "%s", j->halt);
		j->halt[0] = '\0';
	}
}

void engine_kick(struct engine *e)
{
	for (size_t i = 0; i < e->njobs; i++)
		batches_start_ojobs(e->jobs[i]);
	sched_run(e->sched);
	for (size_t i = 0; i < e->njobs; i++)
		batches_check_done(e->jobs[i]);
	jobs_apply_halts(e);
	/* Retiring a batch frees slots for the next output job. */
	for (size_t i = 0; i < e->njobs; i++)
		batches_start_ojobs(e->jobs[i]);
	sched_run(e->sched);
	engine_flush(e);
}

void engine_tick(struct engine *e)
{
	int64_t now = clock_wall_ms();
	for (size_t i = 0; i < e->njobs; i++) {
		job *j = e->jobs[i];
		/* a standalone job's one worker, picked again if it is gone; the
		 * tracker and the planned stages read it (rt.pin, stage.pin) */
		if (!j->run_standalone)
			j->run_worker[0] = '\0';
		else if (j->state == JOB_RUNNING || j->state == JOB_PAUSED)
			runconf_worker(j);
		if (j->state == JOB_RUNNING || j->state == JOB_PAUSED)
			rtracker_tick(&j->rt); /* a paused job's receivers go on */
		if (j->state == JOB_RUNNING) {
			batches_generate(j, now);
			if (j->halt[0] != '\0') {
				job_fail(j, "%s", j->halt);
				j->halt[0] = '\0';
			}
			joblag_tick(j, clock_mono_ms());
		}
		lifecycle_tick(j, now);
	}
	engine_kick(e);
}

void engine_worker_tasks(struct engine *e, worker_entry *w, const uint64_t *tasks,
                         size_t ntasks)
{
	if (sched_worker_tasks(e->sched, w->id, w->prev_hb_mono, tasks, ntasks) > 0)
		engine_kick(e);
}

void engine_worker_event(struct engine *e, worker_entry *w, bool lost)
{
	if (!lost) {
		for (size_t i = 0; i < e->njobs; i++) {
			if (e->jobs[i]->state == JOB_RUNNING ||
			    e->jobs[i]->state == JOB_PAUSED)
				if (rtracker_worker_back(&e->jobs[i]->rt, w))
					job_checkpoint(e->jobs[i]);
			jobdrop_worker_back(e->jobs[i], w); /* a stopped job's files */
		}
		return;
	}
	sched_worker_lost(e->sched, w->id);
	for (size_t i = 0; i < e->njobs; i++) {
		if (rtracker_worker_lost(&e->jobs[i]->rt, w->id))
			job_checkpoint(e->jobs[i]);
		stateplan_worker_lost(e->jobs[i], w->id);
	}
}
