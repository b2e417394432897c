/*
 * Job definitions: see jobdef.h.
 */
#include "jobdef.h"
#include "alloc.h"
#include "sluice/err.h"

#include <cjson/cJSON.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <string.h>

static void conf_add(jobdef *d, const char *k, const char *v)
{
	d->conf_keys = sl_realloc(d->conf_keys, (d->nconf + 1) * sizeof(char *));
	d->conf_values = sl_realloc(d->conf_values, (d->nconf + 1) * sizeof(char *));
	d->conf_keys[d->nconf] = sl_strdup(k);
	d->conf_values[d->nconf++] = sl_strdup(v);
}

static Sluice__JobGraph *graph_copy(const Sluice__JobGraph *g)
{
	size_t len = sluice__job_graph__get_packed_size(g);
	uint8_t *buf = sl_malloc(len ? len : 1);
	sluice__job_graph__pack(g, buf);
	Sluice__JobGraph *out = sluice__job_graph__unpack(NULL, len, buf);
	sl_free(buf);
	return out;
}

void jobdef_sha256_hex(const uint8_t *data, size_t len, char out[65])
{
	uint8_t h[32];
	mbedtls_sha256_ret(data, len, h, 0);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

void jobdef_from_submit(jobdef *d, const Sluice__SubmitJob *s)
{
	memset(d, 0, sizeof(*d));
	d->library_len = s->library.len;
	d->library = sl_malloc(s->library.len ? s->library.len : 1);
	memcpy(d->library, s->library.data, s->library.len);
	jobdef_sha256_hex(s->library.data, s->library.len, d->lib_hash);
	d->graph = graph_copy(s->graph);
	for (size_t i = 0; i < s->n_conf; i++)
		conf_add(d, s->conf[i]->key, s->conf[i]->value);
}

void jobdef_free(jobdef *d)
{
	for (size_t i = 0; i < d->nconf; i++) {
		sl_free(d->conf_keys[i]);
		sl_free(d->conf_values[i]);
	}
	sl_free(d->conf_keys);
	sl_free(d->conf_values);
	sl_free(d->library);
	if (d->graph)
		sluice__job_graph__free_unpacked(d->graph, NULL);
	memset(d, 0, sizeof(*d));
}

char *jobdef_conf_json(const jobdef *d)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; i < d->nconf; i++)
		cJSON_AddItemToObject(o, d->conf_keys[i],
		                      cJSON_CreateString(d->conf_values[i]));
	char *txt = cJSON_PrintUnformatted(o);
	char *out = sl_strdup(txt ? txt : "{}");
	cJSON_free(txt);
	cJSON_Delete(o);
	return out;
}

static int conf_from_json(jobdef *d, const char *json, char *err, size_t errlen)
{
	cJSON *o = cJSON_Parse(json);
	if (o == NULL || !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		snprintf(err, errlen, "stored configuration is not a JSON object");
		return SL_EJOB;
	}
	const cJSON *it;
	cJSON_ArrayForEach(it, o)
	{
		if (!cJSON_IsString(it)) {
			snprintf(err, errlen,
			         "stored configuration key '%s' is not a string",
			         it->string);
			cJSON_Delete(o);
			return SL_EJOB;
		}
		conf_add(d, it->string, it->valuestring);
	}
	cJSON_Delete(o);
	return SL_OK;
}

static int library_load(jobdef *d, sqlite3 *db, const char *hash, char *err,
                        size_t errlen)
{
	sqlite3_stmt *st;
	int rv = SL_EJOB;
	snprintf(err, errlen, "its library %.16s... is not in the state store", hash);
	if (sqlite3_prepare_v2(db, "SELECT data FROM libraries WHERE hash = ?", -1, &st,
	                       NULL) != SQLITE_OK)
		return SL_EDB;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		d->library_len = (size_t)sqlite3_column_bytes(st, 0);
		d->library = sl_malloc(d->library_len ? d->library_len : 1);
		memcpy(d->library, sqlite3_column_blob(st, 0), d->library_len);
		jobdef_sha256_hex(d->library, d->library_len, d->lib_hash);
		if (strcmp(d->lib_hash, hash) == 0)
			rv = SL_OK;
		else
			snprintf(
			    err, errlen,
			    "the stored library does not match the job: the job was "
			    "submitted with sha256 %s, the stored library hashes to %s",
			    hash, d->lib_hash);
	}
	sqlite3_finalize(st);
	return rv;
}

int jobdef_load(jobdef *d, sqlite3 *db, const char *lib_hash, const void *graph,
                size_t graph_len, const char *conf_json, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	int rv = library_load(d, db, lib_hash, err, errlen);
	if (rv == SL_OK) {
		d->graph = sluice__job_graph__unpack(NULL, graph_len, graph);
		if (d->graph == NULL) {
			snprintf(err, errlen, "its stored graph cannot be read");
			rv = SL_EJOB;
		}
	}
	if (rv == SL_OK)
		rv = conf_from_json(d, conf_json, err, errlen);
	return rv;
}

Sluice__FetchLibraryReply__ConfEntry **jobdef_conf_entries(const jobdef *d)
{
	Sluice__FetchLibraryReply__ConfEntry **v = sl_calloc(d->nconf + 1, sizeof(*v));
	for (size_t i = 0; i < d->nconf; i++) {
		v[i] = sl_malloc(sizeof(**v));
		sluice__fetch_library_reply__conf_entry__init(v[i]);
		v[i]->key = d->conf_keys[i];
		v[i]->value = d->conf_values[i];
	}
	return v;
}

void jobdef_conf_entries_free(Sluice__FetchLibraryReply__ConfEntry **e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sl_free(e[i]);
	sl_free(e);
}
