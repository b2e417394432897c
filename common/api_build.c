/*
 * The graph-building half of the job API (runs in the client while a job
 * library's sluice_job_define executes).
 *
 * Each call appends a Node to the context's JobGraph; node ids are their
 * index, and a node's inputs always come earlier, so the graph is acyclic by
 * construction. Errors are sticky: the first one is kept, later calls do
 * nothing and return the same dummy stream, and `sluice submit` reports it.
 */
#include "alloc.h"
#include "api.h"
#include "kafka.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct sl_stream {
	sl_ctx *ctx;
	uint32_t id;
};

struct sl_ctx {
	const sl_conf *conf;
	Sluice__JobGraph graph;
	Sluice__Node **nodes;
	sl_stream **streams;
	size_t n, cap;
	char *error;
	sl_stream dummy;
};

sl_ctx *api_ctx_new(const sl_conf *conf)
{
	sl_ctx *c = sl_calloc(1, sizeof(*c));
	c->conf = conf;
	sluice__job_graph__init(&c->graph);
	c->dummy.ctx = c;
	return c;
}

static void node_free(Sluice__Node *n)
{
	for (size_t i = 0; i < n->n_params; i++) {
		sl_free(n->params[i]->key);
		sl_free(n->params[i]->value);
		sl_free(n->params[i]);
	}
	sl_free(n->params);
	sl_free(n->topics);
	sl_free(n->inputs);
	sl_free(n->fn);
	sl_free(n->host);
	sl_free(n->path);
	sl_free(n->suffix);
	sl_free(n->name);
	sl_free(n->inv_fn);
	sl_free(n->filter_fn);
	sl_free(n->init_fn);
	sl_free(n);
}

void api_ctx_free(sl_ctx *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++) {
		node_free(c->nodes[i]);
		sl_free(c->streams[i]);
	}
	sl_free(c->nodes);
	sl_free(c->streams);
	sl_free(c->error);
	sl_free(c);
}

const char *api_ctx_error(const sl_ctx *c)
{
	return c->error;
}

const Sluice__JobGraph *api_ctx_graph(sl_ctx *c)
{
	c->graph.nodes = c->nodes;
	c->graph.n_nodes = c->n;
	return &c->graph;
}

const char *sl_conf_get(sl_ctx *c, const char *key, const char *def)
{
	const char *v = api_conf_lookup(c->conf, key);
	return v ? v : def;
}

int sl_fail(sl_ctx *c, const char *fmt, ...)
{
	if (c->error != NULL)
		return -1;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	c->error = sl_strdup(buf);
	return -1;
}

static char *dup_or_empty(const char *s)
{
	return sl_strdup(s ? s : "");
}

/* Appends a node of kind k with the given inputs; NULL after an error. */
static Sluice__Node *node_add(sl_ctx *c, Sluice__NodeKind k, sl_stream *const *in,
                              size_t nin)
{
	if (c->error != NULL)
		return NULL;
	for (size_t i = 0; i < nin; i++) {
		if (in[i] == NULL || in[i] == &c->dummy || in[i]->ctx != c) {
			sl_fail(c, "%s: input stream %zu is NULL or from another job",
			        graph_kind_name(k), i + 1);
			return NULL;
		}
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->nodes = sl_realloc(c->nodes, c->cap * sizeof(*c->nodes));
		c->streams = sl_realloc(c->streams, c->cap * sizeof(*c->streams));
	}
	Sluice__Node *n = sl_calloc(1, sizeof(*n));
	sluice__node__init(n);
	n->id = (uint32_t)c->n;
	n->kind = k;
	n->fn = dup_or_empty(NULL);
	n->host = dup_or_empty(NULL);
	n->path = dup_or_empty(NULL);
	n->suffix = dup_or_empty(NULL);
	n->name = dup_or_empty(NULL);
	n->topics = dup_or_empty(NULL);
	n->inv_fn = dup_or_empty(NULL);
	n->filter_fn = dup_or_empty(NULL);
	n->init_fn = dup_or_empty(NULL);
	n->n_inputs = nin;
	n->inputs = sl_calloc(nin ? nin : 1, sizeof(uint32_t));
	for (size_t i = 0; i < nin; i++)
		n->inputs[i] = in[i]->id;
	sl_stream *s = sl_calloc(1, sizeof(*s));
	s->ctx = c;
	s->id = n->id;
	c->nodes[c->n] = n;
	c->streams[c->n] = s;
	c->n++;
	return n;
}

static sl_stream *node_stream(sl_ctx *c, Sluice__Node *n)
{
	return n ? c->streams[n->id] : &c->dummy;
}

static Sluice__Node *node_fn(sl_ctx *c, Sluice__NodeKind k, sl_stream *in, const char *fn)
{
	if (fn == NULL || fn[0] == '\0') {
		sl_fail(c, "%s: a function name is required", graph_kind_name(k));
		return NULL;
	}
	Sluice__Node *n = node_add(c, k, &in, 1);
	if (n != NULL) {
		sl_free(n->fn);
		n->fn = sl_strdup(fn);
	}
	return n;
}

static sl_ctx *stream_ctx(sl_stream *s)
{
	return s ? s->ctx : NULL;
}

sl_stream *sl_socket_text_stream(sl_ctx *c, const char *host, int port)
{
	if (host == NULL || host[0] == '\0' || port <= 0 || port > 65535) {
		sl_fail(c,
		        "socket_text_stream: need a host and a port 1..65535, got %s:%d",
		        host ? host : "(null)", port);
		return &c->dummy;
	}
	Sluice__Node *n = node_add(c, SLUICE__NODE_KIND__SRC_SOCKET, NULL, 0);
	if (n != NULL) {
		sl_free(n->host);
		n->host = sl_strdup(host);
		n->port = port;
	}
	return node_stream(c, n);
}

sl_stream *sl_text_file_stream(sl_ctx *c, const char *dir)
{
	if (dir == NULL || dir[0] == '\0') {
		sl_fail(c, "text_file_stream: a directory is required");
		return &c->dummy;
	}
	Sluice__Node *n = node_add(c, SLUICE__NODE_KIND__SRC_FILES, NULL, 0);
	if (n != NULL) {
		sl_free(n->path);
		n->path = sl_strdup(dir);
	}
	return node_stream(c, n);
}

sl_stream *sl_generator_stream(sl_ctx *c, const char *gen_fn, int64_t rate,
                               int partitions)
{
	if (rate <= 0 || partitions <= 0 || partitions > 4096) {
		sl_fail(
		    c,
		    "generator_stream: rate must be > 0 and partitions 1..4096, got %lld "
		    "and %d",
		    (long long)rate, partitions);
		return &c->dummy;
	}
	Sluice__Node *n = node_add(c, SLUICE__NODE_KIND__SRC_GENERATOR, NULL, 0);
	if (n != NULL) {
		sl_free(n->fn);
		n->fn = dup_or_empty(gen_fn);
		n->rate = rate;
		n->partitions = (uint32_t)partitions;
	}
	return node_stream(c, n);
}

sl_stream *sl_map(sl_stream *s, const char *fn)
{
	sl_ctx *c = stream_ctx(s);
	return c ? node_stream(c, node_fn(c, SLUICE__NODE_KIND__OP_MAP, s, fn)) : NULL;
}

sl_stream *sl_flat_map(sl_stream *s, const char *fn)
{
	sl_ctx *c = stream_ctx(s);
	return c ? node_stream(c, node_fn(c, SLUICE__NODE_KIND__OP_FLAT_MAP, s, fn))
	         : NULL;
}

sl_stream *sl_filter(sl_stream *s, const char *fn)
{
	sl_ctx *c = stream_ctx(s);
	return c ? node_stream(c, node_fn(c, SLUICE__NODE_KIND__OP_FILTER, s, fn)) : NULL;
}

sl_stream *sl_map_to_pair(sl_stream *s, const char *fn)
{
	sl_ctx *c = stream_ctx(s);
	if (c == NULL)
		return NULL;
	Sluice__Node *n = node_fn(c, SLUICE__NODE_KIND__OP_MAP_TO_PAIR, s, fn);
	if (n != NULL && strcmp(fn, "sl_pair_one") == 0)
		n->value_format = SLUICE__VALUE_FORMAT__FORMAT_I64;
	return node_stream(c, n);
}

sl_stream *sl_union(sl_stream *a, sl_stream *b)
{
	sl_ctx *c = stream_ctx(a) ? stream_ctx(a) : stream_ctx(b);
	if (c == NULL)
		return NULL;
	sl_stream *in[2] = {a, b};
	return node_stream(c, node_add(c, SLUICE__NODE_KIND__OP_UNION, in, 2));
}

static Sluice__Node *node_shuffle(sl_stream *s, Sluice__NodeKind k, const char *fn,
                                  int parts)
{
	sl_ctx *c = stream_ctx(s);
	if (parts < 0 || parts > 100000) {
		sl_fail(c, "%s: partitions must be 0..100000, got %d", graph_kind_name(k),
		        parts);
		return NULL;
	}
	Sluice__Node *n = fn ? node_fn(c, k, s, fn) : node_add(c, k, &s, 1);
	if (n != NULL)
		n->partitions = (uint32_t)parts;
	return n;
}

static bool fn_is_i64(const char *fn)
{
	return fn && (!strcmp(fn, "sl_sum_i64") || !strcmp(fn, "sl_min_i64") ||
	              !strcmp(fn, "sl_max_i64"));
}

sl_stream *sl_reduce_by_key(sl_stream *s, const char *reduce_fn, int partitions)
{
	sl_ctx *c = stream_ctx(s);
	if (c == NULL)
		return NULL;
	if (reduce_fn == NULL) {
		sl_fail(c, "reduce_by_key: a function name is required");
		return &c->dummy;
	}
	Sluice__Node *n =
	    node_shuffle(s, SLUICE__NODE_KIND__OP_REDUCE_BY_KEY, reduce_fn, partitions);
	if (n != NULL && fn_is_i64(reduce_fn))
		n->value_format = SLUICE__VALUE_FORMAT__FORMAT_I64;
	return node_stream(c, n);
}

/* A shuffle without a user function whose output values have a known format. */
static sl_stream *shuffle_formatted(sl_stream *s, Sluice__NodeKind k, int partitions,
                                    Sluice__ValueFormat f)
{
	sl_ctx *c = stream_ctx(s);
	if (c == NULL)
		return NULL;
	Sluice__Node *n = node_shuffle(s, k, NULL, partitions);
	if (n != NULL)
		n->value_format = f;
	return node_stream(c, n);
}

sl_stream *sl_group_by_key(sl_stream *s, int partitions)
{
	return shuffle_formatted(s, SLUICE__NODE_KIND__OP_GROUP_BY_KEY, partitions,
	                         SLUICE__VALUE_FORMAT__FORMAT_LIST_TEXT);
}

sl_stream *sl_count_by_key(sl_stream *s, int partitions)
{
	return shuffle_formatted(s, SLUICE__NODE_KIND__OP_COUNT_BY_KEY, partitions,
	                         SLUICE__VALUE_FORMAT__FORMAT_I64);
}

sl_stream *sl_repartition(sl_stream *s, int partitions)
{
	sl_ctx *c = stream_ctx(s);
	if (c == NULL)
		return NULL;
	if (partitions <= 0) {
		sl_fail(c, "repartition: partitions must be at least 1, got %d",
		        partitions);
		return &c->dummy;
	}
	return node_stream(
	    c, node_shuffle(s, SLUICE__NODE_KIND__OP_REPARTITION, NULL, partitions));
}

sl_stream *sl_transform(sl_stream *s, const char *fn)
{
	sl_ctx *c = stream_ctx(s);
	if (c == NULL)
		return NULL;
	Sluice__Node *n = node_fn(c, SLUICE__NODE_KIND__OP_TRANSFORM, s, fn);
	if (n != NULL)
		n->partitions = 1;
	return node_stream(c, n);
}

static Sluice__Node *node_output(sl_stream *s, Sluice__NodeKind k)
{
	sl_ctx *c = stream_ctx(s);
	return c ? node_add(c, k, &s, 1) : NULL;
}

void sl_print(sl_stream *s, int num)
{
	Sluice__Node *n = node_output(s, SLUICE__NODE_KIND__OUT_PRINT);
	if (n != NULL)
		n->num = num > 0 ? (uint32_t)num : 10;
}

void sl_save_as_text_files(sl_stream *s, const char *prefix, const char *suffix)
{
	if (s != NULL && (prefix == NULL || prefix[0] == '\0')) {
		sl_fail(s->ctx, "save_as_text_files: a prefix is required");
		return;
	}
	Sluice__Node *n = node_output(s, SLUICE__NODE_KIND__OUT_SAVE_TEXT);
	if (n != NULL) {
		sl_free(n->path);
		n->path = sl_strdup(prefix);
		sl_free(n->suffix);
		n->suffix = dup_or_empty(suffix);
	}
}

void sl_foreach_partition(sl_stream *s, const char *fn)
{
	sl_ctx *c = stream_ctx(s);
	if (c != NULL)
		node_fn(c, SLUICE__NODE_KIND__OUT_FOREACH_PARTITION, s, fn);
}

sl_stream *sl_with_value_format(sl_stream *s, sl_format f)
{
	sl_ctx *c = stream_ctx(s);
	if (c != NULL && s != &c->dummy && c->error == NULL)
		c->nodes[s->id]->value_format = (Sluice__ValueFormat)f;
	return s;
}

sl_stream *sl_named(sl_stream *s, const char *name)
{
	sl_ctx *c = stream_ctx(s);
	if (c != NULL && s != &c->dummy && c->error == NULL && name != NULL) {
		sl_free(c->nodes[s->id]->name);
		c->nodes[s->id]->name = sl_strdup(name);
	}
	return s;
}

static void node_kafka(sl_ctx *c, Sluice__Node *n, const char *topics, const char *params)
{
	char err[512];
	if (n == NULL)
		return;
	sl_free(n->topics);
	n->topics = dup_or_empty(topics);
	if (kafka_params_parse(params, &n->params, &n->n_params, err, sizeof(err)) !=
	    SL_OK)
		sl_fail(c, "%s: %s", graph_kind_name(n->kind), err);
}

sl_stream *sl_kafka_direct_stream(sl_ctx *c, const char *topics, const char *params)
{
	Sluice__Node *n = node_add(c, SLUICE__NODE_KIND__SRC_KAFKA, NULL, 0);
	node_kafka(c, n, topics, params);
	return node_stream(c, n);
}

void sl_kafka_sink(sl_stream *s, const char *topic, const char *params)
{
	Sluice__Node *n = node_output(s, SLUICE__NODE_KIND__OUT_KAFKA);
	if (n != NULL)
		node_kafka(s->ctx, n, topic, params);
}

/* ---- windows, state, joins, event time ---- */

/* Length and slide of a batch-time window: both positive, slide <= length.
 * Multiples of the batch interval are checked at submit (graph_validate_job),
 * where the interval is known. */
static bool window_ok(sl_ctx *c, Sluice__NodeKind k, int64_t length_ms, int64_t slide_ms)
{
	if (c->error != NULL)
		return false;
	if (length_ms <= 0 || slide_ms <= 0) {
		sl_fail(c,
		        "node %zu (%s): window length and slide must be > 0 ms, got %lld "
		        "and %lld",
		        c->n, graph_kind_name(k), (long long)length_ms,
		        (long long)slide_ms);
		return false;
	}
	if (slide_ms > length_ms) {
		sl_fail(c,
		        "node %zu (%s): slide %lld ms is longer than the window length "
		        "%lld ms",
		        c->n, graph_kind_name(k), (long long)slide_ms,
		        (long long)length_ms);
		return false;
	}
	return true;
}

static void set_str(char **dst, const char *v)
{
	sl_free(*dst);
	*dst = dup_or_empty(v);
}

/* A windowed node of kind k (fn may be NULL); NULL after an error. */
static Sluice__Node *node_window(sl_stream *s, Sluice__NodeKind k, const char *fn,
                                 int64_t length_ms, int64_t slide_ms, int parts)
{
	sl_ctx *c = stream_ctx(s);
	if (!window_ok(c, k, length_ms, slide_ms))
		return NULL;
	Sluice__Node *n = node_shuffle(s, k, fn, parts);
	if (n != NULL) {
		n->length_ms = length_ms;
		n->slide_ms = slide_ms;
	}
	return n;
}

sl_stream *sl_window(sl_stream *s, int64_t length_ms, int64_t slide_ms)
{
	sl_ctx *c = stream_ctx(s);
	if (c == NULL)
		return NULL;
	return node_stream(c, node_window(s, SLUICE__NODE_KIND__OP_WINDOW, NULL,
	                                  length_ms, slide_ms, 0));
}

sl_stream *sl_reduce_by_key_and_window(sl_stream *s, const char *reduce_fn,
                                       const char *inv_reduce_fn, const char *filter_fn,
                                       int64_t length_ms, int64_t slide_ms,
                                       int partitions)
{
	sl_ctx *c = stream_ctx(s);
	const Sluice__NodeKind k = SLUICE__NODE_KIND__OP_REDUCE_BY_KEY_AND_WINDOW;
	if (c == NULL)
		return NULL;
	if (reduce_fn == NULL || reduce_fn[0] == '\0') {
		sl_fail(c, "%s: a reduce function name is required", graph_kind_name(k));
		return &c->dummy;
	}
	if ((inv_reduce_fn == NULL || inv_reduce_fn[0] == '\0') && filter_fn != NULL &&
	    filter_fn[0] != '\0') {
		sl_fail(c, "%s: filter_fn '%s' needs an inverse reduce function",
		        graph_kind_name(k), filter_fn);
		return &c->dummy;
	}
	Sluice__Node *n = node_window(s, k, reduce_fn, length_ms, slide_ms, partitions);
	if (n != NULL) {
		set_str(&n->inv_fn, inv_reduce_fn);
		set_str(&n->filter_fn, filter_fn);
		if (fn_is_i64(reduce_fn))
			n->value_format = SLUICE__VALUE_FORMAT__FORMAT_I64;
	}
	return node_stream(c, n);
}

sl_stream *sl_count_by_window(sl_stream *s, int64_t length_ms, int64_t slide_ms)
{
	sl_ctx *c = stream_ctx(s);
	if (c == NULL)
		return NULL;
	Sluice__Node *n = node_window(s, SLUICE__NODE_KIND__OP_COUNT_BY_WINDOW, NULL,
	                              length_ms, slide_ms, 1);
	if (n != NULL)
		n->value_format = SLUICE__VALUE_FORMAT__FORMAT_I64;
	return node_stream(c, n);
}

sl_stream *sl_count_by_value_and_window(sl_stream *s, int64_t length_ms, int64_t slide_ms,
                                        int partitions)
{
	sl_ctx *c = stream_ctx(s);
	if (c == NULL)
		return NULL;
	Sluice__Node *n = node_window(s, SLUICE__NODE_KIND__OP_COUNT_BY_VALUE_AND_WINDOW,
	                              NULL, length_ms, slide_ms, partitions);
	if (n != NULL)
		n->value_format = SLUICE__VALUE_FORMAT__FORMAT_I64;
	return node_stream(c, n);
}

sl_stream *sl_update_state_by_key(sl_stream *s, const char *update_fn,
                                  const char *initial_fn, int partitions)
{
	sl_ctx *c = stream_ctx(s);
	if (c == NULL)
		return NULL;
	if (update_fn == NULL) {
		sl_fail(c, "update_state_by_key: a function name is required");
		return &c->dummy;
	}
	Sluice__Node *n = node_shuffle(s, SLUICE__NODE_KIND__OP_UPDATE_STATE_BY_KEY,
	                               update_fn, partitions);
	if (n != NULL)
		set_str(&n->init_fn, initial_fn);
	return node_stream(c, n);
}

sl_stream *sl_map_with_state(sl_stream *s, const sl_state_spec *spec)
{
	sl_ctx *c = stream_ctx(s);
	if (c == NULL)
		return NULL;
	if (spec == NULL || spec->fn == NULL) {
		sl_fail(c, "map_with_state: a spec with a function name is required");
		return &c->dummy;
	}
	if (spec->timeout_ms < 0) {
		sl_fail(c,
		        "node %zu (map_with_state): timeout must be >= 0 ms (0 = none), "
		        "got %lld",
		        c->n, (long long)spec->timeout_ms);
		return &c->dummy;
	}
	Sluice__Node *n = node_shuffle(s, SLUICE__NODE_KIND__OP_MAP_WITH_STATE, spec->fn,
	                               spec->partitions);
	if (n != NULL) {
		set_str(&n->init_fn, spec->initial_fn);
		n->timeout_ms = spec->timeout_ms;
	}
	return node_stream(c, n);
}

static sl_stream *two_sided(sl_stream *a, sl_stream *b, Sluice__NodeKind k, int parts)
{
	sl_ctx *c = stream_ctx(a) ? stream_ctx(a) : stream_ctx(b);
	if (c == NULL)
		return NULL;
	if (parts < 0 || parts > 100000) {
		sl_fail(c, "%s: partitions must be 0..100000, got %d", graph_kind_name(k),
		        parts);
		return &c->dummy;
	}
	sl_stream *in[2] = {a, b};
	Sluice__Node *n = node_add(c, k, in, 2);
	if (n != NULL) {
		n->partitions = (uint32_t)parts;
		n->value_format = SLUICE__VALUE_FORMAT__FORMAT_LIST_TEXT;
	}
	return node_stream(c, n);
}

sl_stream *sl_join(sl_stream *a, sl_stream *b, int partitions)
{
	return two_sided(a, b, SLUICE__NODE_KIND__OP_JOIN, partitions);
}

sl_stream *sl_left_outer_join(sl_stream *a, sl_stream *b, int partitions)
{
	return two_sided(a, b, SLUICE__NODE_KIND__OP_LEFT_OUTER_JOIN, partitions);
}

sl_stream *sl_right_outer_join(sl_stream *a, sl_stream *b, int partitions)
{
	return two_sided(a, b, SLUICE__NODE_KIND__OP_RIGHT_OUTER_JOIN, partitions);
}

sl_stream *sl_full_outer_join(sl_stream *a, sl_stream *b, int partitions)
{
	return two_sided(a, b, SLUICE__NODE_KIND__OP_FULL_OUTER_JOIN, partitions);
}

sl_stream *sl_cogroup(sl_stream *a, sl_stream *b, int partitions)
{
	return two_sided(a, b, SLUICE__NODE_KIND__OP_COGROUP, partitions);
}

sl_stream *sl_assign_event_time(sl_stream *s, const char *fn)
{
	sl_ctx *c = stream_ctx(s);
	return c ? node_stream(c,
	                       node_fn(c, SLUICE__NODE_KIND__OP_ASSIGN_EVENT_TIME, s, fn))
	         : NULL;
}

sl_stream *sl_event_time_window(sl_stream *s, const char *reduce_fn, int64_t length_ms,
                                int64_t slide_ms, int64_t allowed_lateness_ms,
                                int partitions)
{
	sl_ctx *c = stream_ctx(s);
	const Sluice__NodeKind k = SLUICE__NODE_KIND__OP_EVENT_TIME_WINDOW;
	if (c == NULL)
		return NULL;
	if (allowed_lateness_ms < 0 && c->error == NULL) {
		sl_fail(c, "node %zu (%s): allowed lateness must be >= 0 ms, got %lld",
		        c->n, graph_kind_name(k), (long long)allowed_lateness_ms);
		return &c->dummy;
	}
	bool has_fn = reduce_fn != NULL && reduce_fn[0] != '\0';
	Sluice__Node *n =
	    node_window(s, k, has_fn ? reduce_fn : NULL, length_ms, slide_ms, partitions);
	if (n != NULL) {
		n->lateness_ms = allowed_lateness_ms;
		if (!has_fn || fn_is_i64(reduce_fn))
			n->value_format = SLUICE__VALUE_FORMAT__FORMAT_I64;
	}
	return node_stream(c, n);
}
