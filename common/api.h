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

/* A key's state as map_with_state's function sees it. The state store
 * fills value/exists/timing_out before the call and reads value/exists
 * after it when changed is set; value.data is sl_malloc'd, owned by the
 * store. */
struct sl_state {
	sl_value value;
	bool exists, timing_out, changed;
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
	BUILTIN_FILTER, /* sl_filter_fn */
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
/* window, reduce_by_key_and_window, count_by_window, count_by_value_and_window */
bool graph_is_batch_window(Sluice__NodeKind k);
/* update_state_by_key, map_with_state, event_time_window: keyed state kept
 * in sticky partitions across batches (master/stateplan.h) */
bool graph_is_stateful(Sluice__NodeKind k);
/* reduce_by_key_and_window with an inverse function: kept incrementally in
 * state partitions (Spark's ReducedWindowedDStream, worker/winmerge.h) */
bool graph_is_incremental_window(const Sluice__Node *n);
/* A stateful kind, or an incremental window: a node whose state partitions
 * stay on workers across batches (master/stateplan.h) */
bool graph_node_stateful(const Sluice__Node *n);
/* join, the outer joins and cogroup: two inputs [left, right] */
bool graph_is_join(Sluice__NodeKind k);
/* Whether the master plans kind k into stages today. graph_validate refuses
 * a graph with a kind it does not, naming the node ("... is not supported
 * by this master yet"); the planner flips a kind here when it learns it. */
bool graph_kind_planned(Sluice__NodeKind k);
const Sluice__Node *graph_node(const Sluice__JobGraph *g, uint32_t id);

/* Structural checks: ids unique and dense, inputs exist and come earlier
 * (so the graph is acyclic), arity per kind, a function where one is
 * needed, at least one output. SL_EJOB with a message naming the node. */
int graph_validate(const Sluice__JobGraph *g, char *err, size_t errlen);
/* graph_validate plus the checks that need the job's batch interval:
 * batch-time window lengths and slides are multiples of it. Both also check
 * window durations (> 0, slide <= length), allowed lateness and state
 * timeouts (>= 0), and refuse kinds not yet planned (graph_kind_planned)
 * after every other check passed. batch_ms <= 0 skips the interval check. */
int graph_validate_job(const Sluice__JobGraph *g, int64_t batch_ms, char *err,
                       size_t errlen);

/* Calls resolve(arg, name) for every user function name that is not a
 * built-in; the first non-zero return stops and is returned, with err naming
 * the function and the node. */
int graph_check_symbols(const Sluice__JobGraph *g,
                        int (*resolve)(void *arg, const char *name), void *arg, char *err,
                        size_t errlen);

#endif
