/*
 * Unit tests for the replay cache (common/replay.c): a frame is accepted
 * once, frames stamped before the cache's floor are refused, expired frames
 * are forgotten, and memory stays bounded under a flood of fresh frames
 * without ever letting a forgotten frame back in.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "alloc.h"
#include "replay.h"
#include "sluice/err.h"

#define WINDOW 1000
#define T0     1000000

/* A distinct, well-spread 32-byte "MAC" for frame i. */
static void mac_of(uint64_t i, uint8_t mac[32])
{
	uint64_t x = i * 0x9E3779B97F4A7C15ull + 1;
	for (int k = 0; k < 4; k++) {
		x ^= x >> 31;
		x *= 0xBF58476D1CE4E5B9ull;
		memcpy(mac + 8 * k, &x, 8);
	}
}

static void test_accepted_once(void **state)
{
	char err[256];
	uint8_t a[32], b[32];
	int64_t live = alloc_live();
	replay_cache *r = replay_new(T0, WINDOW, 1000);
	mac_of(1, a);
	mac_of(2, b);
	assert_int_equal(replay_check(r, a, T0 + 5, T0 + 10, err, sizeof(err)), SL_OK);
	assert_int_equal(replay_check(r, a, T0 + 5, T0 + 10, err, sizeof(err)), SL_EAUTH);
	assert_non_null(strstr(err, "replayed message"));
	assert_int_equal(replay_check(r, b, T0 + 5, T0 + 10, err, sizeof(err)), SL_OK);
	/* the same MAC with another timestamp is still the same frame */
	assert_int_equal(replay_check(r, b, T0 + 7, T0 + 10, err, sizeof(err)), SL_EAUTH);
	assert_int_equal(replay_size(r), 2);
	replay_free(r);
	assert_int_equal(alloc_live(), live);
}

/* A restarted receiver refuses what was stamped before it started. */
static void test_floor_is_start(void **state)
{
	char err[256];
	uint8_t a[32];
	replay_cache *r = replay_new(T0, WINDOW, 1000);
	mac_of(3, a);
	assert_int_equal(replay_check(r, a, T0 - 1, T0, err, sizeof(err)), SL_ESTALE);
	assert_non_null(strstr(err, "before the oldest time"));
	assert_int_equal(replay_check(r, a, T0, T0, err, sizeof(err)), SL_OK);
	replay_free(r);
}

/* Frames older than the window are dropped at the next rebuild. */
static void test_expired_forgotten(void **state)
{
	char err[256];
	uint8_t m[32];
	replay_cache *r = replay_new(T0, WINDOW, 100000);
	for (uint64_t i = 0; i < 400; i++) {
		mac_of(i, m);
		assert_int_equal(replay_check(r, m, T0 + 1, T0 + 1, err, sizeof(err)),
		                 SL_OK);
	}
	/* much later: the next rebuild forgets every one of the 400 */
	int64_t later = T0 + 10 * WINDOW;
	for (uint64_t i = 1000; i < 1600; i++) {
		mac_of(i, m);
		assert_int_equal(replay_check(r, m, later, later, err, sizeof(err)),
		                 SL_OK);
	}
	assert_true(replay_size(r) <= 600);
	assert_true(replay_size(r) >= 1);
	replay_free(r);
}

/* A flood of fresh frames: size bounded, the floor rises, and every frame
 * ever accepted is still refused (held, or below the floor). */
static void test_bounded(void **state)
{
	char err[256];
	uint8_t m[32];
	const uint64_t n = 20000;
	replay_cache *r = replay_new(T0, 1000000000, 2000);
	for (uint64_t i = 0; i < n; i++) {
		mac_of(i, m);
		int64_t ts = T0 + (int64_t)i;
		assert_int_equal(replay_check(r, m, ts, ts, err, sizeof(err)), SL_OK);
		assert_true(replay_size(r) <= 2048);
	}
	assert_true(replay_floor(r) > T0);
	for (uint64_t i = 0; i < n; i++) {
		mac_of(i, m);
		int64_t ts = T0 + (int64_t)i;
		int rv = replay_check(r, m, ts, ts, err, sizeof(err));
		assert_true(rv == SL_EAUTH || rv == SL_ESTALE);
	}
	replay_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepted_once),
	    cmocka_unit_test(test_floor_is_start),
	    cmocka_unit_test(test_expired_forgotten),
	    cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
