/*
 * Unit tests for the token bucket (common/ratelimit.c).
 *
 * Timing bounds are generous: these check that the limiter limits, not how
 * precisely, and they also run under valgrind and ASan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>

#include "clock.h"
#include "ratelimit.h"

static double elapsed_s(int64_t start_ns)
{
	return (double)(clock_mono_ns() - start_ns) / 1e9;
}

static void test_unlimited_never_waits(void **state)
{
	ratelimit rl;
	ratelimit_init(&rl, 0);
	int64_t t0 = clock_mono_ns();
	for (int i = 0; i < 100000; i++)
		assert_int_equal(ratelimit_acquire(&rl, 1), 0);
	assert_int_equal(ratelimit_acquire(&rl, 1000000000), 0);
	assert_true(ratelimit_try_acquire(&rl, 1000000000));
	assert_true(elapsed_s(t0) < 1.0);
	ratelimit_fini(&rl);
}

/* 1000/s with a 100-token burst: 500 records take about 0.4 s. */
static void test_rate_holds(void **state)
{
	ratelimit rl;
	ratelimit_init(&rl, 1000);
	int64_t t0 = clock_mono_ns(), waited = 0;
	for (int i = 0; i < 500; i++)
		waited += ratelimit_acquire(&rl, 1);
	double s = elapsed_s(t0);
	assert_true(s >= 0.3 && s <= 1.5);
	/* The reported waiting is real and accounts for most of the time. */
	assert_true(waited > 200 * 1000000LL);
	assert_true(waited <= clock_mono_ns() - t0);
	ratelimit_fini(&rl);
}

static void test_try_acquire(void **state)
{
	ratelimit rl;
	ratelimit_init(&rl, 10); /* burst of 1 */
	assert_true(ratelimit_try_acquire(&rl, 1));
	assert_false(ratelimit_try_acquire(&rl, 1));
	clock_sleep_ms(250);
	assert_true(ratelimit_try_acquire(&rl, 1));
	ratelimit_fini(&rl);
}

/* A request above the burst is granted from a full bucket and leaves a
 * debt that the next request pays for. */
static void test_large_request_debt(void **state)
{
	ratelimit rl;
	ratelimit_init(&rl, 1000);
	int64_t t0 = clock_mono_ns();
	ratelimit_acquire(&rl, 300);
	assert_true(elapsed_s(t0) < 0.15);
	ratelimit_acquire(&rl, 1);
	double s = elapsed_s(t0);
	assert_true(s >= 0.15 && s <= 1.5);
	ratelimit_fini(&rl);
}

static void test_rate_change(void **state)
{
	ratelimit rl;
	ratelimit_init(&rl, 1000);
	/* Raised: 5000 records at 1000/s would take ~5 s. */
	ratelimit_set_rate(&rl, 100000);
	assert_true(ratelimit_rate(&rl) == 100000);
	int64_t t0 = clock_mono_ns();
	for (int i = 0; i < 5000; i++)
		ratelimit_acquire(&rl, 1);
	assert_true(elapsed_s(t0) < 1.0);
	/* Lowered: the burst shrinks to 10, so 50 records take ~0.4 s. */
	ratelimit_set_rate(&rl, 100);
	t0 = clock_mono_ns();
	for (int i = 0; i < 50; i++)
		ratelimit_acquire(&rl, 1);
	double s = elapsed_s(t0);
	assert_true(s >= 0.3 && s <= 1.5);
	/* Unlimited again. */
	ratelimit_set_rate(&rl, 0);
	t0 = clock_mono_ns();
	for (int i = 0; i < 10000; i++)
		assert_int_equal(ratelimit_acquire(&rl, 1), 0);
	assert_true(elapsed_s(t0) < 1.0);
	ratelimit_fini(&rl);
}

typedef struct {
	ratelimit *rl;
	atomic_int started, done;
	int64_t waited;
} waiter;

static void *waiter_main(void *arg)
{
	waiter *w = arg;
	atomic_store(&w->started, 1);
	w->waited = ratelimit_acquire(w->rl, 1);
	atomic_store(&w->done, 1);
	return NULL;
}

/* Starts a thread that must wait ~10 s at 0.1/s, applies wake, and checks
 * that the thread returns promptly. */
static void check_waiter_woken(void (*wake)(ratelimit *))
{
	ratelimit rl;
	waiter w = {.rl = &rl};
	pthread_t t;
	ratelimit_init(&rl, 0.1);
	ratelimit_acquire(&rl, 1); /* empties the 1-token bucket */
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	/* on a loaded machine the thread may start late: give it 100 ms once
	 * it is about to wait, so the wake below finds it waiting */
	for (int i = 0; i < 1000 && !atomic_load(&w.started); i++)
		clock_sleep_ms(10);
	clock_sleep_ms(100);
	assert_int_equal(atomic_load(&w.done), 0);
	int64_t t0 = clock_mono_ns();
	wake(&rl);
	pthread_join(t, NULL);
	assert_true(elapsed_s(t0) < 1.0);
	assert_true(w.waited > 50 * 1000000LL);
	ratelimit_fini(&rl);
}

static void wake_unlimited(ratelimit *rl)
{
	ratelimit_set_rate(rl, 0);
}

static void wake_faster(ratelimit *rl)
{
	ratelimit_set_rate(rl, 1000);
}

static void test_rate_change_wakes_waiter(void **state)
{
	check_waiter_woken(wake_unlimited);
	check_waiter_woken(wake_faster);
}

static void test_interrupt(void **state)
{
	check_waiter_woken(ratelimit_interrupt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unlimited_never_waits),
	    cmocka_unit_test(test_rate_holds),
	    cmocka_unit_test(test_try_acquire),
	    cmocka_unit_test(test_large_request_debt),
	    cmocka_unit_test(test_rate_change),
	    cmocka_unit_test(test_rate_change_wakes_waiter),
	    cmocka_unit_test(test_interrupt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
