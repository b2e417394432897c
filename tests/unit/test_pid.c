/*
 * Unit tests for the PID rate estimator (common/pid.c) and the rate-control
 * arithmetic (common/ratectl.c).
 *
 * Every expected figure is worked out by hand from the formula in SPEC §6 /
 * §5 in the comment beside it, so a change to the arithmetic shows up here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "pid.h"
#include "ratectl.h"
#include "sluice/err.h"

static pid_params params(double p, double i, double d, double min_rate)
{
	pid_params x = {.batch_interval_ms = 1000,
	                .proportional = p,
	                .integral = i,
	                .derivative = d,
	                .min_rate = min_rate};
	return x;
}

/* Spark's defaults P=1, I=0.2, D=0, minRate=100, 1 s batches. */
static void test_pid_sequence_defaults(void **state)
{
	pid_params pp = params(1.0, 0.2, 0.0, 100);
	pid_estimator e;
	pid_init(&e, &pp);
	double r = -7;
	assert_true(pid_latest_rate(&e) < 0);

	/* First usable batch: processingRate = 10000 / 500 * 1000 = 20000,
	 * seeds latestRate, publishes nothing. */
	assert_false(pid_compute(&e, 1000, 10000, 500, 0, &r));
	assert_true(r == -7);
	assert_true(pid_latest_rate(&e) < 0);

	/* t=2000: processingRate = 20000 / 2000 * 1000 = 10000;
	 * error = 20000 - 10000 = 10000; historical = 1000 * 10000 / 1000 =
	 * 10000; dError = (10000 - 0) / 1 = 10000;
	 * new = 20000 - 1*10000 - 0.2*10000 - 0 = 8000. */
	assert_true(pid_compute(&e, 2000, 20000, 2000, 1000, &r));
	assert_float_equal(r, 8000.0, 1e-9);
	assert_float_equal(pid_latest_rate(&e), 8000.0, 1e-9);

	/* Time not advancing, no records, no processing delay: nothing. */
	assert_false(pid_compute(&e, 2000, 5000, 100, 0, &r));
	assert_false(pid_compute(&e, 1500, 5000, 100, 0, &r));
	assert_false(pid_compute(&e, 3000, 0, 100, 0, &r));
	assert_false(pid_compute(&e, 3000, 5000, 0, 0, &r));
	assert_float_equal(r, 8000.0, 1e-9);

	/* t=3000: processed at exactly 8000/s with no backlog: error 0,
	 * historical 0, dError = (0 - 10000)/1 but D = 0: stays 8000. */
	assert_true(pid_compute(&e, 3000, 8000, 1000, 0, &r));
	assert_float_equal(r, 8000.0, 1e-9);

	/* t=4000: processingRate = 100 / 10000 * 1000 = 10; error = 7990;
	 * historical = 5000 * 10 / 1000 = 50; new = 8000 - 7990 - 10 = 0,
	 * floored at minRate = 100. */
	assert_true(pid_compute(&e, 4000, 100, 10000, 5000, &r));
	assert_float_equal(r, 100.0, 1e-9);
}

/* The derivative term, with time steps other than one second. */
static void test_pid_derivative(void **state)
{
	pid_params pp = params(1.0, 0.2, 0.5, 100);
	pid_estimator e;
	pid_init(&e, &pp);
	double r = 0;
	/* seed: processingRate = 5000 / 1000 * 1000 = 5000 */
	assert_false(pid_compute(&e, 1000, 5000, 1000, 0, &r));
	/* t=3000 (2 s later): processingRate = 6000 / 2000 * 1000 = 3000;
	 * error = 5000 - 3000 = 2000; historical = 500 * 3000 / 1000 = 1500;
	 * dError = (2000 - 0) / 2 = 1000;
	 * new = 5000 - 2000 - 0.2*1500 - 0.5*1000 = 2200. */
	assert_true(pid_compute(&e, 3000, 6000, 2000, 500, &r));
	assert_float_equal(r, 2200.0, 1e-9);
	/* t=4000: processingRate = 2200; error = 0; historical = 0;
	 * dError = (0 - 2000) / 1 = -2000; new = 2200 - 0 - 0 + 1000 = 3200. */
	assert_true(pid_compute(&e, 4000, 2200, 1000, 0, &r));
	assert_float_equal(r, 3200.0, 1e-9);
}

/* The state is plain data: a copy (as a checkpoint restores it) continues
 * exactly like the original. */
static void test_pid_state_restores(void **state)
{
	pid_params pp = params(1.0, 0.2, 0.0, 100);
	pid_estimator a, b;
	pid_init(&a, &pp);
	double ra = 0, rb = 0;
	assert_false(pid_compute(&a, 1000, 10000, 500, 0, &ra));
	assert_true(pid_compute(&a, 2000, 20000, 2000, 1000, &ra));
	pid_init(&b, &pp);
	b.s = a.s;
	assert_true(pid_compute(&a, 3000, 9000, 1500, 200, &ra));
	assert_true(pid_compute(&b, 3000, 9000, 1500, 200, &rb));
	assert_float_equal(ra, rb, 0);
	/* processingRate 6000; error 2000; historical 200*6000/1000 = 1200;
	 * new = 8000 - 2000 - 240 = 5760 */
	assert_float_equal(ra, 5760.0, 1e-9);
}

static void test_pid_params_checked(void **state)
{
	char err[256];
	sl_conf *c = conf_new(0);
	pid_params p;
	assert_int_equal(pid_params_from_conf(&p, c, 2000, err, sizeof(err)), SL_OK);
	assert_float_equal(p.proportional, 1.0, 0);
	assert_float_equal(p.integral, 0.2, 0);
	assert_float_equal(p.derivative, 0.0, 0);
	assert_float_equal(p.min_rate, 100.0, 0);
	assert_int_equal(p.batch_interval_ms, 2000);
	/* the configuration refuses a negative gain or minRate <= 0, naming it */
	assert_int_equal(conf_set(c, "spark.streaming.backpressure.pid.integral", "-0.1",
	                          err, sizeof(err)),
	                 SL_ECONFIG);
	assert_non_null(strstr(err, "spark.streaming.backpressure.pid.integral"));
	assert_int_equal(conf_set(c, "spark.streaming.backpressure.pid.minRate", "0", err,
	                          sizeof(err)),
	                 SL_ECONFIG);
	assert_non_null(strstr(err, "spark.streaming.backpressure.pid.minRate"));
	/* the target utilization is in (0, 1] */
	const char *bad_util[] = {"0", "1.5", "-0.5"};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(conf_set(c, "sluice.backpressure.targetUtilization",
		                          bad_util[i], err, sizeof(err)),
		                 SL_ECONFIG);
		assert_non_null(strstr(err, "sluice.backpressure.targetUtilization"));
	}
	/* and pid_params_from_conf guards a bad interval */
	assert_int_equal(pid_params_from_conf(&p, c, 0, err, sizeof(err)), SL_EINVAL);
	assert_non_null(strstr(err, "interval"));
	conf_free(c);
}

static void test_stream_rate(void **state)
{
	/* backpressure on: published rate, else initialRate, else none */
	assert_float_equal(ratectl_stream_rate(true, 500, 10000, 1.0, 0), 500, 0);
	/* the estimate is used at the target utilization; initialRate is not
	 * scaled (the user chose it) */
	assert_float_equal(ratectl_stream_rate(true, 500, 10000, 0.9, 0), 450, 1e-9);
	assert_float_equal(ratectl_stream_rate(true, -1, 10000, 0.9, 0), 10000, 0);
	assert_true(ratectl_stream_rate(true, -1, 0, 0.9, 0) < 0);
	/* growth bound: at most twice the largest rate a batch carried... */
	assert_float_equal(ratectl_stream_rate(true, 838000, 0, 1.0, 10000), 20000, 0);
	assert_float_equal(ratectl_stream_rate(true, 500, 0, 0.9, 200), 400, 0);
	assert_float_equal(ratectl_stream_rate(true, 500, 0, 0.9, 300), 450, 1e-9);
	/* ... which does not bound initialRate */
	assert_float_equal(ratectl_stream_rate(true, -1, 10000, 0.9, 10), 10000, 0);
	/* backpressure off: no stream-wide rate */
	assert_true(ratectl_stream_rate(false, 500, 10000, 0.9, 0) < 0);
}

static void clamp(ratectl_part *p, size_t n, double rate, int64_t max_pp, int64_t min_pp,
                  int64_t batch_ms)
{
	ratectl_clamp(p, n, rate, max_pp, min_pp, batch_ms);
}

static void test_clamp_by_lag(void **state)
{
	/* R = 1000/s over lags 3000, 1000, 0 (sum 4000), 1 s batch:
	 * rate_p = 750, 250, - */
	ratectl_part p[3] = {{100, 3100, 0}, {0, 1000, 0}, {50, 50, 0}};
	clamp(p, 3, 1000, 0, 1, 1000);
	assert_int_equal(p[0].until, 850);
	assert_int_equal(p[1].until, 250);
	assert_int_equal(p[2].until, 50);
	/* maxRatePerPartition 500 caps the first: 500, 250 */
	clamp(p, 3, 1000, 500, 1, 1000);
	assert_int_equal(p[0].until, 600);
	assert_int_equal(p[1].until, 250);
	/* minRatePerPartition 300 floors the second: 750, 300 */
	clamp(p, 3, 1000, 0, 300, 1000);
	assert_int_equal(p[0].until, 850);
	assert_int_equal(p[1].until, 300);
	/* a 2.5 s batch: 750 * 2.5 = 1875, 250 * 2.5 = 625 */
	clamp(p, 3, 1000, 0, 1, 2500);
	assert_int_equal(p[0].until, 1975);
	assert_int_equal(p[1].until, 625);
	/* a rate above the lag takes the lag, never past latest */
	clamp(p, 3, 1e9, 0, 1, 1000);
	assert_int_equal(p[0].until, 3100);
	assert_int_equal(p[1].until, 1000);
	assert_int_equal(p[2].until, 50);
}

static void test_clamp_fixed_and_edges(void **state)
{
	/* no stream rate: maxRatePerPartition 200 x 2 s = 400 each */
	ratectl_part p[3] = {{0, 1000, 0}, {0, 300, 0}, {10, 5, 0}};
	clamp(p, 3, -1, 200, 1, 2000);
	assert_int_equal(p[0].until, 400);
	assert_int_equal(p[1].until, 300);
	/* from past latest (offsets behind a reset): no range, never backwards */
	assert_int_equal(p[2].until, 10);
	/* no stream rate, no cap: everything up to latest */
	clamp(p, 3, -1, 0, 1, 2000);
	assert_int_equal(p[0].until, 1000);
	assert_int_equal(p[1].until, 300);
	/* rate 1/s over two partitions in 50 ms: 0.5/s each, floored at
	 * minRate 1/s = 0.05 records, at least one record so the lag moves */
	ratectl_part q[2] = {{0, 5, 0}, {7, 12, 0}};
	clamp(q, 2, 1, 0, 1, 50);
	assert_int_equal(q[0].until, 1);
	assert_int_equal(q[1].until, 8);
	/* all caught up: nothing anywhere */
	ratectl_part z[2] = {{5, 5, 0}, {9, 9, 0}};
	clamp(z, 2, 1000, 0, 1, 1000);
	assert_int_equal(z[0].until, 5);
	assert_int_equal(z[1].until, 9);
}

static void test_receiver_rate(void **state)
{
	assert_float_equal(ratectl_receiver_rate(1000, 0, 2), 500, 0);
	assert_float_equal(ratectl_receiver_rate(1000, 300, 2), 300, 0);
	assert_float_equal(ratectl_receiver_rate(1000, 900, 1), 900, 0);
	assert_float_equal(ratectl_receiver_rate(-1, 300, 2), 300, 0);
	assert_float_equal(ratectl_receiver_rate(-1, 0, 1), 0, 0); /* unlimited */
	assert_true(ratectl_receiver_rate(0, 0, 1) > 0);           /* never unlimited */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pid_sequence_defaults),
	    cmocka_unit_test(test_pid_derivative),
	    cmocka_unit_test(test_pid_state_restores),
	    cmocka_unit_test(test_pid_params_checked),
	    cmocka_unit_test(test_stream_rate),
	    cmocka_unit_test(test_clamp_by_lag),
	    cmocka_unit_test(test_clamp_fixed_and_edges),
	    cmocka_unit_test(test_receiver_rate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
