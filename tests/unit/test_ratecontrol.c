/*
 * The master's rate controller (master/ratecontrol.c): what it publishes
 * after hand-computed batches (SPEC §6), initialRate before the first
 * estimate, the receiver share capped by receiver.maxRate, the Kafka
 * stream counted apart from the socket stream, the checkpoint string
 * restoring an estimator exactly (and a malformed one refused), the
 * OK/LOW/HIGH levels, the per-receiver rows for `sluice monitor` and the
 * /metrics families. The fixture runs at targetUtilization 0.5 (exact in
 * binary): the rates used are half the estimates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "alloc.h"
#include "promtext.h"
#include "ratecontrol.h"
#include "sluice/err.h"

#include <stdio.h>
#include <string.h>

typedef struct {
	Sluice__Node nodes[2];
	Sluice__Node *pnodes[2];
	Sluice__JobGraph graph;
	receiver rcv[1];
	job j;
} fixture;

static void fixture_init(fixture *f, const char *max_rate)
{
	char err[256];
	memset(f, 0, sizeof(*f));
	for (int i = 0; i < 2; i++) {
		sluice__node__init(&f->nodes[i]);
		f->nodes[i].id = (uint32_t)i;
		f->pnodes[i] = &f->nodes[i];
	}
	f->nodes[0].kind = SLUICE__NODE_KIND__SRC_SOCKET;
	f->nodes[1].kind = SLUICE__NODE_KIND__SRC_KAFKA;
	sluice__job_graph__init(&f->graph);
	f->graph.n_nodes = 2;
	f->graph.nodes = f->pnodes;
	f->j.graph = &f->graph;
	f->j.name = "t";
	f->j.interval_ms = 1000;
	f->j.rt.rcv = f->rcv; /* one receiver of node 0, not started: nothing sent */
	f->j.rt.nrcv = 1;
	f->j.conf = conf_new(CONF_APP_KEYS);
	const char *kv[][2] = {{"spark.streaming.backpressure.enabled", "true"},
	                       {"spark.streaming.backpressure.initialRate", "300"},
	                       {"spark.streaming.receiver.maxRate", max_rate},
	                       {"sluice.backpressure.targetUtilization", "0.5"}};
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(
		    conf_set(f->j.conf, kv[i][0], kv[i][1], err, sizeof(err)), SL_OK);
	assert_int_equal(ratecontrol_init(&f->j, err, sizeof(err)), SL_OK);
}

static void fixture_fini(fixture *f)
{
	ratecontrol_free(&f->j);
	conf_free(f->j.conf);
}

/* A DONE batch at time t: sched and proc delays, records of node 0 in one
 * block and of node 1 in one Kafka range. */
static void feed(job *j, int64_t t, int64_t sched, int64_t proc, uint64_t rec0,
                 int64_t rec1)
{
	rblock blk = {.node = 0, .records = rec0};
	rblock *blocks[1] = {&blk};
	krange kr = {.node = 1, .from = 0, .until = rec1};
	batch b = {.job = j, .time_ms = t, .state = BATCH_DONE};
	b.blocks = blocks;
	b.nblocks = 1;
	b.kr = &kr;
	b.nkr = 1;
	b.start_wall = t + sched;
	b.end_wall = t + sched + proc;
	ratecontrol_batch_done(j, &b);
}

static void test_hand_computed(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f, "0");
	/* before any estimate: initialRate for both streams */
	assert_true(ratecontrol_stream_rate(&f.j, 0) == 300);
	assert_true(ratecontrol_receiver_rate(&f.j, 0) == 300);
	assert_true(ratecontrol_stream_rate(&f.j, 1) == 300);
	/* first batch seeds: latestRate = 500/1000 s, nothing published */
	feed(&f.j, 1000, 100, 1000, 500, 2000);
	assert_true(ratecontrol_stream_rate(&f.j, 0) == 300);
	/* second: procRate 500/1.25 s = 400, error 100, hist 200*400/1000 = 80,
	 * new = 500 - 100 - 0.2*80 = 384. Kafka: seeded at 2000/s, procRate
	 * 1000/1.25 = 800, error 1200, hist 160: 2000 - 1200 - 32 = 768. */
	feed(&f.j, 2000, 200, 1250, 500, 1000);
	/* used at targetUtilization 0.5: 192 and 384 */
	assert_float_equal(ratecontrol_stream_rate(&f.j, 0), 192.0, 1e-9);
	assert_float_equal(ratecontrol_receiver_rate(&f.j, 0), 192.0, 1e-9);
	assert_float_equal(ratecontrol_stream_rate(&f.j, 1), 384.0, 1e-9);
	double rate, share;
	ratecontrol_status(&f.j, &rate, &share);
	assert_float_equal(rate, 192.0 + 384.0, 1e-9);
	assert_float_equal(share, 0, 0);
	Sluice__BatchStatsReply st = SLUICE__BATCH_STATS_REPLY__INIT;
	ratecontrol_receivers(&f.j, &st);
	assert_float_equal(st.rate_estimate, 384.0 + 768.0, 1e-9);
	ratecontrol_receivers_free(&st);
	/* a failed batch is not fed */
	batch failed = {.job = &f.j, .time_ms = 3000, .state = BATCH_FAILED};
	failed.start_wall = 3100;
	failed.end_wall = 3200;
	ratecontrol_batch_done(&f.j, &failed);
	assert_float_equal(ratecontrol_stream_rate(&f.j, 0), 192.0, 1e-9);
	fixture_fini(&f);
}

static void test_receiver_cap(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f, "200");
	assert_true(ratecontrol_stream_rate(&f.j, 0) == 300);
	assert_true(ratecontrol_receiver_rate(&f.j, 0) == 200); /* min(300, 200) */
	fixture_fini(&f);
}

static void test_checkpoint_roundtrip(void **state)
{
	(void)state;
	fixture a, b;
	fixture_init(&a, "0");
	fixture_init(&b, "0");
	feed(&a.j, 1000, 100, 1000, 500, 2000);
	feed(&a.j, 2000, 200, 1250, 500, 1000);
	char *s = ratecontrol_snapshot(&a.j);
	ratecontrol_restore(&b.j, s);
	sl_free(s);
	assert_float_equal(ratecontrol_stream_rate(&b.j, 0), 192.0, 1e-9);
	assert_float_equal(ratecontrol_stream_rate(&b.j, 1), 384.0, 1e-9);
	/* both continue identically: the restored state is exact */
	feed(&a.j, 3000, 50, 900, 384, 768);
	feed(&b.j, 3000, 50, 900, 384, 768);
	assert_true(ratecontrol_stream_rate(&a.j, 0) == ratecontrol_stream_rate(&b.j, 0));
	assert_true(ratecontrol_stream_rate(&a.j, 1) == ratecontrol_stream_rate(&b.j, 1));
	assert_true(ratecontrol_stream_rate(&a.j, 0) != 192.0);
	fixture_fini(&a);
	fixture_fini(&b);
}

static void test_restore_malformed(void **state)
{
	(void)state;
	const char *bad[] = {"0 1 nonsense\n", "0 2 5 1 1 1\n", "0 0 5 nan 1 1\n",
	                     "0 0 5 1 1 1 trailing\n",
	                     "1 0 5 1 1 250\n0 0 broken\n"}; /* nothing applied */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		fixture f;
		fixture_init(&f, "0");
		ratecontrol_restore(&f.j, bad[i]);
		assert_true(ratecontrol_stream_rate(&f.j, 0) == 300); /* fresh */
		assert_true(ratecontrol_stream_rate(&f.j, 1) == 300);
		fixture_fini(&f);
	}
	fixture f;
	fixture_init(&f, "0");
	ratecontrol_restore(&f.j, ""); /* a job checkpointed before: fresh */
	ratecontrol_restore(&f.j, "7 0 5 1 1 250\n"); /* a node it lacks: ignored */
	assert_true(ratecontrol_stream_rate(&f.j, 0) == 300);
	fixture_fini(&f);
}

static void test_levels_and_reports(void **state)
{
	(void)state;
	assert_string_equal(ratecontrol_level(0), "OK");
	assert_string_equal(ratecontrol_level(0.10), "OK");
	assert_string_equal(ratecontrol_level(0.11), "LOW");
	assert_string_equal(ratecontrol_level(0.5), "LOW");
	assert_string_equal(ratecontrol_level(0.51), "HIGH");
	fixture f;
	fixture_init(&f, "0");
	ratecontrol_note_receiver(&f.j, 0, 0.42, 300);
	ratecontrol_note_receiver(&f.j, 5, 0.99, 300); /* no such receiver */
	double rate, share;
	ratecontrol_status(&f.j, &rate, &share);
	assert_float_equal(share, 0.42, 1e-12);
	ratecontrol_note_receiver(&f.j, 0, 7.0, 300); /* clamped */
	ratecontrol_status(&f.j, &rate, &share);
	assert_float_equal(share, 1.0, 0);
	fixture_fini(&f);
}

/* The growth bound: a tiny, fast batch yields a huge estimate, but the rate
 * used is at most twice the largest batch rate seen; it is checkpointed,
 * and a checkpoint line without it (an older master) restores unbounded. */
static void test_growth_bound(void **state)
{
	(void)state;
	fixture a, b;
	fixture_init(&a, "0");
	fixture_init(&b, "0");
	/* 100 records in 10 ms: 10,000/s measured, twice; estimate 10,000 */
	feed(&a.j, 1000, 0, 10, 100, 100);
	feed(&a.j, 2000, 0, 10, 100, 100);
	assert_float_equal(ratecontrol_stream_rate(&a.j, 0), 200.0, 0); /* not 5000 */
	char *s = ratecontrol_snapshot(&a.j);
	ratecontrol_restore(&b.j, s);
	sl_free(s);
	assert_float_equal(ratecontrol_stream_rate(&b.j, 0), 200.0, 0);
	/* a batch of 200 records raises the bound to 400/s */
	feed(&a.j, 3000, 0, 20, 200, 100);
	assert_float_equal(ratecontrol_stream_rate(&a.j, 0), 400.0, 0);
	ratecontrol_restore(&b.j, "0 0 5 1000 0 1000\n");
	assert_float_equal(ratecontrol_stream_rate(&b.j, 0), 500.0, 0);
	ratecontrol_restore(&b.j, "0 0 5 1000 0 1000 x\n"); /* malformed: kept */
	assert_float_equal(ratecontrol_stream_rate(&b.j, 0), 500.0, 0);
	fixture_fini(&a);
	fixture_fini(&b);
}

/* The per-receiver rows of `sluice monitor` and the master's /metrics. */
static void test_receiver_rows_and_metrics(void **state)
{
	(void)state;
	fixture f;
	fixture_init(&f, "0");
	Sluice__BatchStatsReply st = SLUICE__BATCH_STATS_REPLY__INIT;
	ratecontrol_receivers(&f.j, &st); /* not started: no row, no estimate */
	assert_int_equal(st.n_receivers, 0);
	assert_true(st.rate_estimate < 0);
	ratecontrol_receivers_free(&st);
	f.rcv[0].state = RCV_ACTIVE;
	snprintf(f.rcv[0].worker, sizeof(f.rcv[0].worker), "worker-7");
	ratecontrol_note_receiver(&f.j, 0, 0.75, 150);
	ratecontrol_receivers(&f.j, &st);
	assert_int_equal(st.n_receivers, 1);
	assert_string_equal(st.receivers[0]->worker_id, "worker-7");
	assert_float_equal(st.receivers[0]->rate, 150, 0);
	assert_float_equal(st.receivers[0]->blocked_share, 0.75, 0);
	assert_string_equal(st.receivers[0]->blocked_level, "HIGH");
	ratecontrol_receivers_free(&st);
	job *jobs[] = {&f.j};
	promtext p = {0};
	ratecontrol_metrics(jobs, 1, &p);
	size_t len;
	char *text = promtext_take(&p, &len);
	/* before an estimate each stream runs at initialRate (300), unscaled */
	assert_non_null(
	    strstr(text, "sluice_job_rate_limit_records_per_second{job=\"t\"} 600"));
	assert_null(strstr(text, "sluice_job_rate_estimate_records_per_second{"));
	assert_non_null(strstr(text, "sluice_job_blocked_ratio{job=\"t\"} 0.75"));
	assert_non_null(
	    strstr(text, "sluice_job_backpressure_level{job=\"t\",level=\"HIGH\"} 1"));
	assert_non_null(
	    strstr(text, "sluice_job_backpressure_level{job=\"t\",level=\"OK\"} 0"));
	sl_free(text);
	fixture_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hand_computed),
	    cmocka_unit_test(test_receiver_cap),
	    cmocka_unit_test(test_checkpoint_roundtrip),
	    cmocka_unit_test(test_restore_malformed),
	    cmocka_unit_test(test_levels_and_reports),
	    cmocka_unit_test(test_growth_bound),
	    cmocka_unit_test(test_receiver_rows_and_metrics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
