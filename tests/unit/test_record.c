/*
 * Unit tests for record buffers and the block codec (common/record.c).
 *
 * They pin down the wire/disk format's promises: records round-trip exactly
 * (including empty and large keys and values), blocks round-trip whether or
 * not they compress, and anything damaged — a flipped byte anywhere, a
 * truncation, a lying length, a raw size over the caller's limit — is
 * refused with SL_EPROTO rather than read out of bounds. A seeded random
 * test feeds garbage and mutated blocks to both decoders. Every test checks
 * alloc_live() returns to where it started.
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
#include "record.h"
#include "sluice/err.h"

#define HDR 28 /* encoded block header */

static int setup(void **state)
{
	int64_t *live = malloc(sizeof(*live));
	if (live == NULL)
		return -1;
	*live = alloc_live();
	*state = live;
	return 0;
}

static int teardown(void **state)
{
	int64_t *live = *state;
	int64_t now = alloc_live();
	if (now != *live)
		fprintf(stderr, "leak: %lld allocations left\n",
		        (long long)(now - *live));
	int rc = now == *live ? 0 : -1;
	free(live);
	return rc;
}

/* xorshift64*: deterministic, so a failing seed can be replayed. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void rng_fill(uint64_t *s, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng_next(s);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Asserts that iterating b yields exactly the n records in want. */
static void assert_records(const rbuf *b, const sl_record *want, size_t n)
{
	rbuf_iter it;
	sl_record r;
	assert_int_equal(b->count, n);
	rbuf_iter_init(&it, b->data, b->len);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(rbuf_iter_next(&it, &r), 1);
		assert_int_equal(r.key_len, want[i].key_len);
		assert_int_equal(r.value_len, want[i].value_len);
		assert_true(r.event_time_ms == want[i].event_time_ms);
		if (r.key_len > 0)
			assert_memory_equal(r.key, want[i].key, r.key_len);
		if (r.value_len > 0)
			assert_memory_equal(r.value, want[i].value, r.value_len);
	}
	assert_int_equal(rbuf_iter_next(&it, &r), 0);
}

/* Text-like records that LZ4 shrinks well. */
static void fill_compressible(rbuf *b, int n)
{
	char key[32], val[128];
	for (int i = 0; i < n; i++) {
		int kl = snprintf(key, sizeof(key), "user-%d", i % 17);
		int vl = snprintf(val, sizeof(val),
		                  "event=click page=/home/index.html n=%d", i % 5);
		rbuf_append(b, key, (uint32_t)kl, val, (uint32_t)vl, 1700000000000 + i);
	}
}

static void fill_random(rbuf *b, uint64_t seed, int n, size_t vlen)
{
	uint8_t *v = malloc(vlen);
	assert_non_null(v);
	for (int i = 0; i < n; i++) {
		uint8_t key[8];
		rng_fill(&seed, key, sizeof(key));
		rng_fill(&seed, v, vlen);
		rbuf_append(b, key, sizeof(key), v, (uint32_t)vlen,
		            (int64_t)rng_next(&seed));
	}
	free(v);
}

static void assert_rbuf_equal(const rbuf *a, const rbuf *b)
{
	assert_int_equal(a->len, b->len);
	assert_int_equal(a->count, b->count);
	if (a->len > 0)
		assert_memory_equal(a->data, b->data, a->len);
}

/* ---- rbuf ---- */

static void test_rbuf_round_trip(void **state)
{
	size_t big = 3 * 1024 * 1024 + 7;
	uint8_t *large = malloc(big);
	assert_non_null(large);
	uint64_t seed = 42;
	rng_fill(&seed, large, big);
	sl_record want[] = {
	    {(const uint8_t *)"k", 1, (const uint8_t *)"value", 5, 123},
	    {NULL, 0, NULL, 0, -5},
	    {(const uint8_t *)"only-key", 8, NULL, 0, 0},
	    {NULL, 0, (const uint8_t *)"only-value", 10, INT64_MAX},
	    {(const uint8_t *)"big", 3, large, (uint32_t)big, INT64_MIN},
	    {(const uint8_t *)"after", 5, (const uint8_t *)"x", 1, 1},
	};
	size_t n = sizeof(want) / sizeof(want[0]);
	rbuf b;
	rbuf_init(&b);
	for (size_t i = 0; i < n; i++) {
		if (i % 2 == 0)
			rbuf_append_record(&b, &want[i]);
		else
			rbuf_append(&b, want[i].key, want[i].key_len, want[i].value,
			            want[i].value_len, want[i].event_time_ms);
	}
	assert_true(b.cap >= b.len);
	assert_int_equal(b.len, n * RECORD_HEADER_LEN + 1 + 5 + 8 + 10 + 3 + big + 5 + 1);
	assert_records(&b, want, n);

	rbuf moved;
	rbuf_init(&moved);
	rbuf_append(&moved, "old", 3, "old", 3, 0);
	rbuf_move(&moved, &b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.count, 0);
	assert_records(&moved, want, n);

	rbuf_reset(&moved);
	assert_int_equal(moved.len, 0);
	assert_int_equal(moved.count, 0);
	assert_non_null(moved.data);
	rbuf_append_record(&moved, &want[0]);
	assert_records(&moved, want, 1);
	rbuf_free(&moved);
	rbuf_free(&b);
	free(large);
}

static void test_rbuf_empty_and_growth(void **state)
{
	rbuf b;
	rbuf_iter it;
	sl_record r;
	rbuf_init(&b);
	rbuf_iter_init(&it, b.data, b.len);
	assert_int_equal(rbuf_iter_next(&it, &r), 0);
	size_t last_cap = 0;
	for (int i = 0; i < 5000; i++) {
		rbuf_append(&b, &i, sizeof(i), NULL, 0, i);
		if (b.cap != last_cap) {
			/* growth is by doubling, never by a little */
			assert_true(last_cap == 0 || b.cap >= 2 * last_cap);
			last_cap = b.cap;
		}
	}
	rbuf_iter_init(&it, b.data, b.len);
	for (int i = 0; i < 5000; i++) {
		int k;
		assert_int_equal(rbuf_iter_next(&it, &r), 1);
		assert_int_equal(r.key_len, sizeof(k));
		memcpy(&k, r.key, sizeof(k));
		assert_int_equal(k, i);
	}
	assert_int_equal(rbuf_iter_next(&it, &r), 0);
	rbuf_reserve(&b, 0);
	rbuf_free(&b);
	assert_null(b.data);
	rbuf_free(&b); /* idempotent after free */
}

static void test_rbuf_malformed(void **state)
{
	uint8_t buf[64];
	rbuf_iter it;
	sl_record r;

	/* fewer bytes than a record header */
	memset(buf, 0, sizeof(buf));
	for (size_t n = 1; n < RECORD_HEADER_LEN; n++) {
		rbuf_iter_init(&it, buf, n);
		assert_int_equal(rbuf_iter_next(&it, &r), SL_EPROTO);
	}
	/* key length runs past the end */
	put_le32(buf, 10);
	put_le32(buf + 4, 0);
	rbuf_iter_init(&it, buf, RECORD_HEADER_LEN + 9);
	assert_int_equal(rbuf_iter_next(&it, &r), SL_EPROTO);
	rbuf_iter_init(&it, buf, RECORD_HEADER_LEN + 10);
	assert_int_equal(rbuf_iter_next(&it, &r), 1);
	assert_int_equal(rbuf_iter_next(&it, &r), 0);
	/* lengths whose 32-bit sum would wrap */
	put_le32(buf, 0xFFFFFFFFu);
	put_le32(buf + 4, 0x20);
	rbuf_iter_init(&it, buf, sizeof(buf));
	assert_int_equal(rbuf_iter_next(&it, &r), SL_EPROTO);
	put_le32(buf, 0x10);
	put_le32(buf + 4, 0xFFFFFFF8u);
	rbuf_iter_init(&it, buf, sizeof(buf));
	assert_int_equal(rbuf_iter_next(&it, &r), SL_EPROTO);
	/* a good record followed by a truncated one */
	put_le32(buf, 0);
	put_le32(buf + 4, 0);
	rbuf_iter_init(&it, buf, RECORD_HEADER_LEN + 3);
	assert_int_equal(rbuf_iter_next(&it, &r), 1);
	assert_int_equal(rbuf_iter_next(&it, &r), SL_EPROTO);
}

/* ---- block codec ---- */

/* Encodes and decodes b; want_compressed: 1, 0, or -1 for either. */
static void round_trip(const rbuf *b, int want_compressed)
{
	uint8_t *enc;
	size_t len;
	rbuf out;
	char err[128] = "";
	uint64_t count, raw;
	assert_int_equal(block_encode(b, &enc, &len), SL_OK);
	assert_memory_equal(enc, "SLB1", 4);
	if (want_compressed < 0) /* either, but only if it pays */
		want_compressed = enc[4] & 1;
	assert_int_equal(enc[4] & 1, want_compressed);
	if (want_compressed)
		assert_true(len < HDR + b->len);
	else
		assert_int_equal(len, HDR + b->len);
	assert_int_equal(block_peek(enc, len, &count, &raw), SL_OK);
	assert_int_equal(count, b->count);
	assert_int_equal(raw, b->len);
	assert_int_equal(block_decode(enc, len, b->len, &out, err, sizeof(err)), SL_OK);
	assert_rbuf_equal(&out, b);
	rbuf_free(&out);
	sl_free(enc);
}

static void test_block_round_trip(void **state)
{
	rbuf b;
	rbuf_init(&b);
	round_trip(&b, 0); /* empty block */
	fill_compressible(&b, 2000);
	round_trip(&b, 1);
	rbuf_free(&b);
	fill_random(&b, 7, 1, 50000);
	round_trip(&b, 0);
	rbuf_free(&b);
	rbuf_append(&b, NULL, 0, NULL, 0, 0); /* one empty record */
	round_trip(&b, -1);
	rbuf_free(&b);
}

static void test_block_max_raw(void **state)
{
	rbuf b, out;
	uint8_t *enc;
	size_t len;
	char err[128] = "";
	rbuf_init(&b);
	fill_compressible(&b, 100);
	block_encode(&b, &enc, &len);
	assert_int_equal(block_decode(enc, len, b.len - 1, &out, err, sizeof(err)),
	                 SL_EPROTO);
	assert_non_null(strstr(err, "limit"));
	assert_null(out.data);
	assert_int_equal(block_decode(enc, len, 0, &out, NULL, 0), SL_EPROTO);
	assert_int_equal(block_decode(enc, len, b.len, &out, err, sizeof(err)), SL_OK);
	rbuf_free(&out);
	sl_free(enc);
	rbuf_free(&b);
}

/* Every single-byte change to the header or checksum, every truncation and
 * every extension is refused. A change in a compressed body is refused too,
 * unless LZ4 happens to produce the very same bytes (a different but
 * equivalent match offset), which the CRC then proves. */
static void corrupt_block(const rbuf *b, int compressed)
{
	uint8_t *enc;
	size_t len;
	rbuf out;
	char err[128];
	block_encode(b, &enc, &len);
	assert_int_equal(enc[4] & 1, compressed);
	uint8_t *bad = malloc(len + 1);
	assert_non_null(bad);
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(bad, enc, len);
			bad[i] ^= (uint8_t)(1u << bit);
			int rc = block_decode(bad, len, SIZE_MAX, &out, err, sizeof(err));
			if (i < HDR || !compressed) {
				assert_int_equal(rc, SL_EPROTO);
			} else if (rc == SL_OK) {
				assert_rbuf_equal(&out, b);
				rbuf_free(&out);
			} else {
				assert_int_equal(rc, SL_EPROTO);
			}
			if (rc != SL_OK)
				assert_null(out.data);
		}
	}
	for (size_t n = 0; n < len; n++)
		assert_int_equal(block_decode(enc, n, SIZE_MAX, &out, err, sizeof(err)),
		                 SL_EPROTO);
	memcpy(bad, enc, len);
	bad[len] = 0;
	assert_int_equal(block_decode(bad, len + 1, SIZE_MAX, &out, err, sizeof(err)),
	                 SL_EPROTO);
	free(bad);
	sl_free(enc);
}

static void test_block_corrupted(void **state)
{
	rbuf b;
	rbuf_init(&b);
	fill_compressible(&b, 40);
	corrupt_block(&b, 1);
	rbuf_free(&b);
	fill_random(&b, 99, 1, 100);
	corrupt_block(&b, 0);
	rbuf_free(&b);
}

/* Builds a block header by hand (flags, count, raw length, crc). */
static void make_header(uint8_t *h, uint32_t flags, uint64_t count, uint64_t raw,
                        uint32_t crc)
{
	memcpy(h, "SLB1", 4);
	put_le32(h + 4, flags);
	put_le64(h + 8, count);
	put_le64(h + 16, raw);
	put_le32(h + 24, crc);
}

static void test_block_lying_header(void **state)
{
	uint8_t buf[HDR + 64];
	rbuf out;
	char err[128];
	uint64_t count, raw;
	memset(buf, 0, sizeof(buf));
	/* a compressed body claiming a huge raw size is refused before any
	 * allocation, even when the caller sets no limit */
	make_header(buf, 1, 1, (uint64_t)1 << 40, 0);
	assert_int_equal(block_decode(buf, sizeof(buf), SIZE_MAX, &out, err, sizeof(err)),
	                 SL_EPROTO);
	make_header(buf, 1, 1, UINT64_MAX, 0);
	assert_int_equal(block_decode(buf, sizeof(buf), SIZE_MAX, &out, err, sizeof(err)),
	                 SL_EPROTO);
	/* more records than could fit */
	make_header(buf, 0, 5, 64, 0);
	assert_int_equal(block_decode(buf, sizeof(buf), SIZE_MAX, &out, err, sizeof(err)),
	                 SL_EPROTO);
	/* unknown flag bits */
	make_header(buf, 2, 0, 64, 0);
	assert_int_equal(block_peek(buf, sizeof(buf), &count, &raw), SL_EPROTO);
	assert_int_equal(block_decode(buf, sizeof(buf), SIZE_MAX, &out, err, sizeof(err)),
	                 SL_EPROTO);
	/* a raw body whose records do not fill it, with a valid CRC: build a
	 * real block and append a stray byte to the record data */
	rbuf b;
	uint8_t *enc;
	size_t len;
	rbuf_init(&b);
	rbuf_append(&b, "k", 1, "v", 1, 0);
	rbuf_reserve(&b, 1);
	b.data[b.len++] = 0xAB;
	block_encode(&b, &enc, &len);
	assert_int_equal(block_decode(enc, len, SIZE_MAX, &out, err, sizeof(err)),
	                 SL_EPROTO);
	assert_non_null(strstr(err, "runs past"));
	sl_free(enc);
	/* a count that disagrees with the records, with a valid CRC */
	b.len--;
	b.count = 2;
	block_encode(&b, &enc, &len);
	assert_int_equal(block_decode(enc, len, SIZE_MAX, &out, err, sizeof(err)),
	                 SL_EPROTO);
	sl_free(enc);
	rbuf_free(&b);
	assert_int_equal(block_peek(buf, 10, &count, &raw), SL_EPROTO);
}

/* Walks every record of a buffer; must end with 0 or SL_EPROTO. */
static void iterate_all(const uint8_t *p, size_t n)
{
	rbuf_iter it;
	sl_record r;
	int rc;
	uint64_t sum = 0;
	rbuf_iter_init(&it, p, n);
	while ((rc = rbuf_iter_next(&it, &r)) == 1) {
		/* touch every byte so valgrind/ASan see any overrun */
		for (uint32_t i = 0; i < r.key_len; i++)
			sum += r.key[i];
		for (uint32_t i = 0; i < r.value_len; i++)
			sum += r.value[i];
	}
	assert_true(rc == 0 || rc == SL_EPROTO);
	(void)sum;
}

static void test_random_garbage(void **state)
{
	uint64_t seed = 0x5EED5EED12345ull;
	rbuf good, out;
	uint8_t *enc;
	size_t enc_len;
	char err[128];
	rbuf_init(&good);
	fill_compressible(&good, 30);
	block_encode(&good, &enc, &enc_len);
	for (int iter = 0; iter < 1000; iter++) {
		size_t n = (size_t)(rng_next(&seed) % 300);
		uint8_t *buf = malloc(n + enc_len + 1);
		assert_non_null(buf);
		switch (iter % 3) {
		case 0: /* pure noise */
			rng_fill(&seed, buf, n);
			break;
		case 1: /* a plausible header over noise */
			rng_fill(&seed, buf, n);
			if (n >= HDR)
				make_header(buf, (uint32_t)(rng_next(&seed) & 1),
				            rng_next(&seed) % 8, rng_next(&seed) % 512,
				            0);
			break;
		default: /* a real block with a few random bytes changed */
			memcpy(buf, enc, enc_len);
			n = enc_len - (size_t)(rng_next(&seed) % 4);
			for (int k = 0; k < 3; k++)
				buf[rng_next(&seed) % n] = (uint8_t)rng_next(&seed);
		}
		int rc = block_decode(buf, n, 1 << 20, &out, err, sizeof(err));
		assert_true(rc == SL_OK || rc == SL_EPROTO);
		if (rc == SL_OK) {
			iterate_all(out.data, out.len);
			rbuf_free(&out);
		}
		iterate_all(buf, n);
		free(buf);
	}
	sl_free(enc);
	rbuf_free(&good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rbuf_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rbuf_empty_and_growth, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rbuf_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_block_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_block_max_raw, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_block_corrupted, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_block_lying_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_random_garbage, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
