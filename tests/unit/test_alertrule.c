/*
 * Unit tests for alert incidents (master/alertrule.c): one alert when a
 * condition starts, one "resolved" when it ends, nothing in between, and
 * lag hysteresis.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "alertrule.h"

static alert_rule rule(const char *states, int64_t total, int64_t part)
{
	alert_rule r = {.lag_total = total, .lag_partition = part};
	char err[128];
	assert_int_equal(alertrule_parse_states(states, &r.states, err, sizeof(err)), 0);
	return r;
}

static void test_parse_states(void **state)
{
	uint32_t m;
	char err[200];
	assert_int_equal(alertrule_parse_states("failed, STOPPED", &m, err, sizeof(err)),
	                 0);
	assert_int_equal(m, (1u << 4) | (1u << 3));
	assert_int_equal(alertrule_parse_states("", &m, err, sizeof(err)), 0);
	assert_int_equal(m, 0);
	assert_int_equal(alertrule_parse_states("FAILED,EXPLODED", &m, err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "EXPLODED"));
}

static void test_state_fires_once_and_resolves(void **state)
{
	alert_rule r = rule("FAILED", 0, 0);
	alert_incidents inc;
	alertrule_incidents_init(&inc);
	alert_event ev[2];
	assert_int_equal(alertrule_on_state(&r, &inc, "wc", "RUNNING", ev), 0);
	assert_int_equal(alertrule_on_state(&r, &inc, "wc", "FAILED", ev), 1);
	assert_false(ev[0].resolved);
	assert_int_equal(ev[0].cond, ALERT_STATE);
	assert_string_equal(ev[0].summary, "FIRING: job wc is FAILED");
	/* still FAILED at every later evaluation: no storm */
	for (int i = 0; i < 5; i++)
		assert_int_equal(alertrule_on_state(&r, &inc, "wc", "FAILED", ev), 0);
	assert_int_equal(alertrule_on_state(&r, &inc, "wc", "RUNNING", ev), 1);
	assert_true(ev[0].resolved);
	assert_non_null(strstr(ev[0].summary, "no longer FAILED (now RUNNING)"));
	assert_int_equal(alertrule_on_state(&r, &inc, "wc", "RUNNING", ev), 0);
	/* a second failure is a new incident */
	assert_int_equal(alertrule_on_state(&r, &inc, "wc", "FAILED", ev), 1);
	assert_false(ev[0].resolved);
}

static void test_state_change_between_triggers(void **state)
{
	alert_rule r = rule("FAILED,STOPPED", 0, 0);
	alert_incidents inc;
	alertrule_incidents_init(&inc);
	alert_event ev[2];
	assert_int_equal(alertrule_on_state(&r, &inc, "j", "STOPPED", ev), 1);
	/* STOPPED -> FAILED: the old incident resolves, the new one fires */
	assert_int_equal(alertrule_on_state(&r, &inc, "j", "FAILED", ev), 2);
	assert_true(ev[0].resolved);
	assert_false(ev[1].resolved);
	assert_string_equal(ev[1].summary, "FIRING: job j is FAILED");
	/* unknown or non-trigger state with nothing open: nothing */
	alertrule_incidents_init(&inc);
	assert_int_equal(alertrule_on_state(&r, &inc, "j", "PAUSED", ev), 0);
}

static void test_lag_hysteresis(void **state)
{
	alert_rule r = rule("", 1000, 0);
	alert_incidents inc;
	alertrule_incidents_init(&inc);
	alert_event ev[2];
	assert_int_equal(alertrule_on_lag(&r, &inc, "k", 1000, 500, "t-0", ev), 0);
	assert_int_equal(alertrule_on_lag(&r, &inc, "k", 1001, 500, "t-0", ev), 1);
	assert_int_equal(ev[0].cond, ALERT_LAG_TOTAL);
	assert_false(ev[0].resolved);
	assert_string_equal(ev[0].summary, "FIRING: job k Kafka lag total 1001 > 1000");
	/* hovering between 90% and the threshold: no flapping */
	assert_int_equal(alertrule_on_lag(&r, &inc, "k", 950, 500, "t-0", ev), 0);
	assert_int_equal(alertrule_on_lag(&r, &inc, "k", 1200, 500, "t-0", ev), 0);
	assert_int_equal(alertrule_on_lag(&r, &inc, "k", 900, 500, "t-0", ev), 1);
	assert_true(ev[0].resolved);
	assert_int_equal(alertrule_on_lag(&r, &inc, "k", 0, 0, "t-0", ev), 0);
}

static void test_lag_partition(void **state)
{
	alert_rule r = rule("", 10000, 100);
	alert_incidents inc;
	alertrule_incidents_init(&inc);
	alert_event ev[2];
	assert_int_equal(alertrule_on_lag(&r, &inc, "k", 20000, 150, "orders-3", ev), 2);
	assert_int_equal(ev[0].cond, ALERT_LAG_TOTAL);
	assert_int_equal(ev[1].cond, ALERT_LAG_PARTITION);
	assert_non_null(strstr(ev[1].summary, "orders-3 150 > 100"));
	assert_int_equal(alertrule_on_lag(&r, &inc, "k", 5000, 150, "orders-3", ev), 1);
	assert_int_equal(ev[0].cond, ALERT_LAG_TOTAL);
	assert_true(ev[0].resolved);
	assert_int_equal(alertrule_on_lag(&r, &inc, "k", 5000, 10, "orders-3", ev), 1);
	assert_int_equal(ev[0].cond, ALERT_LAG_PARTITION);
	assert_true(ev[0].resolved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_states),
	    cmocka_unit_test(test_state_fires_once_and_resolves),
	    cmocka_unit_test(test_state_change_between_triggers),
	    cmocka_unit_test(test_lag_hysteresis),
	    cmocka_unit_test(test_lag_partition),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
