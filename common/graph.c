/*
 * Checks on a job's DStream graph, shared by the client (at submit, with the
 * library at hand to resolve symbols), the master (structure only: it never
 * loads user code) and workers (symbols, when they load the library).
 */
#include "alloc.h"
#include "api.h"
#include "kafka.h"

#include <stdio.h>
#include <string.h>

static const char *graph_kind_name_stateful(Sluice__NodeKind k);

const char *graph_kind_name(Sluice__NodeKind k)
{
	switch (k) {
	case SLUICE__NODE_KIND__SRC_SOCKET:
		return "socket_text_stream";
	case SLUICE__NODE_KIND__SRC_FILES:
		return "text_file_stream";
	case SLUICE__NODE_KIND__SRC_GENERATOR:
		return "generator_stream";
	case SLUICE__NODE_KIND__SRC_KAFKA:
		return "kafka_direct_stream";
	case SLUICE__NODE_KIND__OP_MAP:
		return "map";
	case SLUICE__NODE_KIND__OP_FLAT_MAP:
		return "flat_map";
	case SLUICE__NODE_KIND__OP_FILTER:
		return "filter";
	case SLUICE__NODE_KIND__OP_MAP_TO_PAIR:
		return "map_to_pair";
	case SLUICE__NODE_KIND__OP_UNION:
		return "union";
	case SLUICE__NODE_KIND__OP_REDUCE_BY_KEY:
		return "reduce_by_key";
	case SLUICE__NODE_KIND__OP_GROUP_BY_KEY:
		return "group_by_key";
	case SLUICE__NODE_KIND__OP_COUNT_BY_KEY:
		return "count_by_key";
	case SLUICE__NODE_KIND__OP_REPARTITION:
		return "repartition";
	case SLUICE__NODE_KIND__OP_TRANSFORM:
		return "transform";
	case SLUICE__NODE_KIND__OUT_PRINT:
		return "print";
	case SLUICE__NODE_KIND__OUT_SAVE_TEXT:
		return "save_as_text_files";
	case SLUICE__NODE_KIND__OUT_FOREACH_PARTITION:
		return "foreach_partition";
	case SLUICE__NODE_KIND__OUT_KAFKA:
		return "kafka_sink";
	default:
		return graph_kind_name_stateful(k);
	}
}

/* The kinds of issue 11 (windows, state, joins, event time). */
static const char *graph_kind_name_stateful(Sluice__NodeKind k)
{
	switch (k) {
	case SLUICE__NODE_KIND__OP_ASSIGN_EVENT_TIME:
		return "assign_event_time";
	case SLUICE__NODE_KIND__OP_WINDOW:
		return "window";
	case SLUICE__NODE_KIND__OP_REDUCE_BY_KEY_AND_WINDOW:
		return "reduce_by_key_and_window";
	case SLUICE__NODE_KIND__OP_COUNT_BY_WINDOW:
		return "count_by_window";
	case SLUICE__NODE_KIND__OP_COUNT_BY_VALUE_AND_WINDOW:
		return "count_by_value_and_window";
	case SLUICE__NODE_KIND__OP_UPDATE_STATE_BY_KEY:
		return "update_state_by_key";
	case SLUICE__NODE_KIND__OP_MAP_WITH_STATE:
		return "map_with_state";
	case SLUICE__NODE_KIND__OP_JOIN:
		return "join";
	case SLUICE__NODE_KIND__OP_LEFT_OUTER_JOIN:
		return "left_outer_join";
	case SLUICE__NODE_KIND__OP_RIGHT_OUTER_JOIN:
		return "right_outer_join";
	case SLUICE__NODE_KIND__OP_FULL_OUTER_JOIN:
		return "full_outer_join";
	case SLUICE__NODE_KIND__OP_COGROUP:
		return "cogroup";
	case SLUICE__NODE_KIND__OP_EVENT_TIME_WINDOW:
		return "event_time_window";
	default:
		return "unknown";
	}
}

bool graph_is_source(Sluice__NodeKind k)
{
	return k >= SLUICE__NODE_KIND__SRC_SOCKET && k <= SLUICE__NODE_KIND__SRC_KAFKA;
}

bool graph_is_shuffle(Sluice__NodeKind k)
{
	return k >= SLUICE__NODE_KIND__OP_REDUCE_BY_KEY &&
	       k <= SLUICE__NODE_KIND__OP_TRANSFORM;
}

bool graph_is_output(Sluice__NodeKind k)
{
	return k >= SLUICE__NODE_KIND__OUT_PRINT && k <= SLUICE__NODE_KIND__OUT_KAFKA;
}

bool graph_needs_fn(Sluice__NodeKind k)
{
	switch (k) {
	case SLUICE__NODE_KIND__OP_MAP:
	case SLUICE__NODE_KIND__OP_FLAT_MAP:
	case SLUICE__NODE_KIND__OP_FILTER:
	case SLUICE__NODE_KIND__OP_MAP_TO_PAIR:
	case SLUICE__NODE_KIND__OP_REDUCE_BY_KEY:
	case SLUICE__NODE_KIND__OP_TRANSFORM:
	case SLUICE__NODE_KIND__OUT_FOREACH_PARTITION:
	case SLUICE__NODE_KIND__SRC_GENERATOR:
	case SLUICE__NODE_KIND__OP_ASSIGN_EVENT_TIME:
	case SLUICE__NODE_KIND__OP_REDUCE_BY_KEY_AND_WINDOW:
	case SLUICE__NODE_KIND__OP_UPDATE_STATE_BY_KEY:
	case SLUICE__NODE_KIND__OP_MAP_WITH_STATE:
		return true;
	default:
		return false;
	}
}

bool graph_is_batch_window(Sluice__NodeKind k)
{
	return k >= SLUICE__NODE_KIND__OP_WINDOW &&
	       k <= SLUICE__NODE_KIND__OP_COUNT_BY_VALUE_AND_WINDOW;
}

bool graph_is_stateful(Sluice__NodeKind k)
{
	/* an event-time window keeps its open windows' aggregates as state */
	return k == SLUICE__NODE_KIND__OP_UPDATE_STATE_BY_KEY ||
	       k == SLUICE__NODE_KIND__OP_MAP_WITH_STATE ||
	       k == SLUICE__NODE_KIND__OP_EVENT_TIME_WINDOW;
}

bool graph_is_incremental_window(const Sluice__Node *n)
{
	return n->kind == SLUICE__NODE_KIND__OP_REDUCE_BY_KEY_AND_WINDOW &&
	       n->inv_fn != NULL && n->inv_fn[0] != '\0';
}

bool graph_node_stateful(const Sluice__Node *n)
{
	return graph_is_stateful(n->kind) || graph_is_incremental_window(n);
}

bool graph_is_join(Sluice__NodeKind k)
{
	return k >= SLUICE__NODE_KIND__OP_JOIN && k <= SLUICE__NODE_KIND__OP_COGROUP;
}

bool graph_kind_planned(Sluice__NodeKind k)
{
	/* assign_event_time is narrow: it runs fused in the chain like map;
	 * the batch-time windows are planned over the datasets of the window's
	 * batches, the joins as two map stages read by one reduce stage, the
	 * stateful nodes as a shuffle into state partitions kept on workers
	 * (master/plan.c, stateplan.h); an event-time window is one of those,
	 * its state tasks given the master's watermark. */
	return k != SLUICE__NODE_KIND__NODE_NONE;
}

const Sluice__Node *graph_node(const Sluice__JobGraph *g, uint32_t id)
{
	return id < g->n_nodes ? g->nodes[id] : NULL;
}

static size_t expected_inputs(Sluice__NodeKind k)
{
	if (graph_is_source(k))
		return 0;
	return k == SLUICE__NODE_KIND__OP_UNION || graph_is_join(k) ? 2 : 1;
}

/* "node 3 'clicks' (window)" or "node 3 (window)": how messages name a node. */
static const char *node_label(const Sluice__Node *n, size_t i, char *buf, size_t len)
{
	if (n->name != NULL && n->name[0] != '\0')
		snprintf(buf, len, "node %zu '%s' (%s)", i, n->name,
		         graph_kind_name(n->kind));
	else
		snprintf(buf, len, "node %zu (%s)", i, graph_kind_name(n->kind));
	return buf;
}

static bool has_window(Sluice__NodeKind k)
{
	return graph_is_batch_window(k) || k == SLUICE__NODE_KIND__OP_EVENT_TIME_WINDOW;
}

/* Durations of windows, event-time windows and state timeouts; with
 * batch_ms > 0 also that batch-time windows are multiples of the interval. */
static int node_check_times(const Sluice__Node *n, size_t i, int64_t batch_ms, char *err,
                            size_t errlen)
{
	char lb[160];
	if (has_window(n->kind) && (n->length_ms <= 0 || n->slide_ms <= 0)) {
		snprintf(err, errlen,
		         "%s: window length and slide must be > 0 ms, got %lld and %lld",
		         node_label(n, i, lb, sizeof(lb)), (long long)n->length_ms,
		         (long long)n->slide_ms);
		return SL_EJOB;
	}
	if (has_window(n->kind) && n->slide_ms > n->length_ms) {
		snprintf(err, errlen,
		         "%s: slide %lld ms is longer than the window length %lld ms",
		         node_label(n, i, lb, sizeof(lb)), (long long)n->slide_ms,
		         (long long)n->length_ms);
		return SL_EJOB;
	}
	if (n->kind == SLUICE__NODE_KIND__OP_EVENT_TIME_WINDOW &&
	    n->length_ms / n->slide_ms > 1000) {
		snprintf(err, errlen,
		         "%s: length %lld ms / slide %lld ms puts each record in more "
		         "than 1000 "
		         "windows",
		         node_label(n, i, lb, sizeof(lb)), (long long)n->length_ms,
		         (long long)n->slide_ms);
		return SL_EJOB;
	}
	if (n->lateness_ms < 0 || n->timeout_ms < 0) {
		snprintf(
		    err, errlen, "%s: %s must be >= 0 ms, got %lld",
		    node_label(n, i, lb, sizeof(lb)),
		    n->lateness_ms < 0 ? "allowed lateness" : "state timeout",
		    (long long)(n->lateness_ms < 0 ? n->lateness_ms : n->timeout_ms));
		return SL_EJOB;
	}
	if (batch_ms > 0 && graph_is_batch_window(n->kind) &&
	    (n->length_ms % batch_ms != 0 || n->slide_ms % batch_ms != 0)) {
		snprintf(err, errlen,
		         "%s: window length %lld ms and slide %lld ms must be multiples "
		         "of the "
		         "batch interval %lld ms",
		         node_label(n, i, lb, sizeof(lb)), (long long)n->length_ms,
		         (long long)n->slide_ms, (long long)batch_ms);
		return SL_EJOB;
	}
	return SL_OK;
}

/* Refuses a batch-time window over a stateful stream: a window re-reads
 * the datasets of earlier batches, and a state partition cannot apply an
 * earlier batch again (master/stateplan.h). Inputs are earlier nodes, so
 * one backward sweep marks everything node i reads. */
static int window_over_state(const Sluice__JobGraph *g, size_t i, char *err,
                             size_t errlen)
{
	if (!graph_is_batch_window(g->nodes[i]->kind))
		return SL_OK;
	bool *reads = sl_calloc(i + 1, sizeof(bool));
	reads[i] = true;
	int rv = SL_OK;
	for (size_t k = i + 1; k-- > 0 && rv == SL_OK;) {
		const Sluice__Node *n = g->nodes[k];
		if (!reads[k])
			continue;
		if (k != i && graph_node_stateful(n)) {
			char lb[160];
			snprintf(
			    err, errlen,
			    "%s reads %s (node %zu): a window over a stateful stream is "
			    "not supported by this master yet",
			    node_label(g->nodes[i], i, lb, sizeof(lb)),
			    graph_kind_name(n->kind), k);
			rv = SL_EJOB;
		}
		for (size_t j = 0; j < n->n_inputs; j++)
			if (n->inputs[j] < k)
				reads[n->inputs[j]] = true;
	}
	sl_free(reads);
	return rv;
}

/* Refuses, after every other check passed, a kind the master cannot plan. */
static int node_check_planned(const Sluice__Node *n, size_t i, char *err, size_t errlen)
{
	char lb[160];
	if (graph_kind_planned(n->kind))
		return SL_OK;
	snprintf(
	    err, errlen,
	    "%s: %s is not supported by this master yet (its planning across batches "
	    "is not built)",
	    node_label(n, i, lb, sizeof(lb)), graph_kind_name(n->kind));
	return SL_EJOB;
}

static int node_validate(const Sluice__JobGraph *g, const Sluice__Node *n, size_t i,
                         char *err, size_t errlen)
{
	const char *kn = graph_kind_name(n->kind);
	if (n->id != i) {
		snprintf(err, errlen,
		         "graph node %zu has id %u: ids must be 0..n-1 in order", i,
		         n->id);
		return SL_EJOB;
	}
	if (strcmp(kn, "unknown") == 0) {
		snprintf(err, errlen, "graph node %zu has unknown kind %d", i,
		         (int)n->kind);
		return SL_EJOB;
	}
	if (n->n_inputs != expected_inputs(n->kind)) {
		snprintf(err, errlen, "graph node %zu (%s) has %zu inputs, expected %zu",
		         i, kn, n->n_inputs, expected_inputs(n->kind));
		return SL_EJOB;
	}
	for (size_t j = 0; j < n->n_inputs; j++) {
		const Sluice__Node *in = graph_node(g, n->inputs[j]);
		if (n->inputs[j] >= i || in == NULL || graph_is_output(in->kind)) {
			snprintf(err, errlen,
			         "graph node %zu (%s): input %u is not an earlier stream",
			         i, kn, n->inputs[j]);
			return SL_EJOB;
		}
	}
	/* The builder's bounds, again for graphs from the wire: the master plans
	 * one task per partition. */
	bool keyed = graph_is_shuffle(n->kind) || graph_is_join(n->kind) ||
	             has_window(n->kind) || graph_is_stateful(n->kind);
	if ((keyed && n->partitions > 100000) ||
	    (n->kind == SLUICE__NODE_KIND__SRC_GENERATOR && n->partitions > 4096)) {
		snprintf(err, errlen, "graph node %zu (%s) has %u partitions (limit %u)",
		         i, kn, n->partitions, keyed ? 100000 : 4096);
		return SL_EJOB;
	}
	if (n->kind == SLUICE__NODE_KIND__SRC_GENERATOR && n->rate <= 0) {
		snprintf(err, errlen, "graph node %zu (%s) has rate %lld: it must be > 0",
		         i, kn, (long long)n->rate);
		return SL_EJOB;
	}
	if ((n->kind == SLUICE__NODE_KIND__SRC_KAFKA ||
	     n->kind == SLUICE__NODE_KIND__OUT_KAFKA) &&
	    kafka_check_node(n, err, errlen) != SL_OK)
		return SL_EJOB;
	if (graph_needs_fn(n->kind) && (n->fn == NULL || n->fn[0] == '\0')) {
		snprintf(err, errlen, "graph node %zu (%s) names no function", i, kn);
		return SL_EJOB;
	}
	if (n->kind == SLUICE__NODE_KIND__OP_REDUCE_BY_KEY_AND_WINDOW &&
	    (n->inv_fn == NULL || n->inv_fn[0] == '\0') && n->filter_fn != NULL &&
	    n->filter_fn[0] != '\0') {
		snprintf(err, errlen,
		         "graph node %zu (%s): filter_fn '%s' needs an inverse function",
		         i, kn, n->filter_fn);
		return SL_EJOB;
	}
	return SL_OK;
}

int graph_validate(const Sluice__JobGraph *g, char *err, size_t errlen)
{
	return graph_validate_job(g, 0, err, errlen);
}

int graph_validate_job(const Sluice__JobGraph *g, int64_t batch_ms, char *err,
                       size_t errlen)
{
	size_t outputs = 0;
	if (g == NULL || g->n_nodes == 0) {
		snprintf(err, errlen,
		         "the job graph is empty: define at least one source and one "
		         "output operation");
		return SL_EJOB;
	}
	if (g->n_nodes > 10000) {
		snprintf(err, errlen, "the job graph has %zu nodes (limit 10000)",
		         g->n_nodes);
		return SL_EJOB;
	}
	for (size_t i = 0; i < g->n_nodes; i++) {
		int rv = node_validate(g, g->nodes[i], i, err, errlen);
		if (rv == SL_OK)
			rv = node_check_times(g->nodes[i], i, batch_ms, err, errlen);
		if (rv != SL_OK)
			return rv;
		outputs += graph_is_output(g->nodes[i]->kind);
	}
	if (outputs == 0) {
		snprintf(err, errlen,
		         "the job graph has no output operation (print, "
		         "save_as_text_files, foreach_partition, kafka_sink): nothing "
		         "would run");
		return SL_EJOB;
	}
	for (size_t i = 0; i < g->n_nodes; i++)
		if (node_check_planned(g->nodes[i], i, err, errlen) != SL_OK ||
		    window_over_state(g, i, err, errlen) != SL_OK)
			return SL_EJOB;
	return SL_OK;
}

static int check_symbol(const Sluice__Node *n, size_t i, const char *fn,
                        int (*resolve)(void *arg, const char *name), void *arg, char *err,
                        size_t errlen)
{
	if (fn == NULL || fn[0] == '\0')
		return SL_OK;
	if (strncmp(fn, "sl_", 3) == 0) {
		if (builtin_find(fn, NULL) != NULL)
			return SL_OK;
		snprintf(err, errlen,
		         "%s (node %zu) names built-in '%s', which does not exist",
		         graph_kind_name(n->kind), i, fn);
		return SL_EJOB;
	}
	if (resolve(arg, fn) == 0)
		return SL_OK;
	snprintf(
	    err, errlen,
	    "%s (node %zu) names function '%s', which the job library does not export",
	    graph_kind_name(n->kind), i, fn);
	return SL_EJOB;
}

int graph_check_symbols(const Sluice__JobGraph *g,
                        int (*resolve)(void *arg, const char *name), void *arg, char *err,
                        size_t errlen)
{
	for (size_t i = 0; i < g->n_nodes; i++) {
		const Sluice__Node *n = g->nodes[i];
		/* event_time_window's reduce function is optional (none = count) */
		const char *fn =
		    graph_needs_fn(n->kind) ||
		            n->kind == SLUICE__NODE_KIND__OP_EVENT_TIME_WINDOW
		        ? n->fn
		        : NULL;
		const char *fns[4] = {fn, n->inv_fn, n->filter_fn, n->init_fn};
		for (int f = 0; f < 4; f++) {
			int rv = check_symbol(n, i, fns[f], resolve, arg, err, errlen);
			if (rv != 0)
				return rv;
		}
	}
	return SL_OK;
}
