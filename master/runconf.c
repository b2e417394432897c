/*
 * Run configuration: the capacity check at start (runconf.h). CUs are a
 * reservation the master accounts for, not a placement: a job that fits is
 * scheduled on the free slots as any job.
 */
#include "runconf.h"

#include "alloc.h"
#include "chgate.h"
#include "kafka_src.h"
#include "log.h"
#include "ratecontrol.h"

#include "sluice/err.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CUs one worker offers. */
static int64_t worker_cus(const worker_entry *w, int64_t cu_mem)
{
	int64_t by_mem = (int64_t)(w->memory / (uint64_t)cu_mem);
	return by_mem < (int64_t)w->slots ? by_mem : (int64_t)w->slots;
}

/* CUs of the other RUNNING or PAUSED standalone jobs placed on w. */
static int64_t pinned_cus(const job *j, const worker_entry *w)
{
	int64_t n = 0;
	for (size_t i = 0; i < j->e->njobs; i++) {
		const job *o = j->e->jobs[i];
		if (o != j && o->run_standalone && strcmp(o->run_worker, w->id) == 0 &&
		    (o->state == JOB_RUNNING || o->state == JOB_PAUSED))
			n += o->run_cus;
	}
	return n;
}

worker_entry *runconf_worker(job *j)
{
	if (!j->run_standalone)
		return NULL;
	cluster *cl = j->e->m->cl;
	worker_entry *w = cluster_find(cl, j->run_worker);
	if (j->run_worker[0] && w != NULL && w->state == WORKER_ALIVE)
		return w;
	int64_t cu_mem = conf_get_bytes(j->e->m->conf, "sluice.cu.memory"),
	        best_free = -1;
	worker_entry *best = NULL;
	for (size_t i = 0; i < cluster_count(cl); i++) {
		worker_entry *c = cluster_at(cl, i);
		int64_t f = worker_cus(c, cu_mem) - pinned_cus(j, c);
		if (c->state == WORKER_ALIVE && c->client != NULL && f > best_free) {
			best_free = f;
			best = c;
		}
	}
	if (best != NULL && strcmp(best->id, j->run_worker) != 0) {
		if (j->run_worker[0])
			log_warn(
			    "job %s (standalone): its worker %s is gone, moving to %s",
			    j->name, j->run_worker, best->id);
		snprintf(j->run_worker, sizeof(j->run_worker), "%s", best->id);
	}
	return best;
}

int runconf_check_start(job *j, char *err, size_t errlen)
{
	if (chgate_check_start(j, err, errlen) != SL_OK)
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
	if (j->run_cus <= free_cus && (!j->run_standalone || j->run_cus <= largest)) {
		j->run_worker[0] = '\0'; /* a standalone job picks its worker anew */
		runconf_worker(j);
		return SL_OK;
	}
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

/* ---- run-config: view and change (REST /api/v1/jobs/{job}/run-config) ---- */

/* Keys run-config may change. */
static bool run_key(const char *k)
{
	return strncmp(k, "spark.", 6) == 0 || strcmp(k, "sluice.run.mode") == 0 ||
	       strcmp(k, "sluice.run.cus") == 0;
}

/* Keys that take effect while the job runs. */
static bool live_key(const char *k)
{
	return strcmp(k, "spark.streaming.receiver.maxRate") == 0 ||
	       strcmp(k, "spark.streaming.kafka.maxRatePerPartition") == 0;
}

static const char *def_get(const job *j, const char *key)
{
	for (size_t i = 0; i < j->def.nconf; i++)
		if (strcmp(j->def.conf_keys[i], key) == 0)
			return j->def.conf_values[i];
	return NULL;
}

static void def_put(job *j, const char *key, const char *value)
{
	jobdef *d = &j->def;
	for (size_t i = 0; i < d->nconf; i++)
		if (strcmp(d->conf_keys[i], key) == 0) {
			sl_free(d->conf_values[i]);
			d->conf_values[i] = sl_strdup(value);
			return;
		}
	d->conf_keys = sl_realloc(d->conf_keys, (d->nconf + 1) * sizeof(char *));
	d->conf_values = sl_realloc(d->conf_values, (d->nconf + 1) * sizeof(char *));
	d->conf_keys[d->nconf] = sl_strdup(key);
	d->conf_values[d->nconf++] = sl_strdup(value);
}

cJSON *runconf_json(const job *j)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "job", j->name);
	cJSON_AddStringToObject(o, "mode", j->run_standalone ? "standalone" : "cluster");
	cJSON_AddNumberToObject(o, "cus", (double)j->run_cus);
	const char *kr = def_get(j, "spark.streaming.kafka.maxRatePerPartition");
	cJSON *r = cJSON_AddObjectToObject(o, "input_rate");
	cJSON_AddNumberToObject(r, "receiver_max_rate", (double)j->max_rate);
	cJSON_AddNumberToObject(r, "kafka_max_rate_per_partition", kr ? atof(kr) : 0);
	cJSON *c = cJSON_AddObjectToObject(o, "conf");
	for (size_t i = 0; i < j->def.nconf; i++)
		if (run_key(j->def.conf_keys[i]))
			cJSON_AddStringToObject(c, j->def.conf_keys[i],
			                        j->def.conf_values[i]);
	return o;
}

/* Checks the job's configuration with set's keys over it; names the key. */
static int check_set(const job *j, const cJSON *set, char *err, size_t errlen)
{
	if (!cJSON_IsObject(set) || cJSON_GetArraySize(set) == 0) {
		snprintf(err, errlen, "expected \"set\": an object of one or more keys");
		return SL_EINVAL;
	}
	sl_conf *c = conf_new(CONF_APP_KEYS);
	int rv = SL_OK;
	for (size_t i = 0; rv == SL_OK && i < j->def.nconf; i++)
		rv = conf_set(c, j->def.conf_keys[i], j->def.conf_values[i], err, errlen);
	const cJSON *kv;
	cJSON_ArrayForEach(kv, set)
	{
		if (rv != SL_OK)
			break;
		if (!run_key(kv->string)) {
			snprintf(err, errlen,
			         "%.100s: not a run configuration key (spark.*, "
			         "sluice.run.mode, sluice.run.cus)",
			         kv->string);
			rv = SL_EINVAL;
		} else if (!cJSON_IsString(kv)) {
			snprintf(err, errlen, "%.100s: the value must be a string",
			         kv->string);
			rv = SL_EINVAL;
		} else {
			rv = conf_set(c, kv->string, kv->valuestring, err, errlen);
		}
	}
	conf_free(c);
	return rv == SL_OK ? SL_OK : SL_EINVAL;
}

/* A live key of a RUNNING or PAUSED job: applied now. */
static void apply_live(job *j, const char *key, const char *value)
{
	char err[256];
	conf_set(j->conf, key, value, err, sizeof(err)); /* checked by check_set */
	if (strcmp(key, "spark.streaming.receiver.maxRate") == 0) {
		j->max_rate = conf_get_int(j->conf, key);
		ratecontrol_set_receiver_max(j, j->max_rate);
	} else {
		kafka_set_max_rate(&j->kafka, conf_get_int(j->conf, key));
	}
	log_info("job %s: %s=%s applied live", j->name, key, value);
}

int runconf_set(job *j, const cJSON *set, cJSON *applied, char *err, size_t errlen)
{
	int rv = check_set(j, set, err, errlen);
	if (rv != SL_OK)
		return rv;
	bool running = j->state == JOB_RUNNING || j->state == JOB_PAUSED;
	const cJSON *kv;
	cJSON_ArrayForEach(kv, set)
	{
		def_put(j, kv->string, kv->valuestring);
		bool now = running && live_key(kv->string);
		if (now)
			apply_live(j, kv->string, kv->valuestring);
		cJSON_AddStringToObject(applied, kv->string, now ? "live" : "next start");
	}
	return SL_OK;
}

void runconf_persist(master *m, uint64_t job_id, const char *conf_json)
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/master.db", m->state_dir);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 10000);
		rc = sqlite3_prepare_v2(db, "UPDATE jobs SET conf = ? WHERE id = ?", -1,
		                        &st, NULL);
	}
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, conf_json, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)job_id);
		rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	}
	if (rc != SQLITE_OK)
		log_warn("run-config of job %llu not stored: %s",
		         (unsigned long long)job_id,
		         db ? sqlite3_errmsg(db) : "cannot open the state store");
	sqlite3_finalize(st);
	sqlite3_close(db);
}
