/*
 * Internals behind include/sluice/sluice.h, shared by the client (graph
 * building), the master (validation) and the worker (running user code).
 *
 * The runtime objects a user function sees are small vtables so that the
 * worker can plug in whatever sits behind them (a record buffer, a shuffle
 * writer, a merge of fetched buckets) without the job library knowing.
 */
#ifndef SLUICE_API_H
#define SLUICE_API_H

#include "config.h"
#include "sluice/sluice.h"
#include "job.pb-c.h"

#include <stdbool.h>

struct sl_emitter {
	int (*emit)(sl_emitter *self, const sl_record *r);
	void *arg;
};

struct sl_iter {
	int (*next)(sl_iter *self, sl_record *r);
	void *arg;
};

struct sl_value {
	uint8_t *data; /* sl_malloc'd, owned by the caller of the reduce fn */
	uint32_t len, cap;
};

/* The task a user function runs in; set per slot thread by the executor. */
typedef struct {
	int64_t batch_ms;
	int partition;
	int attempt;
	const sl_conf *conf;
} api_task;

void api_task_set(const api_task *t); /* thread-local; NULL clears */

/* A key's value for the job API: NULL when unset, or when the key is in a
 * reserved namespace (spark., sluice., kafka.) but not declared. */
const char *api_conf_lookup(const sl_conf *c, const char *key);

/* ---- graph building ---- */

/* Creates a context with the job's configuration (not owned). */
sl_ctx *api_ctx_new(const sl_conf *conf);
void api_ctx_free(sl_ctx *ctx);
/* The first error recorded while building, or NULL. */
const char *api_ctx_error(const sl_ctx *ctx);
/* The built graph (owned by the context). */
const Sluice__JobGraph *api_ctx_graph(sl_ctx *ctx);

/* ---- built-in functions ---- */

typedef enum {
	BUILTIN_MAP,    /* sl_map_fn (map, flat_map, map_to_pair) */
	BUILTIN_REDUCE, /* sl_reduce_fn */
	BUILTIN_GEN,    /* sl_generator_fn */
} builtin_kind;

/* Looks up a built-in by name ("sl_sum_i64"); NULL when unknown. */
void *builtin_find(const char *name, builtin_kind *kind);

struct kvmap;
/* The fused word count: flat_map sl_split_words -> map_to_pair sl_pair_one ->
 * map-side combine with sl_sum_i64, in one pass over the line. Adds 1 for
 * every word of in's value to maps[kvmap_hash(word) % nred] and returns the
 * number of words (the records the unfused chain would have emitted). The
 * task runner uses it when a task's chain ends with exactly those built-ins;
 * results are identical to the unfused chain's. */
uint64_t builtin_split_count(const sl_record *in, struct kvmap **maps, uint32_t nred);

/* ---- graph checks ---- */

const char *graph_kind_name(Sluice__NodeKind k);
bool graph_is_source(Sluice__NodeKind k);
bool graph_is_shuffle(Sluice__NodeKind k);
bool graph_is_output(Sluice__NodeKind k);
bool graph_needs_fn(Sluice__NodeKind k);
const Sluice__Node *graph_node(const Sluice__JobGraph *g, uint32_t id);

/* Structural checks: ids unique and dense, inputs exist and come earlier
 * (so the graph is acyclic), arity per kind, a function where one is
 * needed, at least one output. SL_EJOB with a message naming the node. */
int graph_validate(const Sluice__JobGraph *g, char *err, size_t errlen);

/* Calls resolve(arg, name) for every user function name that is not a
 * built-in; the first non-zero return stops and is returned, with err naming
 * the function and the node. */
int graph_check_symbols(const Sluice__JobGraph *g,
                        int (*resolve)(void *arg, const char *name), void *arg, char *err,
                        size_t errlen);

#endif
