/* Job submission: see submit.h. */
#include "submit.h"
#include "alloc.h"
#include "api.h"
#include "msgtypes.h"
#include "sluice/err.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

typedef int (*job_define_fn)(sl_ctx *ctx);

static int resolve_sym(void *handle, const char *name)
{
	dlerror();
	return dlsym(handle, name) != NULL ? 0 : -1;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = sl_malloc(n > 0 ? (size_t)n : 1);
	*len = n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
	fclose(f);
	return buf;
}

/* Loads the library and builds its graph into ctx; EXIT_ERR with a message. */
static int build_graph(const char *path, int64_t batch_ms, void **handle, sl_ctx *ctx)
{
	*handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (*handle == NULL) {
		fprintf(stderr, "sluice: cannot load job library %s: %s\n", path,
		        dlerror());
		return EXIT_ERR;
	}
	job_define_fn define =
	    (job_define_fn)(uintptr_t)dlsym(*handle, "sluice_job_define");
	if (define == NULL) {
		fprintf(stderr,
		        "sluice: %s is not a Sluice job: it does not export "
		        "'int sluice_job_define(sl_ctx *)'\n",
		        path);
		return EXIT_ERR;
	}
	int rv = define(ctx);
	if (api_ctx_error(ctx) != NULL) {
		fprintf(stderr, "sluice: job definition failed: %s\n",
		        api_ctx_error(ctx));
		return EXIT_ERR;
	}
	if (rv != 0) {
		fprintf(stderr, "sluice: sluice_job_define returned %d\n", rv);
		return EXIT_ERR;
	}
	char err[512];
	const Sluice__JobGraph *g = api_ctx_graph(ctx);
	if (graph_validate_job(g, batch_ms, err, sizeof(err)) != SL_OK ||
	    graph_check_symbols(g, (int (*)(void *, const char *))resolve_sym, *handle,
	                        err, sizeof(err)) != SL_OK) {
		fprintf(stderr, "sluice: %s: %s\n", path, err);
		return EXIT_ERR;
	}
	return EXIT_OK;
}

typedef struct {
	Sluice__SubmitJob__ConfEntry *entries;
	Sluice__SubmitJob__ConfEntry **ptrs;
	size_t n, cap;
} conf_entries;

static void conf_collect(void *arg, const char *key, const char *value)
{
	conf_entries *e = arg;
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 16;
		e->entries = sl_realloc(e->entries, e->cap * sizeof(*e->entries));
		e->ptrs = sl_realloc(e->ptrs, e->cap * sizeof(*e->ptrs));
	}
	sluice__submit_job__conf_entry__init(&e->entries[e->n]);
	e->entries[e->n].key = (char *)key;
	e->entries[e->n].value = (char *)value;
	e->n++;
}

static int send_job(client *c, const char *path, const char *name, int64_t batch_ms,
                    sl_conf *job_conf, sl_ctx *ctx, bool start)
{
	size_t len = 0;
	uint8_t *lib = read_file(path, &len);
	if (lib == NULL) {
		fprintf(stderr, "sluice: cannot read %s: %s\n", path, strerror(errno));
		return EXIT_ERR;
	}
	conf_entries ce = {0};
	conf_foreach(job_conf, conf_collect, &ce);
	for (size_t i = 0; i < ce.n; i++)
		ce.ptrs[i] = &ce.entries[i];
	const char *base = strrchr(path, '/');
	Sluice__SubmitJob s = SLUICE__SUBMIT_JOB__INIT;
	s.name = (char *)name;
	s.library.data = lib;
	s.library.len = len;
	s.library_name = (char *)(base ? base + 1 : path);
	s.graph = (Sluice__JobGraph *)api_ctx_graph(ctx);
	s.n_conf = ce.n;
	s.conf = ce.ptrs;
	s.batch_interval_ms = batch_ms;
	s.start = start;
	envelope rep;
	int rv = client_call(c, MSG_SUBMIT_JOB, &s, &rep);
	sl_free(lib);
	sl_free(ce.entries);
	sl_free(ce.ptrs);
	if (rv != EXIT_OK)
		return rv;
	Sluice__SubmitJobReply *r =
	    sluice__submit_job_reply__unpack(NULL, rep.payload_len, rep.payload);
	envelope_release(&rep);
	if (r == NULL) {
		fprintf(stderr, "sluice: malformed reply from the master\n");
		return EXIT_ERR;
	}
	printf("submitted job '%s' (%s; id %llu, library sha256 %.16s..., batch interval "
	       "%lld ms)\n",
	       name, start ? "started" : "published", (unsigned long long)r->job_id,
	       r->library_hash, (long long)batch_ms);
	sluice__submit_job_reply__free_unpacked(r, NULL);
	return EXIT_OK;
}

int submit_job(client *c, const char *lib_path, const char *name, int64_t batch_ms,
               sl_conf *job_conf, bool start)
{
	void *handle = NULL;
	sl_ctx *ctx = api_ctx_new(job_conf);
	int rv = build_graph(lib_path, batch_ms, &handle, ctx);
	if (rv == EXIT_OK)
		rv = send_job(c, lib_path, name, batch_ms, job_conf, ctx, start);
	api_ctx_free(ctx);
	if (handle != NULL)
		dlclose(handle);
	return rv;
}
