/*
 * Unit tests for the worker's two-input and window operators:
 * worker/cogroup.c (join, left/right/full outer join, cogroup of one reduce
 * partition) and worker/winmerge.c (reduce_by_key_and_window's incremental
 * merge with an inverse function and a filter).
 *
 * Each is checked against a naive reference written here: joins by nested
 * loops over the raw records of both sides (outer nulls as "<null>"),
 * cogroup by collecting each key's values per side in arrival order, over
 * random inputs (keys on one side only, repeated keys, empty values), and
 * over sides already reduced to one value per key (cogroup_run_maps); the
 * window merge by recomputing every window from its batches, for windows of
 * 3 and 5 batches sliding by 1 and 2, over 24 random batches. Failures of
 * user functions, malformed lists and a key leaving a window it was not in
 * are reported with a message. No allocation is left behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "unit_util.h"
#include "api.h"
#include "cogroup.h"
#include "record.h"
#include "sluice/err.h"
#include "winmerge.h"

#define ERRLEN 512
#define MAXOUT 4096

/* ---- inputs and outputs as text lines ---- */

typedef struct {
	sl_emitter base;
	char *lines[MAXOUT];
	size_t n;
	int (*fmt)(const sl_record *r, char *buf, size_t len);
} sink;

static int sink_emit(sl_emitter *self, const sl_record *r)
{
	sink *s = (sink *)self;
	char line[1024];
	assert_true(s->n < MAXOUT);
	int rv = s->fmt(r, line, sizeof(line));
	if (rv != 0)
		return rv;
	s->lines[s->n++] = sl_strdup(line);
	return 0;
}

static void sink_free(sink *s)
{
	for (size_t i = 0; i < s->n; i++)
		sl_free(s->lines[i]);
	s->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void assert_same_lines(char **got, size_t ngot, char **want, size_t nwant)
{
	qsort(got, ngot, sizeof(char *), cmp_str);
	qsort(want, nwant, sizeof(char *), cmp_str);
	assert_int_equal(ngot, nwant);
	for (size_t i = 0; i < ngot; i++)
		assert_string_equal(got[i], want[i]);
}

/* "key|a|b" for a join value [a, b], absent as <null>. */
static int fmt_pair(const sl_record *r, char *buf, size_t len)
{
	uint32_t off = 0, elen;
	const uint8_t *e;
	int n = snprintf(buf, len, "%.*s", (int)r->key_len, (const char *)r->key);
	for (int i = 0; i < 2; i++) {
		if (sl_list_next(r->value, r->value_len, &off, &e, &elen) != 1)
			return SL_EPROTO;
		n += e ? snprintf(buf + n, len - (size_t)n, "|%.*s", (int)elen,
		                  (const char *)e)
		       : snprintf(buf + n, len - (size_t)n, "|<null>");
	}
	return sl_list_next(r->value, r->value_len, &off, &e, &elen) == 0 ? 0 : SL_EPROTO;
}

/* "key|[x,y]|[z]" for a cogroup value. */
static int fmt_lists(const sl_record *r, char *buf, size_t len)
{
	uint32_t off = 0, elen, ioff, ilen;
	const uint8_t *e, *ie;
	int n = snprintf(buf, len, "%.*s", (int)r->key_len, (const char *)r->key);
	for (int i = 0; i < 2; i++) {
		if (sl_list_next(r->value, r->value_len, &off, &e, &elen) != 1 ||
		    e == NULL)
			return SL_EPROTO;
		n += snprintf(buf + n, len - (size_t)n, "|[");
		for (ioff = 0; sl_list_next(e, elen, &ioff, &ie, &ilen) == 1;)
			n += snprintf(buf + n, len - (size_t)n, "%s%.*s",
			              ioff == 4 + ilen ? "" : ",", (int)ilen,
			              (const char *)ie);
		n += snprintf(buf + n, len - (size_t)n, "]");
	}
	return 0;
}

/* ---- joins against nested loops ---- */

typedef struct {
	char key[16], val[16];
} kv;

static void random_side(kv *side, size_t n, unsigned *seed, recs *r)
{
	recs_init(r);
	for (size_t i = 0; i < n; i++) {
		snprintf(side[i].key, sizeof(side[i].key), "k%d", rand_r(seed) % 7);
		int v = rand_r(seed) % 5;
		if (v == 0)
			side[i].val[0] = '\0'; /* empty values are values, not nulls */
		else
			snprintf(side[i].val, sizeof(side[i].val), "v%d", (int)(i % 100));
		rbuf_append(&r->buf, side[i].key, (uint32_t)strlen(side[i].key),
		            side[i].val, (uint32_t)strlen(side[i].val), 0);
	}
	recs_rewind(r);
}

static bool side_has(const kv *side, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(side[i].key, key) == 0)
			return true;
	return false;
}

static void add_line(char **v, size_t *n, const char *key, const char *a, const char *b)
{
	char line[64];
	int len = snprintf(line, sizeof(line), "%s|%s|%s", key, a, b);
	assert_true(len > 0 && (size_t)len < sizeof(line)); /* test keys are short */
	assert_true(*n < MAXOUT);
	v[(*n)++] = sl_strdup(line);
}

/* The reference join: every (l, r) pair with equal keys, then the outer
 * rows for keys missing on the other side. */
static size_t ref_join(cogroup_kind k, const kv *l, size_t nl, const kv *r, size_t nr,
                       char **want)
{
	size_t n = 0;
	for (size_t i = 0; i < nl; i++)
		for (size_t j = 0; j < nr; j++)
			if (strcmp(l[i].key, r[j].key) == 0)
				add_line(want, &n, l[i].key, l[i].val, r[j].val);
	if (k == COGROUP_LEFT_OUTER || k == COGROUP_FULL_OUTER)
		for (size_t i = 0; i < nl; i++)
			if (!side_has(r, nr, l[i].key))
				add_line(want, &n, l[i].key, l[i].val, "<null>");
	if (k == COGROUP_RIGHT_OUTER || k == COGROUP_FULL_OUTER)
		for (size_t j = 0; j < nr; j++)
			if (!side_has(l, nl, r[j].key))
				add_line(want, &n, r[j].key, "<null>", r[j].val);
	return n;
}

/* The reference cogroup: for each key of either side, its values per side
 * in arrival order. */
static size_t ref_cogroup(const kv *l, size_t nl, const kv *r, size_t nr, char **want)
{
	size_t n = 0;
	for (int k = 0; k < 7; k++) {
		char key[8], line[512] = "";
		snprintf(key, sizeof(key), "k%d", k);
		if (!side_has(l, nl, key) && !side_has(r, nr, key))
			continue;
		snprintf(line, sizeof(line), "%s", key);
		for (int s = 0; s < 2; s++) {
			const kv *side = s ? r : l;
			size_t ns = s ? nr : nl;
			bool first = true;
			strcat(line, "|[");
			for (size_t i = 0; i < ns; i++)
				if (strcmp(side[i].key, key) == 0) {
					strcat(line, first ? "" : ",");
					strcat(line, side[i].val);
					first = false;
				}
			strcat(line, "]");
		}
		want[n++] = sl_strdup(line);
	}
	return n;
}

static void test_joins_against_reference(void **state)
{
	(void)state;
	unsigned seed = 11;
	static char *want[MAXOUT];
	for (int round = 0; round < 40; round++) {
		kv l[24], r[24];
		recs lr, rr;
		size_t nl = (size_t)(rand_r(&seed) % 24),
		       nr = (size_t)(rand_r(&seed) % 24);
		random_side(l, nl, &seed, &lr);
		random_side(r, nr, &seed, &rr);
		for (int k = COGROUP_JOIN; k <= COGROUP_LISTS; k++) {
			sink out = {.base.emit = sink_emit,
			            .fmt = k == COGROUP_LISTS ? fmt_lists : fmt_pair};
			uint64_t emitted = 0;
			char err[ERRLEN] = "";
			recs_rewind(&lr);
			recs_rewind(&rr);
			assert_int_equal(cogroup_run((cogroup_kind)k, &lr.base, &rr.base,
			                             &out.base, &emitted, err,
			                             sizeof(err)),
			                 SL_OK);
			size_t nw = k == COGROUP_LISTS
			                ? ref_cogroup(l, nl, r, nr, want)
			                : ref_join((cogroup_kind)k, l, nl, r, nr, want);
			assert_int_equal(emitted, out.n);
			assert_same_lines(out.lines, out.n, want, nw);
			sink_free(&out);
			for (size_t i = 0; i < nw; i++)
				sl_free(want[i]);
		}
		rbuf_free(&lr.buf);
		rbuf_free(&rr.buf);
	}
}

/* cogroup_run_maps (a join of sides partitioned alike, each side already
 * reduced to one value per key) against the same reference. */
static void test_joins_of_reduced_sides(void **state)
{
	(void)state;
	unsigned seed = 23;
	static char *want[MAXOUT];
	for (int round = 0; round < 20; round++) {
		kv side[2][7];
		size_t n[2] = {0, 0};
		kvmap *m[2] = {kvmap_new(), kvmap_new()};
		for (int s = 0; s < 2; s++)
			for (int key = 0; key < 7; key++) {
				if (rand_r(&seed) % 3 == 0)
					continue; /* the key is on the other side only */
				kv *x = &side[s][n[s]++];
				snprintf(x->key, sizeof(x->key), "k%d", key);
				snprintf(x->val, sizeof(x->val), "%c%d", s ? 'b' : 'a',
				         round);
				assert_int_equal(
				    kvmap_combine(m[s], (const uint8_t *)x->key,
				                  (uint32_t)strlen(x->key),
				                  (const uint8_t *)x->val,
				                  (uint32_t)strlen(x->val), NULL),
				    0);
			}
		for (int k = COGROUP_JOIN; k <= COGROUP_LISTS; k++) {
			sink out = {.base.emit = sink_emit,
			            .fmt = k == COGROUP_LISTS ? fmt_lists : fmt_pair};
			uint64_t emitted = 0;
			char err[ERRLEN] = "";
			assert_int_equal(cogroup_run_maps((cogroup_kind)k, m[0], m[1],
			                                  &out.base, &emitted, err,
			                                  sizeof(err)),
			                 SL_OK);
			size_t nw = k == COGROUP_LISTS
			                ? ref_cogroup(side[0], n[0], side[1], n[1], want)
			                : ref_join((cogroup_kind)k, side[0], n[0],
			                           side[1], n[1], want);
			assert_int_equal(emitted, out.n);
			assert_same_lines(out.lines, out.n, want, nw);
			sink_free(&out);
			for (size_t i = 0; i < nw; i++)
				sl_free(want[i]);
		}
		kvmap_free(m[0]);
		kvmap_free(m[1]);
	}
}

static int fail_emit(sl_emitter *self, const sl_record *r)
{
	(void)self;
	(void)r;
	return SL_EIO;
}

static void test_join_errors(void **state)
{
	(void)state;
	recs lr, rr;
	char err[ERRLEN];
	uint64_t emitted = 0;
	cogroup_kind k;
	recs_init(&lr);
	recs_init(&rr);
	rbuf_append(&lr.buf, "a", 1, "1", 1, 0);
	rbuf_append(&rr.buf, "a", 1, "2", 1, 0);
	recs_rewind(&lr);
	recs_rewind(&rr);
	sl_emitter bad = {.emit = fail_emit};
	assert_int_equal(cogroup_run(COGROUP_JOIN, &lr.base, &rr.base, &bad, &emitted,
	                             err, sizeof(err)),
	                 SL_EIO);
	assert_contains(err, "emitting a joined record failed");
	/* a malformed right side: a record whose lengths run past the end */
	recs_rewind(&lr);
	rr.buf.len = 10;
	recs_rewind(&rr);
	sink out = {.base.emit = sink_emit, .fmt = fmt_pair};
	assert_int_equal(cogroup_run(COGROUP_FULL_OUTER, &lr.base, &rr.base, &out.base,
	                             &emitted, err, sizeof(err)),
	                 SL_EPROTO);
	assert_contains(err, "the right side's records are malformed");
	assert_int_equal(out.n, 0);
	rbuf_free(&lr.buf);
	rbuf_free(&rr.buf);
	assert_int_equal(cogroup_kind_of(SLUICE__NODE_KIND__OP_RIGHT_OUTER_JOIN, &k),
	                 SL_OK);
	assert_int_equal(k, COGROUP_RIGHT_OUTER);
	assert_int_equal(cogroup_kind_of(SLUICE__NODE_KIND__OP_COGROUP, &k), SL_OK);
	assert_int_equal(k, COGROUP_LISTS);
	assert_int_equal(cogroup_kind_of(SLUICE__NODE_KIND__OP_MAP, &k), SL_EINVAL);
}

/* ---- the window merge against recomputed windows ---- */

#define NBATCH 24
#define NKEYS  6

/* batch b's count of key k (0..3), and its records (one per unit) */
static int counts[NBATCH][NKEYS];

static void batch_records(int from, int to, recs *r)
{
	uint8_t one[8];
	char key[8];
	sl_i64_encode(1, one);
	recs_init(r);
	for (int b = from; b < to; b++)
		for (int k = 0; k < NKEYS; k++)
			for (int i = 0; i < counts[b][k]; i++) {
				snprintf(key, sizeof(key), "w%d", k);
				rbuf_append(&r->buf, key, 2, one, 8, 0);
			}
	recs_rewind(r);
}

static int fmt_i64(const sl_record *r, char *buf, size_t len)
{
	snprintf(buf, len, "%.*s=%lld", (int)r->key_len, (const char *)r->key,
	         (long long)sl_i64_decode(r->value, r->value_len));
	return 0;
}

/* The window ending before batch `end` (batches end-len .. end-1), each key's
 * total, zero totals dropped (the filter). */
static size_t ref_window(int end, int len, char **want)
{
	size_t n = 0;
	for (int k = 0; k < NKEYS; k++) {
		int total = 0;
		for (int b = end - len; b < end; b++)
			total += b >= 0 ? counts[b][k] : 0;
		if (total != 0) {
			char line[32];
			snprintf(line, sizeof(line), "w%d=%d", k, total);
			want[n++] = sl_strdup(line);
		}
	}
	return n;
}

static void check_windows(int len, int slide)
{
	sl_reduce_fn sum = (sl_reduce_fn)builtin_find("sl_sum_i64", NULL);
	sl_reduce_fn sub = (sl_reduce_fn)builtin_find("sl_sub_i64", NULL);
	sl_filter_fn nonzero = (sl_filter_fn)builtin_find("sl_nonzero_i64", NULL);
	recs prev;
	recs_init(&prev);
	recs_rewind(&prev);
	static char *want[MAXOUT];
	for (int end = slide; end <= NBATCH; end += slide) {
		recs leaving, entering;
		batch_records(end - slide - len < 0 ? 0 : end - slide - len,
		              end - len < 0 ? 0 : end - len, &leaving);
		batch_records(end - slide, end, &entering);
		sink out = {.base.emit = sink_emit, .fmt = fmt_i64};
		uint64_t emitted = 0;
		char err[ERRLEN] = "";
		assert_int_equal(winmerge_run(&prev.base, &leaving.base, &entering.base,
		                              sum, sub, nonzero, &out.base, &emitted, err,
		                              sizeof(err)),
		                 SL_OK);
		size_t nw = ref_window(end, len, want);
		/* the output is the next slide's previous window */
		rbuf_reset(&prev.buf);
		for (size_t i = 0; i < out.n; i++) {
			char *eq = strchr(out.lines[i], '=');
			uint8_t v[8];
			sl_i64_encode(atoll(eq + 1), v);
			rbuf_append(&prev.buf, out.lines[i],
			            (uint32_t)(eq - out.lines[i]), v, 8, 0);
		}
		recs_rewind(&prev);
		assert_same_lines(out.lines, out.n, want, nw);
		sink_free(&out);
		for (size_t i = 0; i < nw; i++)
			sl_free(want[i]);
		rbuf_free(&leaving.buf);
		rbuf_free(&entering.buf);
	}
	rbuf_free(&prev.buf);
}

static void test_window_merge_against_reference(void **state)
{
	(void)state;
	unsigned seed = 5;
	for (int b = 0; b < NBATCH; b++)
		for (int k = 0; k < NKEYS; k++)
			counts[b][k] = rand_r(&seed) % 4 == 0 ? rand_r(&seed) % 4 : 0;
	check_windows(3, 1);
	check_windows(3, 2);
	check_windows(5, 1);
	check_windows(5, 2);
}

static int failing_reduce(const uint8_t *a, uint32_t alen, const uint8_t *b,
                          uint32_t blen, sl_value *out)
{
	(void)a;
	(void)alen;
	(void)b;
	(void)blen;
	(void)out;
	return 4;
}

static int failing_filter(const sl_record *r)
{
	(void)r;
	return -2;
}

static void test_window_merge_errors(void **state)
{
	(void)state;
	sl_reduce_fn sum = (sl_reduce_fn)builtin_find("sl_sum_i64", NULL);
	sl_reduce_fn sub = (sl_reduce_fn)builtin_find("sl_sub_i64", NULL);
	uint8_t two[8], one[8];
	sl_i64_encode(2, two);
	sl_i64_encode(1, one);
	recs prev, leaving, entering;
	recs_init(&prev);
	recs_init(&leaving);
	recs_init(&entering);
	rbuf_append(&prev.buf, "a", 1, two, 8, 0);
	rbuf_append(&leaving.buf, "a", 1, one, 8, 0);
	rbuf_append(&leaving.buf, "a", 1, one, 8, 0); /* a leaves with 2: stays at 0 */
	rbuf_append(&entering.buf, "b", 1, one, 8, 0);
	char err[ERRLEN];
	uint64_t emitted = 0;

	/* without a filter, a key back to zero stays (Spark keeps it) */
	sink out = {.base.emit = sink_emit, .fmt = fmt_i64};
	recs_rewind(&prev);
	recs_rewind(&leaving);
	recs_rewind(&entering);
	assert_int_equal(winmerge_run(&prev.base, &leaving.base, &entering.base, sum, sub,
	                              NULL, &out.base, &emitted, err, sizeof(err)),
	                 SL_OK);
	char *want[] = {"a=0", "b=1"};
	assert_same_lines(out.lines, out.n, want, 2);
	sink_free(&out);

	/* a failing inverse function, filter, reduce: named with the key */
	struct {
		sl_reduce_fn reduce, inv;
		sl_filter_fn filter;
		int rv;
		const char *msg;
	} cases[] = {
	    {sum, failing_reduce, NULL, 4,
	     "inverse reduce function returned 4 for key 'a'"},
	    {sum, sub, failing_filter, -2, "filter function returned -2 for key"},
	    {failing_reduce, sub, NULL, 4, "reduce function returned 4 for key 'a'"},
	};
	for (size_t i = 0; i < 3; i++) {
		recs_rewind(&prev);
		recs_rewind(&leaving);
		recs_rewind(&entering);
		assert_int_equal(winmerge_run(&prev.base, &leaving.base, &entering.base,
		                              cases[i].reduce, cases[i].inv,
		                              cases[i].filter, &out.base, &emitted, err,
		                              sizeof(err)),
		                 cases[i].rv);
		assert_contains(err, cases[i].msg);
		sink_free(&out);
	}

	/* a key leaving a window it was not in */
	rbuf_reset(&prev.buf);
	recs_rewind(&prev);
	recs_rewind(&leaving);
	rbuf_reset(&entering.buf);
	recs_rewind(&entering);
	assert_int_equal(winmerge_run(&prev.base, &leaving.base, &entering.base, sum, sub,
	                              NULL, &out.base, &emitted, err, sizeof(err)),
	                 SL_EPROTO);
	assert_contains(err,
	                "key 'a' leaves the window but was not in the previous window");
	rbuf_free(&prev.buf);
	rbuf_free(&leaving.buf);
	rbuf_free(&entering.buf);
}

/* winmerge_key over tagged values ("+3" entering 3, "-2" leaving 2): the
 * key's new value (-1: dropped), or the error. */
static int64_t key_merge(const char *const *vals, const int64_t *prev, bool filter,
                         int *rv, char *err)
{
	winmerge_fns f = {
	    .reduce = (sl_reduce_fn)builtin_find("sl_sum_i64", NULL),
	    .inv = (sl_reduce_fn)builtin_find("sl_sub_i64", NULL),
	    .filter = filter ? (sl_filter_fn)builtin_find("sl_nonzero_i64", NULL) : NULL};
	recs in;
	recs_init(&in);
	for (size_t i = 0; vals[i] != NULL; i++) {
		uint8_t v[9];
		v[0] = (uint8_t)vals[i][0];
		sl_i64_encode(atoll(vals[i] + 1), v + 1);
		rbuf_append(&in.buf, "k", 1, v, 9, 0);
	}
	recs_rewind(&in);
	uint8_t pv[8];
	if (prev != NULL)
		sl_i64_encode(*prev, pv);
	sl_value out = {0};
	*rv = winmerge_key(&f, (const uint8_t *)"k", 1, &in.base, prev ? pv : NULL,
	                   prev ? 8 : 0, &out, err, ERRLEN);
	int64_t got = out.len == 8 ? sl_i64_decode(out.data, 8) : -1;
	sl_free(out.data);
	rbuf_free(&in.buf);
	return got;
}

/* One key of a window kept in a state store: the merge winmerge_run does. */
static void test_window_key(void **state)
{
	(void)state;
	char err[ERRLEN] = "";
	int rv;
	int64_t five = 5, four = 4, nine = 9;
	/* inv(5, 2 + 0) = 3, then + (3 + 1) */
	assert_int_equal(
	    key_merge((const char *[]){"+3", "-2", "+1", NULL}, &five, false, &rv, err),
	    7);
	assert_int_equal(rv, SL_OK);
	assert_int_equal(key_merge((const char *[]){"+2", NULL}, NULL, false, &rv, err),
	                 2);
	assert_int_equal(key_merge((const char *[]){NULL}, &nine, false, &rv, err), 9);
	/* back to 0: kept without a filter (Spark), dropped with sl_nonzero_i64 */
	assert_int_equal(key_merge((const char *[]){"-4", NULL}, &four, false, &rv, err),
	                 0);
	assert_int_equal(key_merge((const char *[]){"-4", NULL}, &four, true, &rv, err),
	                 -1);
	assert_int_equal(rv, SL_OK);
	assert_int_equal(key_merge((const char *[]){"-1", NULL}, NULL, false, &rv, err),
	                 -1);
	assert_int_equal(rv, SL_EPROTO);
	assert_contains(err, "key 'k' leaves the window but was not in the previous");
	assert_int_equal(key_merge((const char *[]){"*1", NULL}, &four, false, &rv, err),
	                 -1);
	assert_int_equal(rv, SL_EPROTO);
	assert_contains(err, "key 'k': an untagged window value");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_joins_against_reference, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_joins_of_reduced_sides, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_join_errors, unit_setup, unit_teardown),
	    cmocka_unit_test_setup_teardown(test_window_merge_against_reference,
	                                    unit_setup, unit_teardown),
	    cmocka_unit_test_setup_teardown(test_window_merge_errors, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test(test_window_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
