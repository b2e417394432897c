/*
 * Unit tests for the issue-11 half of the job API's graph: the builder calls
 * for windows, state, joins and event time (common/api_build.c), their
 * checks in graph_validate / graph_validate_job (common/graph.c), and the
 * runtime helpers a user function uses with them (sl_list_next, sl_state_*
 * in common/api_runtime.c) and the new built-ins.
 *
 * They pin down: the fields each call records; the refusals at build time
 * and again on hand-made graphs as the master gets them (zero/negative
 * durations, slide > length, negative lateness and timeouts, durations not
 * multiples of the batch interval), each naming the node and the numbers;
 * that every kind is planned (event_time_window too); symbol checks of the
 * inverse, filter and initial functions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "unit_util.h"
#include "api.h"
#include "config.h"
#include "sluice/err.h"

#define ERRLEN 512

static sl_stream *pairs(sl_ctx *ctx)
{
	return sl_map_to_pair(sl_socket_text_stream(ctx, "h", 9), "sl_pair_one");
}

static const Sluice__Node *node(sl_ctx *ctx, uint32_t id)
{
	const Sluice__JobGraph *g = api_ctx_graph(ctx);
	assert_true(id < g->n_nodes);
	return g->nodes[id];
}

static void test_builder_fields(void **state)
{
	(void)state;
	sl_ctx *ctx = api_ctx_new(NULL);
	sl_stream *p = pairs(ctx); /* 0 socket, 1 pair */
	sl_state_spec spec = {.fn = "mws", .timeout_ms = 3000, .initial_fn = "init"};
	sl_window(p, 3000, 1000); /* 2 */
	sl_reduce_by_key_and_window(p, "sl_sum_i64", "sl_sub_i64", "sl_nonzero_i64", 5000,
	                            2000, 4);                          /* 3 */
	sl_count_by_window(p, 4000, 2000);                             /* 4 */
	sl_count_by_value_and_window(p, 4000, 4000, 2);                /* 5 */
	sl_update_state_by_key(p, "upd", NULL, 3);                     /* 6 */
	sl_map_with_state(p, &spec);                                   /* 7 */
	sl_stream *j = sl_left_outer_join(p, pairs(ctx), 6);           /* 10 */
	sl_stream *t = sl_assign_event_time(p, "ts");                  /* 11 */
	sl_print(sl_event_time_window(t, NULL, 1500, 500, 250, 0), 1); /* 12, 13 */
	sl_print(j, 1);                                                /* 14 */
	assert_null(api_ctx_error(ctx));

	const Sluice__Node *n = node(ctx, 2);
	assert_int_equal(n->kind, SLUICE__NODE_KIND__OP_WINDOW);
	assert_int_equal(n->length_ms, 3000);
	assert_int_equal(n->slide_ms, 1000);
	n = node(ctx, 3);
	assert_int_equal(n->kind, SLUICE__NODE_KIND__OP_REDUCE_BY_KEY_AND_WINDOW);
	assert_string_equal(n->fn, "sl_sum_i64");
	assert_string_equal(n->inv_fn, "sl_sub_i64");
	assert_string_equal(n->filter_fn, "sl_nonzero_i64");
	assert_int_equal(n->partitions, 4);
	assert_int_equal(n->value_format, SLUICE__VALUE_FORMAT__FORMAT_I64);
	assert_int_equal(node(ctx, 4)->value_format, SLUICE__VALUE_FORMAT__FORMAT_I64);
	assert_int_equal(node(ctx, 5)->partitions, 2);
	n = node(ctx, 6);
	assert_int_equal(n->kind, SLUICE__NODE_KIND__OP_UPDATE_STATE_BY_KEY);
	assert_string_equal(n->fn, "upd");
	assert_string_equal(n->init_fn, "");
	n = node(ctx, 7);
	assert_int_equal(n->kind, SLUICE__NODE_KIND__OP_MAP_WITH_STATE);
	assert_int_equal(n->timeout_ms, 3000);
	assert_string_equal(n->init_fn, "init");
	n = node(ctx, 10);
	assert_int_equal(n->kind, SLUICE__NODE_KIND__OP_LEFT_OUTER_JOIN);
	assert_int_equal(n->n_inputs, 2);
	assert_int_equal(n->inputs[0], 1);
	assert_int_equal(n->inputs[1], 9);
	assert_int_equal(n->partitions, 6);
	assert_int_equal(n->value_format, SLUICE__VALUE_FORMAT__FORMAT_LIST_TEXT);
	sl_cogroup(p, p, 0); /* 15 */
	assert_int_equal(node(ctx, 15)->value_format,
	                 SLUICE__VALUE_FORMAT__FORMAT_LIST_LISTS);
	assert_int_equal(node(ctx, 15)->kind, SLUICE__NODE_KIND__OP_COGROUP);
	assert_int_equal(node(ctx, 11)->kind, SLUICE__NODE_KIND__OP_ASSIGN_EVENT_TIME);
	n = node(ctx, 12);
	assert_int_equal(n->kind, SLUICE__NODE_KIND__OP_EVENT_TIME_WINDOW);
	assert_int_equal(n->lateness_ms, 250);
	assert_string_equal(n->fn, "");
	assert_int_equal(n->value_format, SLUICE__VALUE_FORMAT__FORMAT_I64);

	char err[ERRLEN];
	const Sluice__JobGraph *g = api_ctx_graph(ctx);
	/* structurally fine, multiples of 500 ms; every kind is planned
	 * (master/plan.c), event_time_window as a stateful node */
	assert_int_equal(graph_validate_job(g, 500, err, sizeof(err)), SL_OK);
	/* a window over a stateful stream would re-run earlier batches' state */
	sl_ctx *sc = api_ctx_new(NULL);
	sl_stream *st = sl_update_state_by_key(pairs(sc), "upd", NULL, 2);
	sl_print(sl_map(sl_window(st, 1000, 500), "m"), 3);
	assert_int_equal(graph_validate_job(api_ctx_graph(sc), 500, err, sizeof(err)),
	                 SL_EJOB);
	assert_contains(err, "(window) reads update_state_by_key (node 2): a window "
	                     "over a stateful stream is not supported");
	api_ctx_free(sc);
	/* 5000/2000 are not multiples of 1500: the numbers come first */
	assert_int_equal(graph_validate_job(g, 1500, err, sizeof(err)), SL_EJOB);
	assert_contains(err,
	                "node 2 (window): window length 3000 ms and slide 1000 ms must "
	                "be multiples of the batch interval 1500 ms");
	api_ctx_free(ctx);
}

/* Builds one call on a fresh context and expects its error message. */
typedef void (*build_fn)(sl_stream *p);

static void expect_build_error(build_fn f, const char *part)
{
	sl_ctx *ctx = api_ctx_new(NULL);
	f(pairs(ctx));
	assert_contains(api_ctx_error(ctx), part);
	api_ctx_free(ctx);
}

static void b_zero(sl_stream *p)
{
	sl_window(p, 0, 1000);
}
static void b_negative_slide(sl_stream *p)
{
	sl_count_by_window(p, 1000, -1);
}
static void b_slide_gt(sl_stream *p)
{
	sl_reduce_by_key_and_window(p, "sl_sum_i64", NULL, NULL, 2000, 3000, 0);
}
static void b_lateness(sl_stream *p)
{
	sl_event_time_window(p, NULL, 1000, 1000, -1, 0);
}
static void b_timeout(sl_stream *p)
{
	sl_state_spec s = {.fn = "f", .timeout_ms = -7};
	sl_map_with_state(p, &s);
}
static void b_filter_no_inv(sl_stream *p)
{
	sl_reduce_by_key_and_window(p, "sl_sum_i64", NULL, "keep", 2000, 1000, 0);
}
static void b_no_reduce(sl_stream *p)
{
	sl_reduce_by_key_and_window(p, NULL, NULL, NULL, 2000, 1000, 0);
}
static void b_no_update(sl_stream *p)
{
	sl_update_state_by_key(p, NULL, NULL, 0);
}
static void b_no_spec(sl_stream *p)
{
	sl_map_with_state(p, NULL);
}
static void b_join_parts(sl_stream *p)
{
	sl_join(p, p, -1);
}
static void b_join_null(sl_stream *p)
{
	sl_cogroup(p, NULL, 0);
}

static void test_builder_refusals(void **state)
{
	(void)state;
	expect_build_error(b_zero,
	                   "node 2 (window): window length and slide must be > 0 ms, "
	                   "got 0 and 1000");
	expect_build_error(b_negative_slide, "count_by_window): window length and slide "
	                                     "must be > 0 ms, got 1000 and -1");
	expect_build_error(b_slide_gt,
	                   "node 2 (reduce_by_key_and_window): slide 3000 ms is "
	                   "longer than the window length 2000 ms");
	expect_build_error(b_lateness,
	                   "node 2 (event_time_window): allowed lateness must be "
	                   ">= 0 ms, got -1");
	expect_build_error(b_timeout,
	                   "map_with_state): timeout must be >= 0 ms (0 = none), "
	                   "got -7");
	expect_build_error(b_filter_no_inv, "filter_fn 'keep' needs an inverse reduce");
	expect_build_error(b_no_reduce, "a reduce function name is required");
	expect_build_error(b_no_update,
	                   "update_state_by_key: a function name is required");
	expect_build_error(b_no_spec, "map_with_state: a spec with a function name");
	expect_build_error(b_join_parts, "join: partitions must be 0..100000, got -1");
	expect_build_error(b_join_null, "cogroup: input stream 2 is NULL");
}

/* ---- hand-made graphs, as the master receives them ---- */

typedef struct {
	Sluice__JobGraph g;
	Sluice__Node nodes[4];
	Sluice__Node *ptrs[4];
	uint32_t in[4][2];
} hgraph;

/* 0 socket -> 1 KIND (inputs 0[,0]) -> 2 print(1) */
static Sluice__Node *hgraph_make(hgraph *h, Sluice__NodeKind k)
{
	memset(h, 0, sizeof(*h));
	sluice__job_graph__init(&h->g);
	for (int i = 0; i < 3; i++) {
		sluice__node__init(&h->nodes[i]);
		h->nodes[i].id = (uint32_t)i;
		h->nodes[i].inputs = h->in[i];
		h->ptrs[i] = &h->nodes[i];
	}
	h->nodes[0].kind = SLUICE__NODE_KIND__SRC_SOCKET;
	h->nodes[1].kind = k;
	h->nodes[1].n_inputs = graph_is_join(k) ? 2 : 1;
	h->nodes[1].fn = graph_needs_fn(k) ? "f" : "";
	h->nodes[2].kind = SLUICE__NODE_KIND__OUT_PRINT;
	h->nodes[2].n_inputs = 1;
	h->in[2][0] = 1;
	h->g.nodes = h->ptrs;
	h->g.n_nodes = 3;
	return &h->nodes[1];
}

static void expect_wire(const hgraph *h, int64_t batch_ms, const char *part)
{
	char err[ERRLEN] = "";
	assert_int_equal(graph_validate_job(&h->g, batch_ms, err, sizeof(err)), SL_EJOB);
	assert_contains(err, part);
}

static void test_wire_refusals(void **state)
{
	(void)state;
	hgraph h;
	Sluice__Node *n = hgraph_make(&h, SLUICE__NODE_KIND__OP_WINDOW);
	expect_wire(&h, 0,
	            "node 1 (window): window length and slide must be > 0 ms, got 0 "
	            "and 0");
	n->length_ms = 2000;
	n->slide_ms = 3000;
	expect_wire(&h, 0,
	            "node 1 (window): slide 3000 ms is longer than the window length "
	            "2000 ms");
	n->slide_ms = 700;
	n->name = "clicks";
	expect_wire(&h, 1000,
	            "node 1 'clicks' (window): window length 2000 ms and slide "
	            "700 ms must be multiples of the batch interval 1000 ms");
	/* without an interval (graph_validate) nothing refuses it: windows are
	 * planned (master/plan.c) */
	char werr[ERRLEN];
	assert_int_equal(graph_validate_job(&h.g, 0, werr, sizeof(werr)), SL_OK);

	n = hgraph_make(&h, SLUICE__NODE_KIND__OP_EVENT_TIME_WINDOW);
	n->length_ms = 1500; /* event time: no multiple of the interval needed */
	n->slide_ms = 500;
	n->lateness_ms = -3;
	expect_wire(&h, 1000,
	            "node 1 (event_time_window): allowed lateness must be >= 0 ms, "
	            "got -3");
	n->lateness_ms = 0; /* planned as a stateful node (master/stateplan.h) */
	assert_int_equal(graph_validate_job(&h.g, 1000, werr, sizeof(werr)), SL_OK);
	n->length_ms = 3600000;
	n->slide_ms = 1000;
	expect_wire(&h, 1000,
	            "node 1 (event_time_window): length 3600000 ms / slide 1000 ms "
	            "puts each record in more than 1000 windows");

	n = hgraph_make(&h, SLUICE__NODE_KIND__OP_MAP_WITH_STATE);
	n->timeout_ms = -1;
	expect_wire(&h, 1000,
	            "node 1 (map_with_state): state timeout must be >= 0 ms, got -1");
	n->fn = "";
	expect_wire(&h, 1000, "graph node 1 (map_with_state) names no function");

	n = hgraph_make(&h, SLUICE__NODE_KIND__OP_REDUCE_BY_KEY_AND_WINDOW);
	n->length_ms = n->slide_ms = 1000;
	n->filter_fn = "keep";
	expect_wire(&h, 1000, "filter_fn 'keep' needs an inverse function");

	n = hgraph_make(&h, SLUICE__NODE_KIND__OP_FULL_OUTER_JOIN);
	n->n_inputs = 1;
	expect_wire(&h, 1000, "graph node 1 (full_outer_join) has 1 inputs, expected 2");
	n->n_inputs = 2; /* joins are planned (master/plan.c) */
	assert_int_equal(graph_validate_job(&h.g, 1000, werr, sizeof(werr)), SL_OK);
	n->partitions = 100001; /* the master plans a task per partition */
	expect_wire(
	    &h, 1000,
	    "graph node 1 (full_outer_join) has 100001 partitions (limit 100000)");
	n = hgraph_make(&h, SLUICE__NODE_KIND__OP_COUNT_BY_VALUE_AND_WINDOW);
	n->length_ms = n->slide_ms = 1000;
	n->partitions = 4000000000u;
	expect_wire(&h, 1000,
	            "graph node 1 (count_by_value_and_window) has 4000000000 partitions");

	/* assign_event_time runs fused in the chain: planned today */
	n = hgraph_make(&h, SLUICE__NODE_KIND__OP_ASSIGN_EVENT_TIME);
	char err[ERRLEN];
	assert_int_equal(graph_validate_job(&h.g, 1000, err, sizeof(err)), SL_OK);
	n->fn = "";
	expect_wire(&h, 1000, "names no function");
}

static int resolve_known(void *arg, const char *name)
{
	(void)arg;
	return strcmp(name, "known") == 0 ? 0 : -1;
}

static void test_symbols(void **state)
{
	(void)state;
	hgraph h;
	char err[ERRLEN];
	Sluice__Node *n = hgraph_make(&h, SLUICE__NODE_KIND__OP_REDUCE_BY_KEY_AND_WINDOW);
	n->fn = "known";
	n->inv_fn = "sl_sub_i64";
	n->filter_fn = "missing_filter";
	assert_int_equal(graph_check_symbols(&h.g, resolve_known, NULL, err, sizeof(err)),
	                 SL_EJOB);
	assert_contains(err, "names function 'missing_filter', which the job library");
	n->filter_fn = "sl_nonzero_i64";
	assert_int_equal(graph_check_symbols(&h.g, resolve_known, NULL, err, sizeof(err)),
	                 SL_OK);
	n->inv_fn = "sl_no_such";
	assert_int_equal(graph_check_symbols(&h.g, resolve_known, NULL, err, sizeof(err)),
	                 SL_EJOB);
	assert_contains(err, "names built-in 'sl_no_such', which does not exist");

	n = hgraph_make(&h, SLUICE__NODE_KIND__OP_UPDATE_STATE_BY_KEY);
	n->fn = "known";
	n->init_fn = "no_init";
	assert_int_equal(graph_check_symbols(&h.g, resolve_known, NULL, err, sizeof(err)),
	                 SL_EJOB);
	assert_contains(err, "'no_init'");
	/* event_time_window's optional reduce function is checked when named */
	n = hgraph_make(&h, SLUICE__NODE_KIND__OP_EVENT_TIME_WINDOW);
	assert_int_equal(graph_check_symbols(&h.g, resolve_known, NULL, err, sizeof(err)),
	                 SL_OK);
	n->fn = "absent";
	assert_int_equal(graph_check_symbols(&h.g, resolve_known, NULL, err, sizeof(err)),
	                 SL_EJOB);
}

/* ---- runtime helpers ---- */

static void test_list_next(void **state)
{
	(void)state;
	/* ["ab", absent, ""] */
	const uint8_t list[] = {2, 0, 0, 0, 'a', 'b', 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
	uint32_t off = 0, len = 0;
	const uint8_t *e = NULL;
	assert_int_equal(sl_list_next(list, sizeof(list), &off, &e, &len), 1);
	assert_int_equal(len, 2);
	assert_memory_equal(e, "ab", 2);
	assert_int_equal(sl_list_next(list, sizeof(list), &off, &e, &len), 1);
	assert_null(e);
	assert_int_equal(sl_list_next(list, sizeof(list), &off, &e, &len), 1);
	assert_non_null(e);
	assert_int_equal(len, 0);
	assert_int_equal(sl_list_next(list, sizeof(list), &off, &e, &len), 0);
	/* a length past the end, a truncated length */
	off = 0;
	assert_int_equal(sl_list_next(list, 5, &off, &e, &len), SL_EPROTO);
	off = 0;
	assert_int_equal(sl_list_next(list, 3, &off, &e, &len), SL_EPROTO);
	off = 9;
	assert_int_equal(sl_list_next(list, 4, &off, &e, &len), SL_EPROTO);
}

static void test_state_calls(void **state)
{
	(void)state;
	sl_state st = {.exists = false};
	uint32_t len = 9;
	assert_false(sl_state_exists(&st));
	assert_null(sl_state_get(&st, &len));
	assert_int_equal(len, 0);
	assert_int_equal(sl_state_update(&st, "xyz", 3), SL_OK);
	assert_true(sl_state_exists(&st) && st.changed);
	assert_memory_equal(sl_state_get(&st, &len), "xyz", 3);
	assert_int_equal(len, 3);
	sl_state_remove(&st);
	assert_false(sl_state_exists(&st));
	assert_false(sl_state_is_timing_out(&st));
	st.timing_out = true;
	assert_true(sl_state_is_timing_out(&st));
	sl_free(st.value.data);
}

static void test_new_builtins(void **state)
{
	(void)state;
	builtin_kind k;
	sl_reduce_fn sub = (sl_reduce_fn)builtin_find("sl_sub_i64", &k);
	assert_int_equal(k, BUILTIN_REDUCE);
	uint8_t a[8], b[8];
	sl_i64_encode(10, a);
	sl_i64_encode(13, b);
	sl_value v = {0};
	assert_int_equal(sub(a, 8, b, 8, &v), 0);
	assert_int_equal(sl_i64_decode(v.data, v.len), -3);
	assert_int_equal(sub(a, 7, b, 8, &v), SL_EINVAL);
	sl_free(v.data);
	sl_filter_fn nz = (sl_filter_fn)builtin_find("sl_nonzero_i64", &k);
	assert_int_equal(k, BUILTIN_FILTER);
	sl_record r = {.value = a, .value_len = 8};
	assert_int_equal(nz(&r), 1);
	sl_i64_encode(0, a);
	assert_int_equal(nz(&r), 0);
	r.value_len = 4;
	assert_int_equal(nz(&r), SL_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_builder_fields, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_builder_refusals, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_wire_refusals, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_symbols, unit_setup, unit_teardown),
	    cmocka_unit_test_setup_teardown(test_list_next, unit_setup, unit_teardown),
	    cmocka_unit_test_setup_teardown(test_state_calls, unit_setup, unit_teardown),
	    cmocka_unit_test_setup_teardown(test_new_builtins, unit_setup, unit_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
