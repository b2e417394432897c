/*
 * Job cache: fetches a job's library and graph from the master the first
 * time a task of the job arrives, checks that the bytes hash to the id the
 * task names, writes them to WORKDIR/jobs/<sha256>.so and dlopens that file
 * (the name is the content hash, never a name from the client), then
 * resolves every function the graph names. A library that lacks one is
 * refused and every task of the job fails with that message.
 */
#include "alloc.h"
#include "api.h"
#include "log.h"
#include "msgtypes.h"
#include "proc.h"
#include "sluice/err.h"
#include "statestore.h"
#include "wengine.h"

#include <dlfcn.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void hash_hex(const uint8_t *d, size_t n, char out[65])
{
	uint8_t h[32];
	mbedtls_sha256_ret(d, n, h, 0);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static int write_library(const char *dir, const char *hash,
                         const ProtobufCBinaryData *lib, char *path, size_t pathlen,
                         char *err, size_t errlen)
{
	char jobs[1200], tmp[1440]; /* path (< 1400) + ".tmp." + pid */
	snprintf(jobs, sizeof(jobs), "%s/jobs", dir);
	if (proc_mkdirs(jobs, err, errlen) != SL_OK)
		return SL_EIO;
	snprintf(path, pathlen, "%s/%s.so", jobs, hash);
	if (access(path, R_OK) == 0)
		return SL_OK;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	FILE *f = fopen(tmp, "wb");
	if (f == NULL || fwrite(lib->data, 1, lib->len, f) != lib->len ||
	    fclose(f) != 0) {
		snprintf(err, errlen, "cannot write job library %s", tmp);
		return SL_EIO;
	}
	return rename(tmp, path) == 0 ? SL_OK : SL_EIO;
}

static int resolve_fns(wjob *j, char *err, size_t errlen)
{
	const Sluice__JobGraph *g = j->info->graph;
	j->fns = sl_calloc(g->n_nodes + 1, sizeof(void *));
	for (size_t i = 0; i < g->n_nodes; i++) {
		const Sluice__Node *n = g->nodes[i];
		if (!graph_needs_fn(n->kind))
			continue;
		j->fns[i] = builtin_find(n->fn, NULL);
		if (j->fns[i] == NULL && strncmp(n->fn, "sl_", 3) != 0)
			j->fns[i] = dlsym(j->dl, n->fn);
		if (j->fns[i] == NULL) {
			snprintf(err, errlen,
			         "%s (node %zu) names function '%s', which the job "
			         "library does not export",
			         graph_kind_name(n->kind), i, n->fn);
			return SL_EJOB;
		}
	}
	return SL_OK;
}

static int job_conf(wjob *j, char *err, size_t errlen)
{
	j->conf = conf_new(CONF_APP_KEYS);
	for (size_t i = 0; i < j->info->n_conf; i++)
		if (conf_set(j->conf, j->info->conf[i]->key, j->info->conf[i]->value, err,
		             errlen) != SL_OK)
			return SL_ECONFIG;
	return SL_OK;
}

static int job_load(wengine *we, uint64_t job_id, const char *hash, wjob **out, char *err,
                    size_t errlen)
{
	worker *w = wengine_worker(we);
	envelope rep;
	char path[1400], got[65];
	Sluice__FetchLibrary q = SLUICE__FETCH_LIBRARY__INIT;
	q.job_id = job_id;
	int rv = rpc_call_pb(w->master, MSG_FETCH_LIBRARY, &q, &rep, err, errlen);
	if (rv != SL_OK)
		return rv;
	wjob *j = sl_calloc(1, sizeof(*j));
	j->id = job_id;
	j->info = sluice__fetch_library_reply__unpack(NULL, rep.payload_len, rep.payload);
	envelope_release(&rep);
	rv = SL_EPROTO;
	if (j->info == NULL || j->info->graph == NULL) {
		snprintf(err, errlen, "malformed job library reply for job %llu",
		         (unsigned long long)job_id);
		goto fail;
	}
	hash_hex(j->info->library.data, j->info->library.len, got);
	if (strcmp(got, hash) != 0 || strcmp(got, j->info->library_hash) != 0) {
		snprintf(err, errlen,
		         "job %llu: library bytes hash to %.16s, task expects %.16s",
		         (unsigned long long)job_id, got, hash);
		goto fail;
	}
	snprintf(j->hash, sizeof(j->hash), "%s", got);
	if ((rv = write_library(w->dir, got, &j->info->library, path, sizeof(path), err,
	                        errlen)) != SL_OK ||
	    (rv = job_conf(j, err, errlen)) != SL_OK)
		goto fail;
	j->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (j->dl == NULL) {
		snprintf(err, errlen, "cannot load job library: %s", dlerror());
		rv = SL_EJOB;
		goto fail;
	}
	if ((rv = resolve_fns(j, err, errlen)) != SL_OK)
		goto fail;
	j->states = state_store_new();
	log_info("loaded job %s (id %llu, library %.16s)", j->info->name,
	         (unsigned long long)job_id, got);
	*out = j;
	return SL_OK;
fail:
	if (j->dl)
		dlclose(j->dl);
	if (j->info)
		sluice__fetch_library_reply__free_unpacked(j->info, NULL);
	conf_free(j->conf);
	sl_free(j->fns);
	sl_free(j);
	return rv;
}

/* Defined in exec.c: the cache list and its lock. */
wjob **wengine_jobs(wengine *we);
pthread_mutex_t *wengine_jobs_lock(wengine *we);

int jobcache_get(wengine *we, uint64_t job_id, const char *hash, wjob **out, char *err,
                 size_t errlen)
{
	pthread_mutex_t *lock = wengine_jobs_lock(we);
	wjob **head = wengine_jobs(we);
	int rv = SL_OK;
	pthread_mutex_lock(lock);
	for (wjob *j = *head; j != NULL; j = j->next) {
		if (j->id == job_id && strcmp(j->hash, hash) == 0) {
			*out = j;
			goto out;
		}
	}
	if ((rv = job_load(we, job_id, hash, out, err, errlen)) == SL_OK) {
		(*out)->next = *head;
		*head = *out;
	}
out:
	pthread_mutex_unlock(lock);
	return rv;
}

size_t jobcache_drop_state(wengine *we, uint64_t job_id)
{
	pthread_mutex_t *lock = wengine_jobs_lock(we);
	size_t n = 0;
	pthread_mutex_lock(lock);
	for (wjob *j = *wengine_jobs(we); j != NULL; j = j->next)
		if (j->id == job_id)
			n += state_store_drop_job(j->states, job_id);
	pthread_mutex_unlock(lock);
	return n;
}

void jobcache_free(wengine *we)
{
	wjob *j = *wengine_jobs(we);
	while (j != NULL) {
		wjob *next = j->next;
		/* dlclose is skipped on purpose: a receiver or late callback may still
		 * point into the library; the process is ending anyway. */
		sluice__fetch_library_reply__free_unpacked(j->info, NULL);
		conf_free(j->conf);
		sl_free(j->fns);
		state_store_free(j->states);
		sl_free(j);
		j = next;
	}
	*wengine_jobs(we) = NULL;
}
