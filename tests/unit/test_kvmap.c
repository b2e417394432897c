/*
 * Unit tests for the key/value hash map of map-side combine, reduce and
 * group-by-key (common/kvmap.c).
 *
 * They pin down: combining with the built-in i64 sum (looked up by name, as
 * the worker does) over many keys, the empty key included; growth through
 * many resizes without losing or duplicating a key; the value list encoding
 * of append / append_list (u32 little-endian length, bytes, repeated);
 * iteration visiting every key exactly once; a reduce function's error
 * returned unchanged and leaving the stored value alone; the pinned hash
 * (every host buckets a key alike); kvmap_add_i64 agreeing with sl_sum_i64;
 * maps sized up front and values larger than an arena chunk; the fused word
 * count (builtin_split_count) equal to split -> pair -> sum; and that every test
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
#include "kvmap.h"
#include "sluice/err.h"

static sl_reduce_fn builtin_reduce(const char *name)
{
	builtin_kind kind = BUILTIN_MAP;
	void *fn = builtin_find(name, &kind);
	assert_non_null(fn);
	assert_int_equal(kind, BUILTIN_REDUCE);
	return (sl_reduce_fn)fn;
}

static void enc(int64_t v, uint8_t out[8])
{
	sl_i64_encode(v, out);
}

/* The value stored under a key, found by iteration; NULL when absent. */
static const sl_record *find(const kvmap *m, const void *k, uint32_t klen, sl_record *rec)
{
	size_t pos = 0;
	while (kvmap_next(m, &pos, rec))
		if (rec->key_len == klen && (klen == 0 || memcmp(rec->key, k, klen) == 0))
			return rec;
	return NULL;
}

static void test_new_is_empty(void **state)
{
	(void)state;
	kvmap *m = kvmap_new();
	size_t pos = 0;
	sl_record r;
	assert_int_equal(kvmap_count(m), 0);
	assert_int_equal(kvmap_next(m, &pos, &r), 0);
	assert_true(kvmap_bytes(m) > 0);
	kvmap_free(m);
	kvmap_free(NULL);
}

/* Sums per key with sl_sum_i64 over a few hundred keys, the empty key
 * (given as NULL, 0 as records without a key carry it) among them. */
static void test_combine_sum_many_keys(void **state)
{
	(void)state;
	sl_reduce_fn sum = builtin_reduce("sl_sum_i64");
	kvmap *m = kvmap_new();
	enum { KEYS = 300, ROUNDS = 7 };
	uint8_t v[8];
	char k[32];
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < KEYS; i++) {
			int n = snprintf(k, sizeof(k), "key-%d", i);
			enc(i + round, v);
			assert_int_equal(
			    kvmap_combine(m, (uint8_t *)k, (uint32_t)n, v, 8, sum), 0);
		}
		enc(1000 + round, v);
		assert_int_equal(kvmap_combine(m, NULL, 0, v, 8, sum), 0);
		/* the empty key given as a non-NULL pointer is the same key */
		enc(-1, v);
		assert_int_equal(kvmap_combine(m, (const uint8_t *)"", 0, v, 8, sum), 0);
	}
	assert_int_equal(kvmap_count(m), KEYS + 1);
	sl_record r;
	for (int i = 0; i < KEYS; i++) {
		int n = snprintf(k, sizeof(k), "key-%d", i);
		assert_non_null(find(m, k, (uint32_t)n, &r));
		assert_int_equal(r.value_len, 8);
		/* sum over rounds of (i + round) */
		assert_int_equal(sl_i64_decode(r.value, 8), (int64_t)i * ROUNDS + 21);
		assert_int_equal(r.event_time_ms, 0);
	}
	assert_non_null(find(m, NULL, 0, &r));
	assert_int_equal(r.key_len, 0);
	assert_int_equal(sl_i64_decode(r.value, r.value_len), 7000 + 21 - ROUNDS);
	/* keys that are prefixes of each other, or differ only in a byte after a
	 * NUL, are different keys */
	enc(5, v);
	assert_int_equal(kvmap_combine(m, (const uint8_t *)"key-1\0x", 7, v, 8, sum), 0);
	assert_int_equal(kvmap_combine(m, (const uint8_t *)"key-1\0y", 7, v, 8, sum), 0);
	assert_int_equal(kvmap_combine(m, (const uint8_t *)"key-", 4, v, 8, sum), 0);
	assert_int_equal(kvmap_count(m), KEYS + 4);
	assert_non_null(find(m, "key-1", 5, &r));
	assert_int_equal(sl_i64_decode(r.value, 8), 1 * ROUNDS + 21);
	kvmap_free(m);
}

/* 100k keys: a dozen resizes; every key keeps its sum and is iterated
 * exactly once. */
static void test_growth_100k(void **state)
{
	(void)state;
	enum { N = 100000 };
	sl_reduce_fn sum = builtin_reduce("sl_sum_i64");
	kvmap *m = kvmap_new();
	size_t bytes0 = kvmap_bytes(m);
	uint8_t v[8];
	char k[32];
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < N; i++) {
			/* keys of varying lengths, binary bytes included */
			int n = snprintf(k, sizeof(k), "%d:%c%.*s", i, (char)(i & 0xff),
			                 i % 9, "abcdefghi");
			enc(pass == 0 ? i : 1, v);
			assert_int_equal(
			    kvmap_combine(m, (uint8_t *)k, (uint32_t)n, v, 8, sum), 0);
		}
		assert_int_equal(kvmap_count(m), N);
	}
	assert_true(kvmap_bytes(m) > bytes0 + (size_t)N * 8);
	unsigned char *seen = calloc(N, 1);
	assert_non_null(seen);
	size_t pos = 0, visited = 0;
	sl_record r;
	while (kvmap_next(m, &pos, &r)) {
		visited++;
		char buf[32];
		assert_true(r.key_len > 0 && r.key_len < sizeof(buf));
		memcpy(buf, r.key, r.key_len);
		buf[r.key_len] = '\0';
		int i = atoi(buf);
		assert_true(i >= 0 && i < N);
		int n = snprintf(k, sizeof(k), "%d:%c%.*s", i, (char)(i & 0xff), i % 9,
		                 "abcdefghi");
		assert_int_equal(r.key_len, n);
		assert_memory_equal(r.key, k, (size_t)n);
		assert_int_equal(seen[i], 0);
		seen[i] = 1;
		assert_int_equal(r.value_len, 8);
		assert_int_equal(sl_i64_decode(r.value, 8), (int64_t)i + 1);
	}
	assert_int_equal(visited, N);
	/* iteration has ended and stays ended */
	assert_int_equal(kvmap_next(m, &pos, &r), 0);
	free(seen);
	kvmap_free(m);
}

static uint32_t u32le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Decodes a value list into at most max items; returns the count, or -1
 * when the encoding is malformed. */
static int list_decode(const uint8_t *p, uint32_t len, const uint8_t **items,
                       uint32_t *lens, int max)
{
	int n = 0;
	uint32_t off = 0;
	while (off < len) {
		if (len - off < 4 || n == max)
			return -1;
		uint32_t l = u32le(p + off);
		off += 4;
		if (l > len - off)
			return -1;
		items[n] = p + off;
		lens[n++] = l;
		off += l;
	}
	return n;
}

static void test_append_encoding(void **state)
{
	(void)state;
	kvmap *m = kvmap_new();
	kvmap_append(m, (const uint8_t *)"k", 1, (const uint8_t *)"a", 1);
	kvmap_append(m, (const uint8_t *)"k", 1, (const uint8_t *)"bb", 2);
	kvmap_append(m, (const uint8_t *)"k", 1, NULL, 0); /* empty value */
	sl_record r;
	assert_non_null(find(m, "k", 1, &r));
	static const uint8_t want[] = {1, 0, 0, 0, 'a', 2, 0, 0, 0, 'b', 'b', 0, 0, 0, 0};
	assert_int_equal(r.value_len, sizeof(want));
	assert_memory_equal(r.value, want, sizeof(want));

	/* a long value: the length is little-endian over all four bytes */
	enum { BIG = 70000 + 3 };
	uint8_t *big = malloc(BIG);
	assert_non_null(big);
	for (int i = 0; i < BIG; i++)
		big[i] = (uint8_t)(i * 7);
	kvmap_append(m, (const uint8_t *)"big", 3, big, BIG);
	kvmap_append(m, (const uint8_t *)"big", 3, (const uint8_t *)"z", 1);
	assert_non_null(find(m, "big", 3, &r));
	assert_int_equal(r.value_len, 4 + BIG + 4 + 1);
	assert_int_equal(u32le(r.value), BIG);
	assert_int_equal(r.value[2], 1); /* 70003 = 0x011173 */
	assert_memory_equal(r.value + 4, big, BIG);
	assert_int_equal(u32le(r.value + 4 + BIG), 1);
	assert_int_equal(r.value[8 + BIG], 'z');

	/* append_list adds an encoded list as it is: the same as appending its
	 * items one by one, to a new key or an existing one */
	kvmap *single = kvmap_new();
	const char *items[] = {"x", "", "yyy", "hello world"};
	for (int i = 0; i < 4; i++)
		kvmap_append(single, (const uint8_t *)"g", 1, (const uint8_t *)items[i],
		             (uint32_t)strlen(items[i]));
	sl_record enc_list;
	assert_non_null(find(single, "g", 1, &enc_list));
	kvmap_append_list(m, (const uint8_t *)"g", 1, enc_list.value, enc_list.value_len);
	kvmap_append(m, (const uint8_t *)"k", 1, (const uint8_t *)"c", 1);
	kvmap_append_list(m, (const uint8_t *)"k", 1, enc_list.value, enc_list.value_len);
	kvmap_append_list(m, (const uint8_t *)"e", 1, NULL, 0); /* an empty list */
	assert_int_equal(kvmap_count(m), 4);

	const uint8_t *it[16];
	uint32_t il[16];
	assert_non_null(find(m, "g", 1, &r));
	assert_int_equal(list_decode(r.value, r.value_len, it, il, 16), 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(il[i], strlen(items[i]));
		assert_memory_equal(it[i], items[i], il[i]);
	}
	assert_non_null(find(m, "k", 1, &r));
	const char *kwant[] = {"a", "bb", "", "c", "x", "", "yyy", "hello world"};
	assert_int_equal(list_decode(r.value, r.value_len, it, il, 16), 8);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(il[i], strlen(kwant[i]));
		assert_memory_equal(it[i], kwant[i], il[i]);
	}
	assert_non_null(find(m, "e", 1, &r));
	assert_int_equal(r.value_len, 0);
	free(big);
	kvmap_free(single);
	kvmap_free(m);
}

/* Group-by-key of many keys with many values: each list holds exactly the
 * values appended to its key, in order. */
static void test_append_many(void **state)
{
	(void)state;
	enum { KEYS = 5000, PER = 6 };
	kvmap *m = kvmap_new();
	char k[16], v[32];
	for (int j = 0; j < PER; j++)
		for (int i = 0; i < KEYS; i++) {
			int kn = snprintf(k, sizeof(k), "g%d", i);
			int vn = snprintf(v, sizeof(v), "v%d-%d", i, j);
			kvmap_append(m, (uint8_t *)k, (uint32_t)kn, (uint8_t *)v,
			             (uint32_t)vn);
		}
	assert_int_equal(kvmap_count(m), KEYS);
	size_t pos = 0, seen = 0;
	sl_record r;
	const uint8_t *it[PER + 1];
	uint32_t il[PER + 1];
	while (kvmap_next(m, &pos, &r)) {
		char kb[16];
		memcpy(kb, r.key, r.key_len);
		kb[r.key_len] = '\0';
		int i = atoi(kb + 1);
		assert_int_equal(list_decode(r.value, r.value_len, it, il, PER + 1), PER);
		for (int j = 0; j < PER; j++) {
			int vn = snprintf(v, sizeof(v), "v%d-%d", i, j);
			assert_int_equal(il[j], vn);
			assert_memory_equal(it[j], v, (size_t)vn);
		}
		seen++;
	}
	assert_int_equal(seen, KEYS);
	kvmap_free(m);
}

static int calls;

static int fail_on_42(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                      sl_value *out)
{
	calls++;
	if (sl_i64_decode(b, blen) == 42)
		return -42;
	int64_t s = sl_i64_decode(a, alen) + sl_i64_decode(b, blen);
	uint8_t buf[8];
	sl_i64_encode(s, buf);
	sl_value_set(out, buf, 8);
	return 0;
}

/* A reduce that concatenates: values grow past the initial capacity and
 * shrink again when a later result is shorter. */
static int concat_or_reset(const uint8_t *a, uint32_t alen, const uint8_t *b,
                           uint32_t blen, sl_value *out)
{
	if (blen == 1 && b[0] == '!') {
		sl_value_set(out, "!", 1);
		return 0;
	}
	uint8_t buf[4096];
	if (alen + blen > sizeof(buf))
		return -1;
	memcpy(buf, a, alen);
	memcpy(buf + alen, b, blen);
	sl_value_set(out, buf, alen + blen);
	return 0;
}

static void test_combine_errors(void **state)
{
	(void)state;
	kvmap *m = kvmap_new();
	uint8_t v[8];
	sl_record r;

	/* the first value of a key is stored without calling the function */
	calls = 0;
	enc(42, v);
	assert_int_equal(kvmap_combine(m, (const uint8_t *)"a", 1, v, 8, fail_on_42), 0);
	assert_int_equal(calls, 0);
	enc(1, v);
	assert_int_equal(kvmap_combine(m, (const uint8_t *)"a", 1, v, 8, fail_on_42), 0);
	assert_int_equal(calls, 1);
	/* the function's own error comes back unchanged; the value is kept */
	enc(42, v);
	assert_int_equal(kvmap_combine(m, (const uint8_t *)"a", 1, v, 8, fail_on_42),
	                 -42);
	assert_non_null(find(m, "a", 1, &r));
	assert_int_equal(sl_i64_decode(r.value, r.value_len), 43);
	assert_int_equal(kvmap_count(m), 1);

	/* the built-in sum refuses a value that is not 8 bytes: SL_EINVAL */
	sl_reduce_fn sum = builtin_reduce("sl_sum_i64");
	assert_int_equal(
	    kvmap_combine(m, (const uint8_t *)"a", 1, (const uint8_t *)"abc", 3, sum),
	    SL_EINVAL);
	assert_non_null(find(m, "a", 1, &r));
	assert_int_equal(sl_i64_decode(r.value, r.value_len), 43);
	/* ...also when the stored one is the wrong length */
	assert_int_equal(
	    kvmap_combine(m, (const uint8_t *)"s", 1, (const uint8_t *)"xyz", 3, sum), 0);
	enc(1, v);
	assert_int_equal(kvmap_combine(m, (const uint8_t *)"s", 1, v, 8, sum), SL_EINVAL);
	assert_non_null(find(m, "s", 1, &r));
	assert_int_equal(r.value_len, 3);
	assert_memory_equal(r.value, "xyz", 3);

	/* values grow beyond the initial room and shrink back */
	char chunk[100];
	memset(chunk, 'q', sizeof(chunk));
	for (int i = 0; i < 30; i++)
		assert_int_equal(kvmap_combine(m, (const uint8_t *)"c", 1,
		                               (uint8_t *)chunk, sizeof(chunk),
		                               concat_or_reset),
		                 0);
	assert_non_null(find(m, "c", 1, &r));
	assert_int_equal(r.value_len, 3000);
	for (uint32_t i = 0; i < r.value_len; i++)
		assert_int_equal(r.value[i], 'q');
	assert_int_equal(kvmap_combine(m, (const uint8_t *)"c", 1, (uint8_t *)chunk, 2000,
	                               concat_or_reset),
	                 -1);
	assert_non_null(find(m, "c", 1, &r));
	assert_int_equal(r.value_len, 3000);
	assert_int_equal(kvmap_combine(m, (const uint8_t *)"c", 1, (const uint8_t *)"!",
	                               1, concat_or_reset),
	                 0);
	assert_non_null(find(m, "c", 1, &r));
	assert_int_equal(r.value_len, 1);
	assert_int_equal(r.value[0], '!');
	kvmap_free(m);
}

/* kvmap_hash is pinned to FNV-1a 64: every worker of a cluster must put a key
 * in the same reducer bucket (hash mod reducers), so the function may not
 * change with the host or the build. Values from an independent FNV-1a
 * (offset basis 1469598103934665603, as tests/integration/test_shuffle.py). */
static void test_hash_pinned(void **state)
{
	(void)state;
	static const struct {
		const char *k;
		uint64_t h;
	} pins[] = {
	    {"", 0x14650fb0739d0383ull},
	    {"a", 0x44bd8ad473cd9906ull},
	    {"abc", 0xe16801510db89efdull},
	    {"word", 0xbf8993503e50267full},
	    {"w123", 0x6191424ee731a1e4ull},
	    {"hello", 0x005a0d15131ec7a1ull},
	    {"12345678", 0xf47a4534c8668733ull},
	    {"123456789", 0xd24aa2b0863775feull},
	    {"a longer key of 25 bytes!", 0x47495d7f2c98de1cull},
	};
	for (size_t i = 0; i < sizeof(pins) / sizeof(pins[0]); i++)
		assert_true(kvmap_hash((const uint8_t *)pins[i].k,
		                       (uint32_t)strlen(pins[i].k)) == pins[i].h);
}

/* Keys that differ in one byte at any position, and prefixes of one another
 * (which the overlapping loads read twice), are all distinct keys. */
static void test_similar_keys_distinct(void **state)
{
	(void)state;
	kvmap *m = kvmap_new_sized(4);
	sl_reduce_fn sum = builtin_reduce("sl_sum_i64");
	uint8_t one[8], key[40];
	enc(1, one);
	size_t expect = 0;
	for (uint32_t len = 0; len <= 24; len++) {
		memset(key, 'x', sizeof(key));
		assert_int_equal(kvmap_combine(m, key, len, one, 8, sum), 0);
		expect++;
		for (uint32_t at = 0; at < len; at++) {
			key[at] = 'y';
			assert_int_equal(kvmap_combine(m, key, len, one, 8, sum), 0);
			key[at] = 'x';
			expect++;
		}
	}
	assert_int_equal(kvmap_count(m), expect);
	size_t pos = 0;
	sl_record r;
	while (kvmap_next(m, &pos, &r))
		assert_int_equal(sl_i64_decode(r.value, r.value_len), 1);
	kvmap_free(m);
}

/* kvmap_add_i64 agrees with combining through sl_sum_i64, mixes with it on
 * the same keys, wraps like it, and refuses a stored value that is not 8
 * bytes (as sl_sum_i64 would) without touching it. */
static void test_add_i64(void **state)
{
	(void)state;
	kvmap *a = kvmap_new(), *b = kvmap_new_sized(100000);
	sl_reduce_fn sum = builtin_reduce("sl_sum_i64");
	char k[32];
	uint8_t v[8];
	for (int i = 0; i < 30000; i++) {
		int n = snprintf(k, sizeof(k), "key%d", i % 7001);
		uint64_t h = kvmap_hash((const uint8_t *)k, (uint32_t)n);
		assert_int_equal(kvmap_add_i64(a, h, (const uint8_t *)k, (uint32_t)n, i),
		                 0);
		enc(i, v);
		if (i % 2)
			assert_int_equal(
			    kvmap_combine(b, (const uint8_t *)k, (uint32_t)n, v, 8, sum),
			    0);
		else
			assert_int_equal(
			    kvmap_add_i64(b, h, (const uint8_t *)k, (uint32_t)n, i), 0);
	}
	assert_int_equal(kvmap_count(a), 7001);
	assert_int_equal(kvmap_count(b), 7001);
	size_t pos = 0;
	sl_record r, o;
	while (kvmap_next(a, &pos, &r)) {
		assert_non_null(find(b, r.key, r.key_len, &o));
		assert_int_equal(o.value_len, 8);
		assert_true(sl_i64_decode(o.value, 8) == sl_i64_decode(r.value, 8));
	}
	/* wrap-around like sl_sum_i64 (unsigned addition) */
	uint64_t h = kvmap_hash((const uint8_t *)"max", 3);
	assert_int_equal(kvmap_add_i64(a, h, (const uint8_t *)"max", 3, INT64_MAX), 0);
	assert_int_equal(kvmap_add_i64(a, h, (const uint8_t *)"max", 3, 1), 0);
	assert_non_null(find(a, "max", 3, &r));
	assert_true(sl_i64_decode(r.value, 8) == INT64_MIN);
	/* a 3-byte value stored by combine is refused, and left alone */
	assert_int_equal(
	    kvmap_combine(a, (const uint8_t *)"odd", 3, (const uint8_t *)"abc", 3, sum),
	    0);
	h = kvmap_hash((const uint8_t *)"odd", 3);
	assert_int_equal(kvmap_add_i64(a, h, (const uint8_t *)"odd", 3, 1), SL_EINVAL);
	assert_non_null(find(a, "odd", 3, &r));
	assert_int_equal(r.value_len, 3);
	assert_memory_equal(r.value, "abc", 3);
	kvmap_free(a);
	kvmap_free(b);
}

/* A map sized for n keys takes n keys; values far larger than an arena chunk
 * and values that move as they grow keep their bytes. */
static void test_sized_and_big_values(void **state)
{
	(void)state;
	kvmap *m = kvmap_new_sized(5000);
	size_t bytes0 = kvmap_bytes(m);
	static uint8_t big[200000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	char k[32];
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(k, sizeof(k), "%d", i);
		kvmap_append(m, (const uint8_t *)k, (uint32_t)n, big, (uint32_t)(i % 50));
	}
	assert_int_equal(kvmap_count(m), 5000);
	assert_true(kvmap_bytes(m) > bytes0);
	kvmap_append(m, (const uint8_t *)"big", 3, big, sizeof(big));
	kvmap_append(m, (const uint8_t *)"big", 3, big, sizeof(big));
	sl_record r;
	assert_non_null(find(m, "big", 3, &r));
	assert_int_equal(r.value_len, 2 * (4 + sizeof(big)));
	assert_memory_equal(r.value + 4, big, sizeof(big));
	assert_memory_equal(r.value + 8 + sizeof(big), big, sizeof(big));
	assert_non_null(find(m, "4999", 4, &r));
	assert_int_equal(r.value_len, 4 + 4999 % 50);
	assert_memory_equal(r.value + 4, big, 4999 % 50);
	kvmap_free(m);
}

/* The fused word count gives what split -> pair -> sum gives: the same words
 * (every C-locale whitespace byte separates, other bytes, high ones
 * included, belong to words), counted in the bucket kvmap_hash % n picks,
 * with the number of words returned. */
static void test_split_count(void **state)
{
	(void)state;
	static const char *lines[] = {
	    "the quick  brown fox",         "\tthe\n\vfox\f\r ", "",  "   ",
	    "na\xc3\xafve caf\xc3\xa9 the", "a\x01b a\x01b",     "x",
	};
	enum { NRED = 3 };
	kvmap *fused[NRED], *ref[NRED];
	for (int b = 0; b < NRED; b++) {
		fused[b] = kvmap_new();
		ref[b] = kvmap_new();
	}
	uint64_t words = 0, want = 0;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		sl_record r = {.value = (const uint8_t *)lines[i],
		               .value_len = (uint32_t)strlen(lines[i])};
		words += builtin_split_count(&r, fused, NRED);
		const char *p = lines[i];
		while (*p) {
			while (*p && strchr(" \t\n\v\f\r", *p))
				p++;
			size_t n = 0;
			while (p[n] && !strchr(" \t\n\v\f\r", p[n]))
				n++;
			if (n > 0) {
				uint64_t h = kvmap_hash((const uint8_t *)p, (uint32_t)n);
				assert_int_equal(kvmap_add_i64(ref[h % NRED], h,
				                               (const uint8_t *)p,
				                               (uint32_t)n, 1),
				                 0);
				want++;
			}
			p += n;
		}
	}
	assert_int_equal(words, want);
	assert_int_equal(want, 12);
	for (int b = 0; b < NRED; b++) {
		assert_int_equal(kvmap_count(fused[b]), kvmap_count(ref[b]));
		size_t pos = 0;
		sl_record r, o;
		while (kvmap_next(fused[b], &pos, &r)) {
			assert_non_null(find(ref[b], r.key, r.key_len, &o));
			assert_true(sl_i64_decode(r.value, r.value_len) ==
			            sl_i64_decode(o.value, o.value_len));
		}
		kvmap_free(fused[b]);
		kvmap_free(ref[b]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_new_is_empty, unit_setup, unit_teardown),
	    cmocka_unit_test_setup_teardown(test_combine_sum_many_keys, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_growth_100k, unit_setup, unit_teardown),
	    cmocka_unit_test_setup_teardown(test_append_encoding, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_append_many, unit_setup, unit_teardown),
	    cmocka_unit_test_setup_teardown(test_combine_errors, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_hash_pinned, unit_setup, unit_teardown),
	    cmocka_unit_test_setup_teardown(test_similar_keys_distinct, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_add_i64, unit_setup, unit_teardown),
	    cmocka_unit_test_setup_teardown(test_sized_and_big_values, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_split_count, unit_setup, unit_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
