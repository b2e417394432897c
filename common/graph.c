/*
 * Checks on a job's DStream graph, shared by the client (at submit, with the
 * library at hand to resolve symbols), the master (structure only: it never
 * loads user code) and workers (symbols, when they load the library).
 */
#include "api.h"
#include "kafka.h"

#include <stdio.h>
#include <string.h>

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
		return true;
	default:
		return false;
	}
}

const Sluice__Node *graph_node(const Sluice__JobGraph *g, uint32_t id)
{
	return id < g->n_nodes ? g->nodes[id] : NULL;
}

static size_t expected_inputs(Sluice__NodeKind k)
{
	if (graph_is_source(k))
		return 0;
	return k == SLUICE__NODE_KIND__OP_UNION ? 2 : 1;
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
	if ((graph_is_shuffle(n->kind) && n->partitions > 100000) ||
	    (n->kind == SLUICE__NODE_KIND__SRC_GENERATOR && n->partitions > 4096)) {
		snprintf(err, errlen, "graph node %zu (%s) has %u partitions (limit %u)",
		         i, kn, n->partitions, graph_is_shuffle(n->kind) ? 100000 : 4096);
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
	return SL_OK;
}

int graph_validate(const Sluice__JobGraph *g, char *err, size_t errlen)
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
	return SL_OK;
}

int graph_check_symbols(const Sluice__JobGraph *g,
                        int (*resolve)(void *arg, const char *name), void *arg, char *err,
                        size_t errlen)
{
	for (size_t i = 0; i < g->n_nodes; i++) {
		const Sluice__Node *n = g->nodes[i];
		if (!graph_needs_fn(n->kind) || n->fn == NULL || n->fn[0] == '\0')
			continue;
		if (strncmp(n->fn, "sl_", 3) == 0) {
			if (builtin_find(n->fn, NULL) != NULL)
				continue;
			snprintf(err, errlen,
			         "%s (node %zu) names built-in '%s', which does not "
			         "exist",
			         graph_kind_name(n->kind), i, n->fn);
			return SL_EJOB;
		}
		int rv = resolve(arg, n->fn);
		if (rv != 0) {
			snprintf(err, errlen,
			         "%s (node %zu) names function '%s', which the job "
			         "library does not export",
			         graph_kind_name(n->kind), i, n->fn);
			return SL_EJOB;
		}
	}
	return SL_OK;
}
