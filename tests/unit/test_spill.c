/*
 * Unit tests for spilling combine maps to sorted runs and merging them back
 * (worker/spill.c, kvmap_sort / kvmap_clear in common/kvmap.c).
 *
 * Each test feeds the same records to an in-memory kvmap and to a kvmap
 * kept under a tiny budget (spilling whenever kvmap_bytes_peak passes it,
 * as worker/shuffle.c does) and checks that the merge gives exactly the
 * in-memory result: every key once, in kvmap_order, with the same combined
 * value. Cases: i64 sums over many keys with many runs (the empty key
 * included); group_by_key's value lists merged with spill_concat in arrival
 * order; a user reduce that keeps the longest value (not a sum); a merge
 * function's error returned; a run directory that does not exist refused
 * with a message; no runs at all; frames larger than SPILL_FRAME (a large
 * value). Every test leaves no allocation behind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "unit_util.h"
#include "api.h"
#include "kvmap.h"
#include "sluice/err.h"
#include "spill.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	unit_alloc_mark();
	snprintf(dir, sizeof(dir), "/tmp/sluice-spill-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	if (rmdir(dir) != 0) { /* a run file was left behind */
		fprintf(stderr, "rmdir %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return unit_alloc_check();
}

static sl_reduce_fn sum_fn(void)
{
	return (sl_reduce_fn)builtin_find("sl_sum_i64", NULL);
}

/* The test's key i: "key-<i>", and the empty key for i == 0. */
static uint32_t key_of(uint32_t i, char *buf, size_t cap)
{
	return i == 0 ? 0 : (uint32_t)snprintf(buf, cap, "key-%u", i);
}

/* Adds (key, value) to both maps; the small one spills past budget. */
typedef enum { FEED_COMBINE, FEED_APPEND } feed_kind;

static void feed(kvmap *full, kvmap *small, spill_set *s, size_t budget, feed_kind kind,
                 const uint8_t *k, uint32_t klen, const uint8_t *v, uint32_t vlen,
                 sl_reduce_fn fn)
{
	char err[256];
	kvmap *maps[2] = {full, small};
	for (int i = 0; i < 2; i++) {
		if (kind == FEED_APPEND)
			kvmap_append(maps[i], k, klen, v, vlen);
		else
			assert_int_equal(kvmap_combine(maps[i], k, klen, v, vlen, fn), 0);
	}
	if (kvmap_bytes_peak(small) > budget) {
		int rv = spill_set_add(s, small, err, sizeof(err));
		if (rv != SL_OK)
			fail_msg("spill_set_add: %d %s", rv, err);
	}
}

/* Merges s with small and checks the result equals full, key by key and in
 * kvmap_order. */
static void expect_merge_equals(spill_set *s, kvmap *small, kvmap *full)
{
	char err[256];
	sl_record r;
	size_t n = 0;
	uint64_t prev_h = 0;
	uint8_t prev[64];
	uint32_t prev_len = 0;
	int rv;
	assert_int_equal(spill_merge_start(s, small, err, sizeof(err)), SL_OK);
	while ((rv = spill_merge_next(s, &r, err, sizeof(err))) > 0) {
		uint32_t vlen;
		const uint8_t *v = kvmap_get(full, r.key, r.key_len, &vlen);
		assert_non_null(v);
		assert_int_equal(vlen, r.value_len);
		assert_memory_equal(v, r.value, vlen);
		uint64_t h = kvmap_order_hash(r.key, r.key_len);
		if (n > 0)
			assert_true(kvmap_order_cmp(prev_h, prev, prev_len, h, r.key,
			                            r.key_len) < 0);
		assert_true(r.key_len <= sizeof(prev));
		memcpy(prev, r.key, r.key_len);
		prev_len = r.key_len;
		prev_h = h;
		n++;
	}
	assert_int_equal(rv, 0);
	assert_int_equal(n, kvmap_count(full));
}

static void test_sums_over_many_runs(void **state)
{
	(void)state;
	kvmap *full = kvmap_new(), *small = kvmap_new();
	spill_set *s = spill_set_new(dir, sum_fn());
	uint64_t x = 88172645463325252ull;
	for (int i = 0; i < 60000; i++) {
		char k[32];
		uint8_t v[8];
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint32_t klen = key_of((uint32_t)(x % 20000), k, sizeof(k));
		sl_i64_encode((int64_t)(x % 1000) - 500, v);
		feed(full, small, s, 200 * 1024, FEED_COMBINE, (const uint8_t *)k, klen,
		     v, 8, sum_fn());
	}
	assert_true(spill_set_runs(s) >= 5);
	assert_true(spill_set_disk_bytes(s) > 0);
	expect_merge_equals(s, small, full);
	spill_set_free(s);
	kvmap_free(small);
	kvmap_free(full);
}

static void test_group_lists_keep_arrival_order(void **state)
{
	(void)state;
	kvmap *full = kvmap_new(), *small = kvmap_new();
	spill_set *s = spill_set_new(dir, spill_concat);
	for (uint32_t i = 0; i < 30000; i++) {
		char k[32], v[32];
		uint32_t klen = key_of(i % 997 + 1, k, sizeof(k));
		int vlen = snprintf(v, sizeof(v), "v%u", i);
		feed(full, small, s, 96 * 1024, FEED_APPEND, (const uint8_t *)k, klen,
		     (const uint8_t *)v, (uint32_t)vlen, NULL);
	}
	assert_true(spill_set_runs(s) >= 3);
	expect_merge_equals(s, small, full);
	spill_set_free(s);
	kvmap_free(small);
	kvmap_free(full);
}

/* A reduce that keeps the longer value (the first on a tie): order-free
 * like a real reduce, but not a sum. */
static int longest(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                   sl_value *out)
{
	if (blen > alen)
		sl_value_set(out, b, blen);
	else
		sl_value_set(out, a, alen);
	return 0;
}

static void test_user_reduce_and_large_values(void **state)
{
	(void)state;
	kvmap *full = kvmap_new(), *small = kvmap_new();
	spill_set *s = spill_set_new(dir, longest);
	size_t big = 200 * 1024; /* more than one frame */
	uint8_t *v = sl_malloc(big);
	for (size_t i = 0; i < big; i++)
		v[i] = (uint8_t)(i * 7);
	for (uint32_t i = 0; i < 400; i++) {
		char k[32];
		uint32_t klen = key_of(i % 50 + 1, k, sizeof(k));
		uint32_t vlen = (uint32_t)((i * 7919) % big);
		feed(full, small, s, 256 * 1024, FEED_COMBINE, (const uint8_t *)k, klen,
		     v, vlen, longest);
	}
	assert_true(spill_set_runs(s) >= 1);
	assert_true(spill_set_runs(s) < 16); /* compacted */
	expect_merge_equals(s, small, full);
	sl_free(v);
	spill_set_free(s);
	kvmap_free(small);
	kvmap_free(full);
}

static int refuse(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                  sl_value *out)
{
	(void)a, (void)alen, (void)b, (void)blen, (void)out;
	return -42;
}

static void test_merge_error_returned(void **state)
{
	(void)state;
	char err[256];
	sl_record r;
	kvmap *m = kvmap_new();
	spill_set *s = spill_set_new(dir, refuse);
	uint8_t v[8] = {0};
	kvmap_combine(m, (const uint8_t *)"a", 1, v, 8, refuse);
	assert_int_equal(spill_set_add(s, m, err, sizeof(err)), SL_OK);
	assert_int_equal(kvmap_count(m), 0);
	kvmap_combine(m, (const uint8_t *)"a", 1, v, 8, refuse);
	assert_int_equal(spill_merge_start(s, m, err, sizeof(err)), SL_OK);
	assert_int_equal(spill_merge_next(s, &r, err, sizeof(err)), -42);
	assert_non_null(strstr(err, "-42"));
	spill_set_free(s);
	kvmap_free(m);
}

static void test_missing_dir_refused(void **state)
{
	(void)state;
	char err[256] = "";
	kvmap *m = kvmap_new();
	spill_set *s = spill_set_new("/nonexistent/sluice-spill", sum_fn());
	uint8_t v[8] = {1};
	kvmap_combine(m, (const uint8_t *)"a", 1, v, 8, sum_fn());
	assert_int_equal(spill_set_add(s, m, err, sizeof(err)), SL_EIO);
	assert_non_null(strstr(err, "/nonexistent/sluice-spill"));
	assert_int_equal(kvmap_count(m), 1); /* kept for the caller */
	assert_int_equal(spill_set_runs(s), 0);
	spill_set_free(s);
	kvmap_free(m);
}

static void test_no_runs_is_the_map_sorted(void **state)
{
	(void)state;
	kvmap *full = kvmap_new(), *small = kvmap_new();
	spill_set *s = spill_set_new(dir, sum_fn());
	for (uint32_t i = 0; i < 100; i++) {
		char k[32];
		uint8_t v[8];
		sl_i64_encode(i, v);
		uint32_t klen = key_of(i % 30, k, sizeof(k));
		feed(full, small, s, SIZE_MAX, FEED_COMBINE, (const uint8_t *)k, klen, v,
		     8, sum_fn());
	}
	assert_int_equal(spill_set_runs(s), 0);
	expect_merge_equals(s, small, full);
	spill_set_free(s);
	kvmap_free(small);
	kvmap_free(full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_sums_over_many_runs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_lists_keep_arrival_order, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_user_reduce_and_large_values, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_merge_error_returned, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_dir_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_runs_is_the_map_sorted, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
