/*
 * Operations views of one job that the REST API and the CLI share
 * (jobviews.h): the summary (totals, then records and batch aggregates per
 * minute and per hour), the configuration export with the job's graph, and
 * its import, which publishes the same job again from the library the
 * master already holds (found by its SHA-256) — the import file carries the
 * hash, never the library.
 */
#include "jobviews.h"

#include "alloc.h"
#include "log.h"
#include "msgtypes.h"
#include "sluice/err.h"

#include <mbedtls/base64.h>
#include <stdio.h>
#include <string.h>

/* ---- summary ---- */

typedef struct {
	int64_t start_ms;
	uint64_t batches, failed, records;
	int64_t proc_sum, delay_max;
} bucket;

static cJSON *bucket_json(const bucket *b, int64_t span_ms)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "start_ms", (double)b->start_ms);
	cJSON_AddNumberToObject(o, "batches", (double)b->batches);
	cJSON_AddNumberToObject(o, "batches_failed", (double)b->failed);
	cJSON_AddNumberToObject(o, "records", (double)b->records);
	cJSON_AddNumberToObject(o, "records_per_second",
	                        (double)b->records * 1000.0 / (double)span_ms);
	cJSON_AddNumberToObject(o, "mean_processing_ms",
	                        b->batches ? (double)b->proc_sum / (double)b->batches
	                                   : 0);
	cJSON_AddNumberToObject(o, "max_total_delay_ms", (double)b->delay_max);
	return o;
}

/* Groups the job's finished batches (oldest first) into spans of span_ms. */
static cJSON *buckets(const job *j, int64_t span_ms)
{
	cJSON *a = cJSON_CreateArray();
	size_t start = j->nhist < BATCH_HISTORY ? 0 : j->hist_next;
	bucket cur = {.start_ms = -1};
	for (size_t k = 0; k < j->nhist; k++) {
		const batch_summary *h = &j->hist[(start + k) % BATCH_HISTORY];
		int64_t s = h->time_ms / span_ms * span_ms;
		if (s != cur.start_ms) {
			if (cur.start_ms >= 0)
				cJSON_AddItemToArray(a, bucket_json(&cur, span_ms));
			cur = (bucket){.start_ms = s};
		}
		cur.batches++;
		cur.failed += h->state == BATCH_FAILED;
		cur.records += h->input_records;
		cur.proc_sum += h->proc_ms;
		cur.delay_max = h->total_ms > cur.delay_max ? h->total_ms : cur.delay_max;
	}
	if (cur.start_ms >= 0)
		cJSON_AddItemToArray(a, bucket_json(&cur, span_ms));
	return a;
}

cJSON *jobviews_summary(const job *j)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "job", j->name);
	cJSON_AddStringToObject(o, "state", job_shown_state(j));
	cJSON_AddNumberToObject(o, "total_records", (double)j->records);
	cJSON_AddNumberToObject(o, "batches_done", (double)j->batches_done);
	cJSON_AddNumberToObject(o, "batches_failed", (double)j->batches_failed);
	size_t first = j->nhist < BATCH_HISTORY ? 0 : j->hist_next;
	cJSON_AddNumberToObject(o, "history_batches", (double)j->nhist);
	cJSON_AddNumberToObject(o, "history_since_ms",
	                        j->nhist ? (double)j->hist[first].time_ms : 0);
	cJSON_AddItemToObject(o, "per_minute", buckets(j, 60 * 1000));
	cJSON_AddItemToObject(o, "per_hour", buckets(j, 3600 * 1000));
	return o;
}

/* ---- export and import ---- */

cJSON *jobviews_config(const job *j)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "name", j->name);
	cJSON_AddStringToObject(o, "library_hash", j->lib_hash);
	cJSON_AddNumberToObject(o, "batch_interval_ms", (double)j->interval_ms);
	cJSON *c = cJSON_AddObjectToObject(o, "conf");
	for (size_t i = 0; i < j->def.nconf; i++)
		cJSON_AddStringToObject(c, j->def.conf_keys[i], j->def.conf_values[i]);
	size_t glen = sluice__job_graph__get_packed_size(j->graph), olen = 0;
	uint8_t *g = sl_malloc(glen ? glen : 1);
	sluice__job_graph__pack(j->graph, g);
	size_t cap = (glen + 2) / 3 * 4 + 1;
	unsigned char *b64 = sl_malloc(cap);
	if (mbedtls_base64_encode(b64, cap, &olen, g, glen) != 0)
		olen = 0;
	b64[olen] = '\0';
	cJSON_AddStringToObject(o, "graph", (const char *)b64);
	sl_free(b64);
	sl_free(g);
	return o;
}

int jobviews_submit(master *m, const Sluice__SubmitJob *sj, const char *who,
                    const char *from, char *err, size_t errlen)
{
	size_t plen = sluice__submit_job__get_packed_size(sj);
	uint8_t *p = sl_malloc(plen ? plen : 1);
	sluice__submit_job__pack(sj, p);
	envelope env = {.type = MSG_SUBMIT_JOB,
	                .sender = who,
	                .payload = p,
	                .payload_len = plen,
	                .cred = AUTH_CRED_OPERATOR};
	rpc_reply rep = {.type = 0};
	snprintf(rep.peer, sizeof(rep.peer), "%.60s", from);
	int rv = engine_handle(m->engine, &env, &rep);
	if (rv != SL_OK)
		snprintf(err, errlen, "%s", rep.errmsg);
	sl_free(rep.payload);
	sl_free(p);
	return rv;
}

/* The library bytes of any job of the master with that hash, or NULL. */
static const jobdef *library_of(struct engine *e, const char *hash)
{
	for (size_t i = 0; i < e->njobs; i++)
		if (strcmp(e->jobs[i]->lib_hash, hash) == 0 && e->jobs[i]->def.library)
			return &e->jobs[i]->def;
	return NULL;
}

/* The import's fields; NULL when usable, else what is wrong. */
static const char *import_fields(const cJSON *o, const cJSON **name, const cJSON **hash,
                                 const cJSON **conf, const cJSON **graph, int64_t *iv)
{
	*name = cJSON_GetObjectItemCaseSensitive(o, "name");
	*hash = cJSON_GetObjectItemCaseSensitive(o, "library_hash");
	*conf = cJSON_GetObjectItemCaseSensitive(o, "conf");
	*graph = cJSON_GetObjectItemCaseSensitive(o, "graph");
	const cJSON *i = cJSON_GetObjectItemCaseSensitive(o, "batch_interval_ms");
	/* converted only within range (a double outside int64 is undefined);
	 * the engine's submit check names the limits of a kept value */
	*iv = cJSON_IsNumber(i) && i->valuedouble >= 0 && i->valuedouble <= 3600000
	          ? (int64_t)i->valuedouble
	          : 0;
	if (!cJSON_IsObject(o))
		return "a JSON object (sluice config export's output)";
	if (!cJSON_IsString(*name) || !cJSON_IsString(*hash) || !cJSON_IsString(*graph))
		return "name, library_hash and graph as strings";
	if (!cJSON_IsObject(*conf) || !cJSON_IsNumber(i))
		return "conf as an object and batch_interval_ms as a number";
	const cJSON *kv;
	cJSON_ArrayForEach(
	    kv, *conf) if (!cJSON_IsString(kv)) return "conf values as strings";
	return NULL;
}

/* Builds and submits the job through the engine's SubmitJob handler. */
static int import_submit(master *m, const cJSON *name, const jobdef *lib,
                         const cJSON *conf, Sluice__JobGraph *g, int64_t iv, bool start,
                         const char *who, char *err, size_t errlen)
{
	size_t n = (size_t)cJSON_GetArraySize(conf), k = 0;
	Sluice__SubmitJob__ConfEntry *ce = sl_calloc(n + 1, sizeof(*ce));
	Sluice__SubmitJob__ConfEntry **cp = sl_calloc(n + 1, sizeof(*cp));
	const cJSON *kv;
	cJSON_ArrayForEach(kv, conf)
	{
		sluice__submit_job__conf_entry__init(&ce[k]);
		ce[k].key = kv->string;
		ce[k].value = kv->valuestring;
		cp[k] = &ce[k];
		k++;
	}
	Sluice__SubmitJob sj = SLUICE__SUBMIT_JOB__INIT;
	sj.name = name->valuestring;
	sj.library.data = lib->library;
	sj.library.len = lib->library_len;
	sj.library_name = "(imported by hash)";
	sj.graph = g;
	sj.conf = cp;
	sj.n_conf = n;
	sj.batch_interval_ms = iv;
	sj.start = start;
	int rv = jobviews_submit(m, &sj, who, "config import", err, errlen);
	sl_free(cp);
	sl_free(ce);
	return rv;
}

int jobviews_import(master *m, const cJSON *o, bool start, const char *who, char *err,
                    size_t errlen)
{
	const cJSON *name, *hash, *conf, *graph;
	int64_t iv;
	const char *bad = import_fields(o, &name, &hash, &conf, &graph, &iv);
	if (bad != NULL) {
		snprintf(err, errlen, "request body: expected %s", bad);
		return SL_EINVAL;
	}
	const jobdef *lib = library_of(m->engine, hash->valuestring);
	if (lib == NULL) {
		snprintf(err, errlen,
		         "no library with SHA-256 %.64s on this master: submit the job "
		         "library instead",
		         hash->valuestring);
		return SL_ENOTFOUND;
	}
	size_t glen = strlen(graph->valuestring), olen = 0;
	uint8_t *gb = sl_malloc(glen + 1);
	Sluice__JobGraph *g = NULL;
	if (mbedtls_base64_decode(gb, glen + 1, &olen,
	                          (const unsigned char *)graph->valuestring, glen) == 0)
		g = sluice__job_graph__unpack(NULL, olen, gb);
	sl_free(gb);
	if (g == NULL) {
		snprintf(err, errlen,
		         "graph: not a base64 job graph (sluice config export)");
		return SL_EINVAL;
	}
	int rv = import_submit(m, name, lib, conf, g, iv, start, who, err, errlen);
	sluice__job_graph__free_unpacked(g, NULL);
	if (rv == SL_OK)
		log_info("job %s imported by %s (library %.16s)", name->valuestring, who,
		         hash->valuestring);
	return rv;
}
