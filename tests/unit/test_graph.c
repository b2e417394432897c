/*
 * Unit tests for the job API's graph half: the builder (common/api_build.c),
 * the structural and symbol checks (common/graph.c), the built-in functions
 * (common/builtins.c) and the configuration lookup of the runtime half
 * (common/api_runtime.c).
 *
 * They pin down: the nodes, inputs, kinds, functions and value formats the
 * sl_* calls produce; sticky errors (the first one kept with its message,
 * later calls no-ops); every refusal of graph_validate on graphs built by
 * hand, as the master receives them over the wire; graph_check_symbols with
 * a resolver that knows some names; the built-ins' results and errors; and
 * that reserved-but-undeclared configuration keys read as NULL. Every test
 * leaves no allocation behind (alloc_live() back to where it started).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "unit_util.h"
#include "api.h"
#include "config.h"
#include "sluice/err.h"

#define ERRLEN 512

/* ---- the builder ---- */

static const Sluice__Node *node_at(sl_ctx *ctx, uint32_t id)
{
	const Sluice__JobGraph *g = api_ctx_graph(ctx);
	assert_true(id < g->n_nodes);
	assert_int_equal(g->nodes[id]->id, id);
	return g->nodes[id];
}

static void assert_node(sl_ctx *ctx, uint32_t id, Sluice__NodeKind kind, const char *fn,
                        uint32_t in0, uint32_t in1, size_t nin)
{
	const Sluice__Node *n = node_at(ctx, id);
	assert_int_equal(n->kind, kind);
	assert_string_equal(n->fn, fn);
	assert_int_equal(n->n_inputs, nin);
	if (nin > 0)
		assert_int_equal(n->inputs[0], in0);
	if (nin > 1)
		assert_int_equal(n->inputs[1], in1);
}

static void test_builder_nodes(void **state)
{
	(void)state;
	sl_conf *conf = conf_new(CONF_APP_KEYS);
	char err[ERRLEN];
	assert_int_equal(conf_set(conf, "input.dir", "/data/in", err, sizeof(err)),
	                 SL_OK);
	sl_ctx *ctx = api_ctx_new(conf);
	assert_string_equal(sl_conf_get(ctx, "input.dir", "x"), "/data/in");
	assert_string_equal(sl_conf_get(ctx, "output.path", "def"), "def");
	assert_null(sl_conf_get(ctx, "output.path", NULL));

	sl_stream *lines =
	    sl_text_file_stream(ctx, sl_conf_get(ctx, "input.dir", NULL));  /* 0 */
	sl_stream *up = sl_map(lines, "upper");                             /* 1 */
	sl_stream *kept = sl_filter(up, "keep");                            /* 2 */
	sl_stream *words = sl_flat_map(kept, "sl_split_words");             /* 3 */
	sl_stream *pairs = sl_map_to_pair(words, "sl_pair_one");            /* 4 */
	sl_stream *keyed = sl_map_to_pair(words, "by_initial");             /* 5 */
	sl_stream *both = sl_union(pairs, keyed);                           /* 6 */
	sl_stream *sums = sl_reduce_by_key(both, "sl_max_i64", 4);          /* 7 */
	sl_stream *mine = sl_reduce_by_key(both, "longest", 0);             /* 8 */
	sl_stream *groups = sl_group_by_key(keyed, 3);                      /* 9 */
	sl_stream *counts = sl_count_by_key(words, 0);                      /* 10 */
	sl_stream *spread = sl_repartition(kept, 5);                        /* 11 */
	sl_stream *whole = sl_transform(spread, "count_all");               /* 12 */
	sl_stream *gen = sl_generator_stream(ctx, "sl_gen_lines", 1000, 3); /* 13 */
	sl_stream *sock = sl_socket_text_stream(ctx, "localhost", 9999);    /* 14 */
	sl_print(sums, 0);                                                  /* 15 */
	sl_print(mine, 3);                                                  /* 16 */
	sl_save_as_text_files(groups, "/out/groups", NULL);                 /* 17 */
	sl_save_as_text_files(counts, "/out/counts", "txt");                /* 18 */
	sl_foreach_partition(whole, "store");                               /* 19 */
	sl_print(gen, 1);                                                   /* 20 */
	sl_print(sock, 2);                                                  /* 21 */
	assert_ptr_equal(sl_named(counts, "word counts"), counts);
	assert_ptr_equal(sl_with_value_format(whole, SL_FORMAT_I64), whole);
	assert_null(api_ctx_error(ctx));

	const Sluice__JobGraph *g = api_ctx_graph(ctx);
	assert_int_equal(g->n_nodes, 22);
	assert_node(ctx, 0, SLUICE__NODE_KIND__SRC_FILES, "", 0, 0, 0);
	assert_string_equal(node_at(ctx, 0)->path, "/data/in");
	assert_node(ctx, 1, SLUICE__NODE_KIND__OP_MAP, "upper", 0, 0, 1);
	assert_node(ctx, 2, SLUICE__NODE_KIND__OP_FILTER, "keep", 1, 0, 1);
	assert_node(ctx, 3, SLUICE__NODE_KIND__OP_FLAT_MAP, "sl_split_words", 2, 0, 1);
	assert_node(ctx, 4, SLUICE__NODE_KIND__OP_MAP_TO_PAIR, "sl_pair_one", 3, 0, 1);
	assert_node(ctx, 5, SLUICE__NODE_KIND__OP_MAP_TO_PAIR, "by_initial", 3, 0, 1);
	assert_node(ctx, 6, SLUICE__NODE_KIND__OP_UNION, "", 4, 5, 2);
	assert_node(ctx, 7, SLUICE__NODE_KIND__OP_REDUCE_BY_KEY, "sl_max_i64", 6, 0, 1);
	assert_node(ctx, 8, SLUICE__NODE_KIND__OP_REDUCE_BY_KEY, "longest", 6, 0, 1);
	assert_node(ctx, 9, SLUICE__NODE_KIND__OP_GROUP_BY_KEY, "", 5, 0, 1);
	assert_node(ctx, 10, SLUICE__NODE_KIND__OP_COUNT_BY_KEY, "", 3, 0, 1);
	assert_node(ctx, 11, SLUICE__NODE_KIND__OP_REPARTITION, "", 2, 0, 1);
	assert_node(ctx, 12, SLUICE__NODE_KIND__OP_TRANSFORM, "count_all", 11, 0, 1);
	assert_node(ctx, 13, SLUICE__NODE_KIND__SRC_GENERATOR, "sl_gen_lines", 0, 0, 0);
	assert_node(ctx, 14, SLUICE__NODE_KIND__SRC_SOCKET, "", 0, 0, 0);
	assert_node(ctx, 15, SLUICE__NODE_KIND__OUT_PRINT, "", 7, 0, 1);
	assert_node(ctx, 16, SLUICE__NODE_KIND__OUT_PRINT, "", 8, 0, 1);
	assert_node(ctx, 17, SLUICE__NODE_KIND__OUT_SAVE_TEXT, "", 9, 0, 1);
	assert_node(ctx, 18, SLUICE__NODE_KIND__OUT_SAVE_TEXT, "", 10, 0, 1);
	assert_node(ctx, 19, SLUICE__NODE_KIND__OUT_FOREACH_PARTITION, "store", 12, 0, 1);
	assert_node(ctx, 20, SLUICE__NODE_KIND__OUT_PRINT, "", 13, 0, 1);
	assert_node(ctx, 21, SLUICE__NODE_KIND__OUT_PRINT, "", 14, 0, 1);

	/* partitions, formats and parameters */
	assert_int_equal(node_at(ctx, 7)->partitions, 4);
	assert_int_equal(node_at(ctx, 8)->partitions, 0);
	assert_int_equal(node_at(ctx, 9)->partitions, 3);
	assert_int_equal(node_at(ctx, 10)->partitions, 0);
	assert_int_equal(node_at(ctx, 11)->partitions, 5);
	assert_int_equal(node_at(ctx, 12)->partitions, 1); /* transform: one task */
	assert_int_equal(node_at(ctx, 13)->partitions, 3);
	assert_int_equal(node_at(ctx, 13)->rate, 1000);
	assert_string_equal(node_at(ctx, 14)->host, "localhost");
	assert_int_equal(node_at(ctx, 14)->port, 9999);
	assert_int_equal(node_at(ctx, 4)->value_format, SLUICE__VALUE_FORMAT__FORMAT_I64);
	assert_int_equal(node_at(ctx, 5)->value_format,
	                 SLUICE__VALUE_FORMAT__FORMAT_TEXT);
	assert_int_equal(node_at(ctx, 7)->value_format, SLUICE__VALUE_FORMAT__FORMAT_I64);
	assert_int_equal(node_at(ctx, 8)->value_format,
	                 SLUICE__VALUE_FORMAT__FORMAT_TEXT);
	assert_int_equal(node_at(ctx, 9)->value_format,
	                 SLUICE__VALUE_FORMAT__FORMAT_LIST_TEXT);
	assert_int_equal(node_at(ctx, 10)->value_format,
	                 SLUICE__VALUE_FORMAT__FORMAT_I64);
	assert_int_equal(node_at(ctx, 11)->value_format,
	                 SLUICE__VALUE_FORMAT__FORMAT_TEXT);
	assert_int_equal(node_at(ctx, 12)->value_format,
	                 SLUICE__VALUE_FORMAT__FORMAT_I64);
	assert_int_equal(node_at(ctx, 15)->num, 10); /* 0: the default */
	assert_int_equal(node_at(ctx, 16)->num, 3);
	assert_string_equal(node_at(ctx, 17)->path, "/out/groups");
	assert_string_equal(node_at(ctx, 17)->suffix, "");
	assert_string_equal(node_at(ctx, 18)->path, "/out/counts");
	assert_string_equal(node_at(ctx, 18)->suffix, "txt");
	assert_string_equal(node_at(ctx, 10)->name, "word counts");
	assert_string_equal(node_at(ctx, 9)->name, "");
	/* the enum of the public header and the wire's agree */
	assert_int_equal(SL_FORMAT_LIST, SLUICE__VALUE_FORMAT__FORMAT_LIST_TEXT);

	char verr[ERRLEN] = "";
	assert_int_equal(graph_validate(g, verr, sizeof(verr)), SL_OK);
	api_ctx_free(ctx);
	api_ctx_free(NULL);
	conf_free(conf);
}

/* The built graph survives a pack/unpack round trip (what the master gets). */
static void test_builder_roundtrip(void **state)
{
	(void)state;
	sl_ctx *ctx = api_ctx_new(NULL);
	sl_stream *s = sl_generator_stream(ctx, "sl_gen_words", 50, 2);
	sl_save_as_text_files(sl_count_by_key(sl_map_to_pair(s, "sl_pair_one"), 2),
	                      "/o/x", NULL);
	const Sluice__JobGraph *g = api_ctx_graph(ctx);
	size_t len = sluice__job_graph__get_packed_size(g);
	uint8_t *buf = malloc(len);
	assert_non_null(buf);
	sluice__job_graph__pack(g, buf);
	Sluice__JobGraph *u = sluice__job_graph__unpack(NULL, len, buf);
	assert_non_null(u);
	char err[ERRLEN];
	assert_int_equal(graph_validate(u, err, sizeof(err)), SL_OK);
	assert_int_equal(u->n_nodes, 4);
	assert_int_equal(u->nodes[2]->kind, SLUICE__NODE_KIND__OP_COUNT_BY_KEY);
	assert_int_equal(u->nodes[2]->inputs[0], 1);
	assert_int_equal(u->nodes[2]->partitions, 2);
	assert_string_equal(u->nodes[3]->path, "/o/x");
	sluice__job_graph__free_unpacked(u, NULL);
	free(buf);
	/* no configuration: every key reads as unset */
	assert_string_equal(sl_conf_get(ctx, "anything", "d"), "d");
	api_ctx_free(ctx);
}

/* Builds `sluice_job_define`-style code that hits one error, then checks that
 * the error is the first one and that later calls added nothing. */
static void test_sticky_errors(void **state)
{
	(void)state;
	sl_ctx *ctx = api_ctx_new(NULL);
	sl_stream *lines = sl_text_file_stream(ctx, "/in");
	sl_stream *up = sl_map(lines, "upper");
	assert_non_null(up);
	/* a missing function */
	sl_stream *bad = sl_filter(up, NULL);
	assert_non_null(bad);
	assert_string_equal(api_ctx_error(ctx), "filter: a function name is required");
	/* later calls are no-ops, the first message stays */
	sl_stream *more = sl_map(bad, "f");
	sl_stream *u = sl_union(up, more);
	assert_non_null(u);
	sl_print(sl_repartition(up, 0), 3);
	sl_save_as_text_files(up, "/out", NULL);
	assert_int_equal(sl_fail(ctx, "second %d", 2), -1);
	assert_string_equal(api_ctx_error(ctx), "filter: a function name is required");
	assert_int_equal(api_ctx_graph(ctx)->n_nodes, 2);
	/* the dummy stream returned after an error can be used as any stream */
	assert_ptr_equal(sl_with_value_format(more, SL_FORMAT_I64), more);
	assert_ptr_equal(sl_named(more, "x"), more);
	api_ctx_free(ctx);

	struct {
		const char *want;
		int which;
	} cases[] = {
	    {"union: input stream 2 is NULL or from another job", 0},
	    {"map: a function name is required", 1},
	    {"group_by_key: partitions must be 0..100000, got -1", 2},
	    {"count_by_key: partitions must be 0..100000, got 100001", 3},
	    {"repartition: partitions must be at least 1, got 0", 4},
	    {"reduce_by_key: a function name is required", 5},
	    {"reduce_by_key: a function name is required", 6},
	    {"generator_stream: rate must be > 0 and partitions 1..4096, got 10 and 0",
	     7},
	    {"generator_stream: rate must be > 0 and partitions 1..4096, got 0 and 1", 8},
	    {"socket_text_stream: need a host and a port 1..65535, got localhost:0", 9},
	    {"socket_text_stream: need a host and a port 1..65535, got (null):80", 10},
	    {"text_file_stream: a directory is required", 11},
	    {"save_as_text_files: a prefix is required", 12},
	    {"my job needs input.dir (got 7 keys)", 13},
	    {"union: input stream 1 is NULL or from another job", 14},
	    {"transform: a function name is required", 15},
	    {"foreach_partition: a function name is required", 16},
	    {"map_to_pair: a function name is required", 17},
	    {"union: input stream 2 is NULL or from another job", 18},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ctx = api_ctx_new(NULL);
		sl_ctx *other = api_ctx_new(NULL);
		sl_stream *s = sl_text_file_stream(ctx, "/in");
		sl_stream *foreign = sl_text_file_stream(other, "/in");
		switch (cases[i].which) {
		case 0:
			sl_union(s, NULL);
			break;
		case 1:
			sl_map(s, "");
			break;
		case 2:
			sl_group_by_key(s, -1);
			break;
		case 3:
			sl_count_by_key(s, 100001);
			break;
		case 4:
			sl_repartition(s, 0);
			break;
		case 5:
			sl_reduce_by_key(s, NULL, 1);
			break;
		case 6:
			sl_reduce_by_key(s, "", 1);
			break;
		case 7:
			sl_generator_stream(ctx, "sl_gen_words", 10, 0);
			break;
		case 8:
			sl_generator_stream(ctx, "sl_gen_words", 0, 1);
			break;
		case 9:
			sl_socket_text_stream(ctx, "localhost", 0);
			break;
		case 10:
			sl_socket_text_stream(ctx, NULL, 80);
			break;
		case 11:
			sl_text_file_stream(ctx, "");
			break;
		case 12:
			sl_save_as_text_files(s, "", NULL);
			break;
		case 13:
			assert_int_equal(
			    sl_fail(ctx, "my job needs %s (got %d keys)", "input.dir", 7),
			    -1);
			break;
		case 14:
			sl_union(NULL, s);
			break;
		case 18:
			sl_union(s, foreign); /* a stream of another job */
			break;
		case 15:
			sl_transform(s, NULL);
			break;
		case 16:
			sl_foreach_partition(s, "");
			break;
		case 17:
			sl_map_to_pair(s, NULL);
			break;
		}
		if (api_ctx_error(ctx) == NULL ||
		    strcmp(api_ctx_error(ctx), cases[i].want) != 0)
			fail_msg("case %zu: want \"%s\", got \"%s\"", i, cases[i].want,
			         api_ctx_error(ctx) ? api_ctx_error(ctx) : "(none)");
		/* nothing was added by the failing call */
		assert_int_equal(api_ctx_graph(ctx)->n_nodes, 1);
		assert_null(api_ctx_error(other));
		api_ctx_free(other);
		api_ctx_free(ctx);
	}

	/* NULL streams (no context to record in) are passed along as NULL */
	assert_null(sl_map(NULL, "f"));
	assert_null(sl_union(NULL, NULL));
	assert_null(sl_count_by_key(NULL, 0));
	assert_null(sl_transform(NULL, "f"));
	sl_print(NULL, 1);
	sl_save_as_text_files(NULL, "/x", NULL);
	sl_foreach_partition(NULL, "f");
}

/* ---- graph_validate on hand-built graphs ---- */

#define MAXN 8

typedef struct {
	Sluice__JobGraph g;
	Sluice__Node nodes[MAXN];
	Sluice__Node *ptrs[MAXN];
	uint32_t inputs[MAXN][2];
} hgraph;

/* A valid graph: 0 files -> 1 map(fn) -> 2 print. */
static void hgraph_init(hgraph *h, size_t n)
{
	memset(h, 0, sizeof(*h));
	sluice__job_graph__init(&h->g);
	for (size_t i = 0; i < MAXN; i++) {
		sluice__node__init(&h->nodes[i]);
		h->nodes[i].id = (uint32_t)i;
		h->nodes[i].inputs = h->inputs[i];
		h->ptrs[i] = &h->nodes[i];
	}
	h->g.nodes = h->ptrs;
	h->g.n_nodes = n;
}

static Sluice__Node *hnode(hgraph *h, size_t i, Sluice__NodeKind k, const char *fn,
                           int nin, uint32_t in0, uint32_t in1)
{
	Sluice__Node *n = &h->nodes[i];
	n->kind = k;
	n->fn = (char *)fn;
	n->n_inputs = (size_t)nin;
	h->inputs[i][0] = in0;
	h->inputs[i][1] = in1;
	return n;
}

static void hgraph_basic(hgraph *h)
{
	hgraph_init(h, 3);
	hnode(h, 0, SLUICE__NODE_KIND__SRC_FILES, "", 0, 0, 0)->path = "/in";
	hnode(h, 1, SLUICE__NODE_KIND__OP_MAP, "upper", 1, 0, 0);
	hnode(h, 2, SLUICE__NODE_KIND__OUT_PRINT, "", 1, 1, 0)->num = 10;
}

static void expect_refusal(const Sluice__JobGraph *g, const char *part)
{
	char err[ERRLEN] = "";
	assert_int_equal(graph_validate(g, err, sizeof(err)), SL_EJOB);
	assert_contains(err, part);
}

static void test_validate_refusals(void **state)
{
	(void)state;
	hgraph h;
	char err[ERRLEN];

	hgraph_basic(&h);
	assert_int_equal(graph_validate(&h.g, err, sizeof(err)), SL_OK);

	/* empty: no graph, or no nodes */
	expect_refusal(NULL, "the job graph is empty");
	hgraph_init(&h, 0);
	expect_refusal(&h.g, "the job graph is empty");

	/* no output operation */
	hgraph_basic(&h);
	h.g.n_nodes = 2;
	expect_refusal(&h.g, "no output operation");
	hgraph_init(&h, 1);
	hnode(&h, 0, SLUICE__NODE_KIND__SRC_SOCKET, "", 0, 0, 0);
	expect_refusal(
	    &h.g, "the job graph has no output operation (print, save_as_text_files, "
	          "foreach_partition, kafka_sink): nothing would run");

	/* an input that does not exist */
	hgraph_basic(&h);
	h.inputs[2][0] = 7;
	expect_refusal(&h.g, "graph node 2 (print): input 7 is not an earlier stream");
	h.inputs[2][0] = UINT32_MAX;
	expect_refusal(&h.g,
	               "graph node 2 (print): input 4294967295 is not an earlier stream");

	/* a forward reference (a cycle needs one), and a self reference */
	hgraph_basic(&h);
	h.inputs[1][0] = 2;
	expect_refusal(&h.g, "graph node 1 (map): input 2 is not an earlier stream");
	hgraph_basic(&h);
	h.inputs[1][0] = 1;
	expect_refusal(&h.g, "graph node 1 (map): input 1 is not an earlier stream");

	/* an output used as an input */
	hgraph_init(&h, 3);
	hnode(&h, 0, SLUICE__NODE_KIND__SRC_FILES, "", 0, 0, 0);
	hnode(&h, 1, SLUICE__NODE_KIND__OUT_PRINT, "", 1, 0, 0);
	hnode(&h, 2, SLUICE__NODE_KIND__OUT_PRINT, "", 1, 1, 0);
	expect_refusal(&h.g, "graph node 2 (print): input 1 is not an earlier stream");

	/* unknown kinds: none, a gap in the numbering, far out of range */
	int unknown[] = {0, 5, 16, 29, 34, 44, 52, 65, 71, 999, -1};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		hgraph_basic(&h);
		h.nodes[1].kind = (Sluice__NodeKind)unknown[i];
		char want[64];
		snprintf(want, sizeof(want), "graph node 1 has unknown kind %d",
		         unknown[i]);
		expect_refusal(&h.g, want);
	}

	/* a function is required for map, flat_map, filter, map_to_pair,
	 * reduce_by_key, transform, foreach_partition and generators */
	Sluice__NodeKind needs[] = {SLUICE__NODE_KIND__OP_MAP,
	                            SLUICE__NODE_KIND__OP_FLAT_MAP,
	                            SLUICE__NODE_KIND__OP_FILTER,
	                            SLUICE__NODE_KIND__OP_MAP_TO_PAIR,
	                            SLUICE__NODE_KIND__OP_REDUCE_BY_KEY,
	                            SLUICE__NODE_KIND__OP_TRANSFORM,
	                            SLUICE__NODE_KIND__OUT_FOREACH_PARTITION};
	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
		for (int null_fn = 0; null_fn < 2; null_fn++) {
			hgraph_basic(&h);
			h.nodes[1].kind = needs[i];
			h.nodes[1].fn = null_fn ? NULL : "";
			char want[96];
			snprintf(want, sizeof(want),
			         "graph node 1 (%s) names no function",
			         graph_kind_name(needs[i]));
			expect_refusal(&h.g, want);
		}
	}
	hgraph_basic(&h);
	h.nodes[0].kind = SLUICE__NODE_KIND__SRC_GENERATOR;
	h.nodes[0].fn = "";
	h.nodes[0].rate = 10;
	h.nodes[0].partitions = 1;
	expect_refusal(&h.g, "graph node 0 (generator_stream) names no function");
	/* ...and not for the others */
	Sluice__NodeKind no_fn[] = {SLUICE__NODE_KIND__OP_GROUP_BY_KEY,
	                            SLUICE__NODE_KIND__OP_COUNT_BY_KEY,
	                            SLUICE__NODE_KIND__OP_REPARTITION};
	for (size_t i = 0; i < sizeof(no_fn) / sizeof(no_fn[0]); i++) {
		hgraph_basic(&h);
		h.nodes[1].kind = no_fn[i];
		h.nodes[1].fn = "";
		h.nodes[1].partitions = 2;
		assert_int_equal(graph_validate(&h.g, err, sizeof(err)), SL_OK);
	}

	/* arity */
	hgraph_basic(&h);
	h.nodes[1].n_inputs = 2;
	expect_refusal(&h.g, "graph node 1 (map) has 2 inputs, expected 1");
	hgraph_basic(&h);
	h.nodes[1].kind = SLUICE__NODE_KIND__OP_UNION;
	expect_refusal(&h.g, "graph node 1 (union) has 1 inputs, expected 2");
	hgraph_basic(&h);
	h.nodes[0].n_inputs = 1;
	expect_refusal(&h.g, "graph node 0 (text_file_stream) has 1 inputs, expected 0");
	hgraph_basic(&h);
	h.nodes[2].n_inputs = 0;
	expect_refusal(&h.g, "graph node 2 (print) has 0 inputs, expected 1");
	/* a union of the same stream twice is fine */
	hgraph_basic(&h);
	hnode(&h, 1, SLUICE__NODE_KIND__OP_UNION, "", 2, 0, 0);
	assert_int_equal(graph_validate(&h.g, err, sizeof(err)), SL_OK);

	/* ids must be the positions */
	hgraph_basic(&h);
	h.nodes[1].id = 5;
	expect_refusal(&h.g, "graph node 1 has id 5: ids must be 0..n-1 in order");

	/* too many nodes (checked before any node is looked at) */
	hgraph_basic(&h);
	h.g.n_nodes = 10001;
	expect_refusal(&h.g, "the job graph has 10001 nodes (limit 10000)");

	/* the error is cut to the buffer, NUL-terminated */
	char small[8];
	hgraph_init(&h, 0);
	assert_int_equal(graph_validate(&h.g, small, sizeof(small)), SL_EJOB);
	assert_string_equal(small, "the job");
}

/* Partition counts and rates the builder refuses are refused in a graph
 * that comes over the wire too: the master plans one task per partition. */
static void test_validate_bounds(void **state)
{
	(void)state;
	hgraph h;
	char err[ERRLEN];
	Sluice__NodeKind shuffles[] = {
	    SLUICE__NODE_KIND__OP_REDUCE_BY_KEY, SLUICE__NODE_KIND__OP_GROUP_BY_KEY,
	    SLUICE__NODE_KIND__OP_COUNT_BY_KEY, SLUICE__NODE_KIND__OP_REPARTITION,
	    SLUICE__NODE_KIND__OP_TRANSFORM};
	for (size_t i = 0; i < sizeof(shuffles) / sizeof(shuffles[0]); i++) {
		hgraph_basic(&h);
		h.nodes[1].kind = shuffles[i];
		h.nodes[1].fn = "f";
		h.nodes[1].partitions = 100000;
		assert_int_equal(graph_validate(&h.g, err, sizeof(err)), SL_OK);
		h.nodes[1].partitions = 100001;
		char want[128];
		snprintf(want, sizeof(want),
		         "graph node 1 (%s) has 100001 partitions (limit 100000)",
		         graph_kind_name(shuffles[i]));
		expect_refusal(&h.g, want);
		h.nodes[1].partitions = UINT32_MAX;
		expect_refusal(&h.g, "has 4294967295 partitions (limit 100000)");
	}
	hgraph_basic(&h);
	h.nodes[0].kind = SLUICE__NODE_KIND__SRC_GENERATOR;
	h.nodes[0].fn = "sl_gen_words";
	h.nodes[0].rate = 10;
	h.nodes[0].partitions = 4096;
	assert_int_equal(graph_validate(&h.g, err, sizeof(err)), SL_OK);
	h.nodes[0].partitions = 4097;
	expect_refusal(
	    &h.g, "graph node 0 (generator_stream) has 4097 partitions (limit 4096)");
	h.nodes[0].partitions = 2;
	h.nodes[0].rate = 0;
	expect_refusal(&h.g,
	               "graph node 0 (generator_stream) has rate 0: it must be > 0");
	h.nodes[0].rate = -5;
	expect_refusal(&h.g,
	               "graph node 0 (generator_stream) has rate -5: it must be > 0");
}

/* ---- graph_check_symbols ---- */

typedef struct {
	const char *const *known;
	int calls;
	char last[64];
} resolver;

static int resolve(void *arg, const char *name)
{
	resolver *r = arg;
	r->calls++;
	snprintf(r->last, sizeof(r->last), "%s", name);
	for (size_t i = 0; r->known[i] != NULL; i++)
		if (strcmp(r->known[i], name) == 0)
			return 0;
	return -1;
}

static void test_check_symbols(void **state)
{
	(void)state;
	static const char *const known[] = {"upper", "keep", "store", NULL};
	resolver r = {.known = known};
	char err[ERRLEN] = "";
	hgraph h;

	/* 0 files, 1 map upper, 2 filter keep, 3 flat_map sl_split_words,
	 * 4 reduce sl_sum_i64, 5 count_by_key (no fn), 6 foreach store */
	hgraph_init(&h, 7);
	hnode(&h, 0, SLUICE__NODE_KIND__SRC_FILES, "", 0, 0, 0);
	hnode(&h, 1, SLUICE__NODE_KIND__OP_MAP, "upper", 1, 0, 0);
	hnode(&h, 2, SLUICE__NODE_KIND__OP_FILTER, "keep", 1, 1, 0);
	hnode(&h, 3, SLUICE__NODE_KIND__OP_FLAT_MAP, "sl_split_words", 1, 2, 0);
	hnode(&h, 4, SLUICE__NODE_KIND__OP_REDUCE_BY_KEY, "sl_sum_i64", 1, 3, 0);
	hnode(&h, 5, SLUICE__NODE_KIND__OP_COUNT_BY_KEY, "ignored", 1, 4, 0);
	hnode(&h, 6, SLUICE__NODE_KIND__OUT_FOREACH_PARTITION, "store", 1, 5, 0);
	assert_int_equal(graph_validate(&h.g, err, sizeof(err)), SL_OK);
	assert_int_equal(graph_check_symbols(&h.g, resolve, &r, err, sizeof(err)), SL_OK);
	/* only user functions go to the resolver, not built-ins nor the name
	 * on a node kind that takes none */
	assert_int_equal(r.calls, 3);
	assert_string_equal(r.last, "store");

	/* a name the library does not export */
	r.calls = 0;
	h.nodes[2].fn = "missing_fn";
	assert_int_equal(graph_check_symbols(&h.g, resolve, &r, err, sizeof(err)),
	                 SL_EJOB);
	assert_string_equal(err,
	                    "filter (node 2) names function 'missing_fn', which the job "
	                    "library does not export");
	assert_int_equal(r.calls, 2); /* stopped at the first unknown name */

	/* a built-in that does not exist: refused without asking the resolver */
	h.nodes[2].fn = "keep";
	h.nodes[4].fn = "sl_product_i64";
	r.calls = 0;
	assert_int_equal(graph_check_symbols(&h.g, resolve, &r, err, sizeof(err)),
	                 SL_EJOB);
	assert_string_equal(
	    err, "reduce_by_key (node 4) names built-in 'sl_product_i64', which "
	         "does not exist");
	assert_int_equal(r.calls, 2);

	/* every built-in name is known */
	const char *builtins[] = {"sl_split_words", "sl_pair_one", "sl_sum_i64",
	                          "sl_min_i64",     "sl_max_i64",  "sl_gen_words",
	                          "sl_gen_lines"};
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		h.nodes[4].fn = (char *)builtins[i];
		assert_int_equal(graph_check_symbols(&h.g, resolve, &r, err, sizeof(err)),
		                 SL_OK);
	}
	h.nodes[6].fn = "Store"; /* names are case-sensitive */
	assert_int_equal(graph_check_symbols(&h.g, resolve, &r, err, sizeof(err)),
	                 SL_EJOB);
	assert_contains(err, "foreach_partition (node 6) names function 'Store'");
}

/* ---- built-ins ---- */

typedef struct {
	sl_emitter base;
	int n;
	char key[16][64];
	uint32_t klen[16];
	uint8_t val[16][128];
	uint32_t vlen[16];
	int64_t time[16];
	int fail_after; /* emit returns -9 from this record on; 0 = never */
} collector;

static int collect_emit(sl_emitter *self, const sl_record *r)
{
	collector *c = (collector *)self;
	if (c->fail_after > 0 && c->n >= c->fail_after)
		return -9;
	assert_true(c->n < 16);
	assert_true(r->key_len <= sizeof(c->key[0]) && r->value_len <= sizeof(c->val[0]));
	if (r->key_len)
		memcpy(c->key[c->n], r->key, r->key_len);
	c->klen[c->n] = r->key_len;
	if (r->value_len)
		memcpy(c->val[c->n], r->value, r->value_len);
	c->vlen[c->n] = r->value_len;
	c->time[c->n] = r->event_time_ms;
	c->n++;
	return 0;
}

static void collector_init(collector *c)
{
	memset(c, 0, sizeof(*c));
	c->base.emit = collect_emit;
}

static void *builtin(const char *name, builtin_kind want)
{
	builtin_kind k = (builtin_kind)-1;
	void *fn = builtin_find(name, &k);
	assert_non_null(fn);
	assert_int_equal(k, want);
	assert_ptr_equal(builtin_find(name, NULL), fn);
	return fn;
}

static void test_builtin_split_pair(void **state)
{
	(void)state;
	sl_map_fn split = (sl_map_fn)builtin("sl_split_words", BUILTIN_MAP);
	sl_map_fn pair = (sl_map_fn)builtin("sl_pair_one", BUILTIN_MAP);
	collector c;

	static const char text[] = " \t alpha\tbeta  \r\n\vgamma\fdelta\n\n  x ";
	sl_record in = {.value = (const uint8_t *)text,
	                .value_len = (uint32_t)(sizeof(text) - 1),
	                .event_time_ms = 1234};
	collector_init(&c);
	assert_int_equal(split(&in, &c.base), 0);
	const char *want[] = {"alpha", "beta", "gamma", "delta", "x"};
	assert_int_equal(c.n, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(c.vlen[i], strlen(want[i]));
		assert_memory_equal(c.val[i], want[i], c.vlen[i]);
		assert_int_equal(c.klen[i], 0);
		assert_int_equal(c.time[i], 1234);
	}
	/* only whitespace, and nothing at all */
	in.value = (const uint8_t *)" \t\n ";
	in.value_len = 4;
	collector_init(&c);
	assert_int_equal(split(&in, &c.base), 0);
	assert_int_equal(c.n, 0);
	in.value = NULL;
	in.value_len = 0;
	assert_int_equal(split(&in, &c.base), 0);
	assert_int_equal(c.n, 0);
	/* a word running to the end of the value without a separator; bytes
	 * that are not ASCII are part of words */
	in.value = (const uint8_t *)"na\xc3\xafve end";
	in.value_len = 10;
	collector_init(&c);
	assert_int_equal(split(&in, &c.base), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.vlen[0], 6);
	assert_memory_equal(c.val[0], "na\xc3\xafve", 6);
	assert_memory_equal(c.val[1], "end", 3);
	/* the emitter's error stops the split and is returned */
	in.value = (const uint8_t *)"a b c";
	in.value_len = 5;
	collector_init(&c);
	c.fail_after = 1;
	assert_int_equal(split(&in, &c.base), -9);
	assert_int_equal(c.n, 1);

	/* pair_one: (value, i64 1), the key is the value */
	in.value = (const uint8_t *)"word";
	in.value_len = 4;
	in.event_time_ms = 77;
	collector_init(&c);
	assert_int_equal(pair(&in, &c.base), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.klen[0], 4);
	assert_memory_equal(c.key[0], "word", 4);
	assert_int_equal(c.vlen[0], 8);
	assert_int_equal(sl_i64_decode(c.val[0], 8), 1);
	assert_int_equal(c.time[0], 77);
	/* of an empty value: the empty key */
	in.value_len = 0;
	collector_init(&c);
	assert_int_equal(pair(&in, &c.base), 0);
	assert_int_equal(c.klen[0], 0);
	assert_int_equal(sl_i64_decode(c.val[0], 8), 1);

	/* unknown names */
	builtin_kind k = BUILTIN_GEN;
	assert_null(builtin_find("sl_nope", &k));
	assert_int_equal(k, BUILTIN_GEN); /* untouched */
	assert_null(builtin_find("", NULL));
	assert_null(builtin_find("SL_SUM_I64", NULL));
}

static int64_t reduce(sl_reduce_fn fn, int64_t a, int64_t b)
{
	uint8_t x[8], y[8];
	sl_value out = {0};
	sl_i64_encode(a, x);
	sl_i64_encode(b, y);
	assert_int_equal(fn(x, 8, y, 8, &out), 0);
	assert_int_equal(out.len, 8);
	int64_t r = sl_i64_decode(out.data, out.len);
	sl_free(out.data);
	return r;
}

static void test_builtin_reduce(void **state)
{
	(void)state;
	sl_reduce_fn sum = (sl_reduce_fn)builtin("sl_sum_i64", BUILTIN_REDUCE);
	sl_reduce_fn min = (sl_reduce_fn)builtin("sl_min_i64", BUILTIN_REDUCE);
	sl_reduce_fn max = (sl_reduce_fn)builtin("sl_max_i64", BUILTIN_REDUCE);

	assert_int_equal(reduce(sum, 2, 3), 5);
	assert_int_equal(reduce(sum, -7, 3), -4);
	assert_int_equal(reduce(sum, 0, 0), 0);
	assert_int_equal(reduce(sum, 1ll << 40, 1ll << 40), 1ll << 41);
	/* overflow wraps (two's complement), it is not undefined */
	assert_int_equal(reduce(sum, INT64_MAX, 1), INT64_MIN);
	assert_int_equal(reduce(sum, INT64_MIN, -1), INT64_MAX);
	assert_int_equal(reduce(min, 2, 3), 2);
	assert_int_equal(reduce(min, 3, -2), -2);
	assert_int_equal(reduce(min, INT64_MIN, INT64_MAX), INT64_MIN);
	assert_int_equal(reduce(max, 2, 3), 3);
	assert_int_equal(reduce(max, -3, -2), -2);
	assert_int_equal(reduce(max, INT64_MIN, INT64_MAX), INT64_MAX);

	/* values that are not 8 bytes: SL_EINVAL, nothing written */
	sl_reduce_fn all[] = {sum, min, max};
	uint8_t v[9] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
	for (int i = 0; i < 3; i++) {
		sl_value out = {0};
		assert_int_equal(all[i](v, 7, v, 8, &out), SL_EINVAL);
		assert_int_equal(all[i](v, 8, v, 9, &out), SL_EINVAL);
		assert_int_equal(all[i](v, 0, v, 8, &out), SL_EINVAL);
		assert_int_equal(all[i](v, 8, NULL, 0, &out), SL_EINVAL);
		assert_int_equal(out.len, 0);
		assert_null(out.data);
	}
	/* sl_value_set reuses its buffer */
	sl_value out = {0};
	sl_value_set(&out, "0123456789", 10);
	uint8_t *first = out.data;
	sl_value_set(&out, "ab", 2);
	assert_ptr_equal(out.data, first);
	assert_int_equal(out.len, 2);
	assert_memory_equal(out.data, "ab", 2);
	sl_value_set(&out, NULL, 0);
	assert_int_equal(out.len, 0);
	sl_free(out.data);

	/* the i64 encoding is little-endian */
	uint8_t b[8];
	sl_i64_encode(0x0102030405060708ll, b);
	assert_int_equal(b[0], 8);
	assert_int_equal(b[7], 1);
	assert_int_equal(sl_i64_decode(b, 8), 0x0102030405060708ll);
	sl_i64_encode(-2, b);
	assert_int_equal(b[0], 0xfe);
	assert_int_equal(b[7], 0xff);
	assert_int_equal(sl_i64_decode(b, 8), -2);
	assert_int_equal(sl_i64_decode(b, 7), 0);
}

static int is_vocab_word(const uint8_t *w, uint32_t n)
{
	return n == 4 && w[0] == 'w' && w[1] >= '0' && w[1] <= '9' && w[2] >= '0' &&
	       w[2] <= '9' && w[3] >= '0' && w[3] <= '9';
}

static void test_builtin_generators(void **state)
{
	(void)state;
	sl_generator_fn words = (sl_generator_fn)builtin("sl_gen_words", BUILTIN_GEN);
	sl_generator_fn lines = (sl_generator_fn)builtin("sl_gen_lines", BUILTIN_GEN);
	collector a, b;
	int differ_index = 0, differ_batch = 0;
	for (int64_t i = 0; i < 200; i++) {
		collector_init(&a);
		collector_init(&b);
		assert_int_equal(words(1700000000000ll, i, &a.base), 0);
		assert_int_equal(words(1700000000000ll, i, &b.base), 0);
		/* exactly one record, a vocabulary word, stamped with the batch time */
		assert_int_equal(a.n, 1);
		assert_int_equal(a.klen[0], 0);
		assert_true(is_vocab_word(a.val[0], a.vlen[0]));
		assert_int_equal(a.time[0], 1700000000000ll);
		/* the same (batch, index): the same word */
		assert_int_equal(a.vlen[0], b.vlen[0]);
		assert_memory_equal(a.val[0], b.val[0], a.vlen[0]);
		collector_init(&b);
		assert_int_equal(words(1700000000000ll, i + 1, &b.base), 0);
		differ_index += memcmp(a.val[0], b.val[0], 4) != 0;
		collector_init(&b);
		assert_int_equal(words(1700000001000ll, i, &b.base), 0);
		differ_batch += memcmp(a.val[0], b.val[0], 4) != 0;
	}
	/* not constant: other indices and other batches give other words */
	assert_true(differ_index > 100);
	assert_true(differ_batch > 100);

	/* a line is the 8 words of indices 8i..8i+7, separated by spaces */
	for (int64_t i = 0; i < 50; i++) {
		collector_init(&a);
		assert_int_equal(lines(42000, i, &a.base), 0);
		assert_int_equal(a.n, 1);
		assert_int_equal(a.time[0], 42000);
		char expect[128];
		size_t n = 0;
		for (int k = 0; k < 8; k++) {
			collector_init(&b);
			assert_int_equal(words(42000, i * 8 + k, &b.base), 0);
			if (k)
				expect[n++] = ' ';
			memcpy(expect + n, b.val[0], b.vlen[0]);
			n += b.vlen[0];
		}
		assert_int_equal(a.vlen[0], n);
		assert_memory_equal(a.val[0], expect, n);
		collector_init(&b);
		assert_int_equal(lines(42000, i, &b.base), 0);
		assert_memory_equal(a.val[0], b.val[0], n);
	}
	/* the emitter's error comes back */
	collector_init(&a);
	a.fail_after = 1;
	a.n = 1;
	assert_int_equal(words(0, 0, &a.base), -9);
	assert_int_equal(lines(0, 0, &a.base), -9);
}

/* ---- configuration seen by jobs ---- */

static void test_conf_lookup(void **state)
{
	(void)state;
	char err[ERRLEN];
	sl_conf *c = conf_new(CONF_APP_KEYS);
	assert_int_equal(conf_set(c, "source.port", "9999", err, sizeof(err)), SL_OK);
	assert_int_equal(conf_set(c, "spark.task.maxFailures", "7", err, sizeof(err)),
	                 SL_OK);
	assert_int_equal(
	    conf_set(c, "sluice.storage.level", "MEMORY_ONLY", err, sizeof(err)), SL_OK);

	/* the job's own keys */
	assert_string_equal(api_conf_lookup(c, "source.port"), "9999");
	assert_null(api_conf_lookup(c, "source.host"));
	/* reserved namespaces, undeclared: NULL (not an abort) */
	assert_null(api_conf_lookup(c, "spark.no.such.key"));
	assert_null(api_conf_lookup(c, "sluice.nothing"));
	assert_null(api_conf_lookup(c, "kafka.whatever"));
	assert_null(api_conf_lookup(c, "spark."));
	/* declared keys read as their text: set, or the default */
	assert_string_equal(api_conf_lookup(c, "sluice.storage.level"), "MEMORY_ONLY");
	assert_string_equal(api_conf_lookup(c, "spark.task.maxFailures"), "7");
	assert_non_null(api_conf_lookup(c, "spark.streaming.blockInterval"));
	assert_string_equal(api_conf_lookup(c, "spark.streaming.blockInterval"),
	                    conf_key_find("spark.streaming.blockInterval")->def);
	/* no configuration, no key */
	assert_null(api_conf_lookup(NULL, "source.port"));
	assert_null(api_conf_lookup(c, NULL));

	/* the same through sl_conf_get, with defaults */
	sl_ctx *ctx = api_ctx_new(c);
	assert_string_equal(sl_conf_get(ctx, "spark.no.such.key", "dflt"), "dflt");
	assert_string_equal(sl_conf_get(ctx, "source.port", "1"), "9999");
	assert_string_equal(sl_conf_get(ctx, "spark.task.maxFailures", "4"), "7");
	api_ctx_free(ctx);

	/* and through sl_task_conf, inside a task only */
	assert_null(sl_task_conf("source.port"));
	assert_int_equal(sl_task_partition(), -1);
	assert_int_equal(sl_task_batch_time(), 0);
	assert_int_equal(sl_task_attempt(), 0);
	api_task t = {.batch_ms = 5000, .partition = 3, .attempt = 2, .conf = c};
	api_task_set(&t);
	assert_string_equal(sl_task_conf("source.port"), "9999");
	assert_null(sl_task_conf("kafka.nope"));
	assert_int_equal(sl_task_partition(), 3);
	assert_int_equal(sl_task_batch_time(), 5000);
	assert_int_equal(sl_task_attempt(), 2);
	api_task_set(NULL);
	assert_null(sl_task_conf("source.port"));
	conf_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_builder_nodes, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_builder_roundtrip, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_sticky_errors, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_validate_refusals, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_validate_bounds, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_check_symbols, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_builtin_split_pair, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_builtin_reduce, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_builtin_generators, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_conf_lookup, unit_setup, unit_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
