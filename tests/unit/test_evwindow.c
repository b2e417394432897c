/*
 * Unit tests for event-time windows on the worker (worker/evwindow.c over
 * worker/statestore.c).
 *
 * A reference written here replays the same batches: it finds a record's
 * windows by testing every window start in a range for start <= t <
 * start + length (not the operator's floor arithmetic), keeps per (window,
 * key) counts of the records accepted (window end > the batch's watermark),
 * marks a record late when one of its windows had ended, and emits each
 * window once at the first batch whose watermark reaches its end. The
 * watermark of batch b is (largest event time of batches before b) -
 * lateness, as the master computes it. Random out-of-order event times,
 * some beyond the lateness, some negative; windows 1000/1000 (tumbling),
 * 3000/1000 and 2500/500. Also: a failing emitter leaves the state as it
 * was (the batch re-runs identically); a checkpoint taken between batches
 * reloads and continues with identical output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "unit_util.h"
#include "api.h"
#include "evwindow.h"
#include "record.h"
#include "sluice/err.h"
#include "statestore.h"

#define ERRLEN 512
#define NB     16  /* batches */
#define PER    40  /* records per batch */
#define NK     3   /* keys */
#define MAXW   128 /* distinct windows per run */

/* Output lines "key@end-1=count", sorted per batch. */
typedef struct {
	sl_emitter base;
	char lines[512][48];
	size_t n;
	int fail;
} sink;

static int sink_emit(sl_emitter *self, const sl_record *r)
{
	sink *s = (sink *)self;
	if (s->fail)
		return SL_EIO;
	assert_true(s->n < 512);
	snprintf(s->lines[s->n++], 48, "%.*s@%lld=%lld", (int)r->key_len,
	         (const char *)r->key, (long long)r->event_time_ms,
	         (long long)sl_i64_decode(r->value, r->value_len));
	return 0;
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int64_t ev[NB][PER];
static int key_of[NB][PER];

static void make_input(unsigned seed)
{
	int64_t clock = -3000; /* event times start negative */
	for (int b = 0; b < NB; b++)
		for (int i = 0; i < PER; i++) {
			clock += rand_r(&seed) % 60;
			/* mostly a little out of order, sometimes far behind */
			int64_t back = rand_r(&seed) % 10 == 0
			                   ? 1500 + rand_r(&seed) % 3000
			                   : rand_r(&seed) % 400;
			ev[b][i] = clock - back;
			key_of[b][i] = rand_r(&seed) % NK;
		}
}

/* ---- the reference ---- */

typedef struct {
	int64_t start;
	int64_t count[NK];
	bool emitted;
} ref_win;

typedef struct {
	ref_win w[MAXW];
	size_t n;
} ref_state;

static ref_win *ref_find(ref_state *rs, int64_t start)
{
	for (size_t i = 0; i < rs->n; i++)
		if (rs->w[i].start == start)
			return &rs->w[i];
	assert_true(rs->n < MAXW);
	rs->w[rs->n] = (ref_win){.start = start};
	return &rs->w[rs->n++];
}

static size_t ref_batch(ref_state *rs, int b, int64_t len, int64_t slide, int64_t wm,
                        uint64_t *late, char lines[][48])
{
	for (int i = 0; i < PER; i++) {
		int64_t t = ev[b][i];
		bool missed = false;
		/* every window start in range whose window contains t */
		for (int64_t start = -100000; start <= t; start += slide) {
			if (!(start <= t && t < start + len))
				continue;
			if (wm != EVWIN_NO_WATERMARK && start + len <= wm) {
				missed = true;
				continue;
			}
			ref_win *w = ref_find(rs, start);
			assert_false(w->emitted);
			w->count[key_of[b][i]]++;
		}
		*late += missed;
	}
	size_t n = 0;
	for (size_t i = 0; i < rs->n && wm != EVWIN_NO_WATERMARK; i++) {
		ref_win *w = &rs->w[i];
		if (w->emitted || w->start + len > wm)
			continue;
		w->emitted = true;
		for (int k = 0; k < NK; k++)
			if (w->count[k] > 0)
				snprintf(lines[n++], 48, "k%d@%lld=%lld", k,
				         (long long)(w->start + len - 1),
				         (long long)w->count[k]);
	}
	qsort(lines, n, 48, cmp_line);
	return n;
}

/* ---- running the operator ---- */

static void batch_recs(int b, recs *r)
{
	char key[8];
	rbuf_init(&r->buf);
	r->base.next = recs_next;
	for (int i = 0; i < PER; i++) {
		snprintf(key, sizeof(key), "k%d", key_of[b][i]);
		rbuf_append(&r->buf, key, 2, "x", 1, ev[b][i]);
	}
	rbuf_iter_init(&r->it, r->buf.data, r->buf.len);
}

static int run_batch(state_part *sp, const evwin_spec *spec, int b, int64_t wm, sink *out,
                     evwin_stats *st)
{
	recs r;
	char err[ERRLEN];
	batch_recs(b, &r);
	memset(st, 0, sizeof(*st));
	out->n = 0;
	int rv = state_part_begin(sp, 1000 * (b + 1), err, sizeof(err));
	assert_int_equal(rv, SL_OK);
	rv = evwin_run(sp, spec, &r.base, wm, &out->base, st, err, sizeof(err));
	if (rv == SL_OK)
		state_part_commit(sp);
	else
		state_part_abort(sp);
	rbuf_free(&r.buf);
	qsort(out->lines, out->n, 48, cmp_line);
	return rv;
}

static void check_against_reference(int64_t len, int64_t slide, int64_t lateness)
{
	evwin_spec spec = {.length_ms = len, .slide_ms = slide};
	state_part *sp = state_part_new(0);
	static ref_state rs;
	static char want[512][48];
	static sink out;
	memset(&rs, 0, sizeof(rs));
	out.base.emit = sink_emit;
	int64_t max_seen = INT64_MIN;
	uint64_t late_ref = 0, late_got = 0, emitted = 0;
	for (int b = 0; b < NB; b++) {
		int64_t wm = evwin_watermark(max_seen, lateness);
		evwin_stats st;
		/* the first try fails in the emitter: nothing of it may remain */
		out.fail = b % 3 == 2;
		if (out.fail) {
			/* fails if the batch emits anything; else it commits, and the
			 * run below is a re-run of the committed batch */
			int rv = run_batch(sp, &spec, b, wm, &out, &st);
			assert_true(rv == SL_EIO || rv == SL_OK);
		}
		out.fail = 0;
		assert_int_equal(run_batch(sp, &spec, b, wm, &out, &st), SL_OK);
		size_t nw = ref_batch(&rs, b, len, slide, wm, &late_ref, want);
		late_got += st.late;
		emitted += st.emitted;
		assert_int_equal(out.n, nw);
		for (size_t i = 0; i < nw; i++)
			assert_string_equal(out.lines[i], want[i]);
		if (st.max_event_time > max_seen)
			max_seen = st.max_event_time;
	}
	assert_int_equal(late_got, late_ref);
	assert_true(emitted > 0);
	assert_true(late_ref > 0); /* the input does have records beyond the lateness */
	state_part_free(sp);
}

static void test_against_reference(void **state)
{
	(void)state;
	make_input(7);
	check_against_reference(1000, 1000, 500);
	check_against_reference(3000, 1000, 800);
	check_against_reference(2500, 500, 0);
}

static void test_checkpoint_continues(void **state)
{
	(void)state;
	char path[128], err[ERRLEN];
	snprintf(path, sizeof(path), "/tmp/sluice-test-evwindow-%d.ckpt", (int)getpid());
	make_input(9);
	evwin_spec spec = {.length_ms = 2000, .slide_ms = 1000};
	state_part *a = state_part_new(0), *b = NULL;
	static sink oa, ob;
	oa.base.emit = ob.base.emit = sink_emit;
	int64_t max_seen = INT64_MIN;
	evwin_stats st;
	for (int i = 0; i < NB; i++) {
		int64_t wm = evwin_watermark(max_seen, 300);
		assert_int_equal(run_batch(a, &spec, i, wm, &oa, &st), SL_OK);
		if (b != NULL) {
			assert_int_equal(run_batch(b, &spec, i, wm, &ob, &st), SL_OK);
			assert_int_equal(oa.n, ob.n);
			for (size_t j = 0; j < oa.n; j++)
				assert_string_equal(oa.lines[j], ob.lines[j]);
		}
		if (i == NB / 2) {
			assert_int_equal(state_part_checkpoint(a, path, err, sizeof(err)),
			                 SL_OK);
			assert_int_equal(state_part_load(path, &b, err, sizeof(err)),
			                 SL_OK);
			assert_int_equal(state_part_keys(b), state_part_keys(a));
		}
		if (st.max_event_time > max_seen)
			max_seen = st.max_event_time;
	}
	assert_int_equal(state_part_keys(a), state_part_keys(b));
	state_part_free(a);
	state_part_free(b);
	unlink(path);
}

static void test_watermark_and_sum(void **state)
{
	(void)state;
	assert_int_equal(evwin_watermark(INT64_MIN, 100), EVWIN_NO_WATERMARK);
	assert_int_equal(evwin_watermark(5000, 100), 4900);
	/* a reduce function instead of the count: i64 sums per window */
	evwin_spec spec = {.length_ms = 1000,
	                   .slide_ms = 1000,
	                   .reduce = (sl_reduce_fn)builtin_find("sl_sum_i64", NULL)};
	state_part *sp = state_part_new(0);
	recs r = {.base.next = recs_next};
	uint8_t v[8];
	char err[ERRLEN];
	rbuf_init(&r.buf);
	for (int i = 0; i < 5; i++) {
		sl_i64_encode(i, v);
		rbuf_append(&r.buf, "a", 1, v, 8,
		            -1 + 400 * i); /* -1, 399, 799, 1199, 1599 */
	}
	rbuf_iter_init(&r.it, r.buf.data, r.buf.len);
	static sink out;
	out.base.emit = sink_emit;
	evwin_stats st = {0};
	assert_int_equal(state_part_begin(sp, 1000, err, sizeof(err)), SL_OK);
	assert_int_equal(
	    evwin_run(sp, &spec, &r.base, 1000, &out.base, &st, err, sizeof(err)), SL_OK);
	state_part_commit(sp);
	/* watermark 1000: [-1000,0) and [0,1000) have ended: the records at -1,
	 * 399, 799 are late; [1000, 2000) holds 3 + 4 and is not emitted yet */
	assert_int_equal(st.late, 3);
	assert_int_equal(st.max_event_time, 1599);
	assert_int_equal(out.n, 0);
	rbuf_reset(&r.buf);
	rbuf_iter_init(&r.it, r.buf.data, r.buf.len);
	assert_int_equal(state_part_begin(sp, 2000, err, sizeof(err)), SL_OK);
	assert_int_equal(
	    evwin_run(sp, &spec, &r.base, 2000, &out.base, &st, err, sizeof(err)), SL_OK);
	state_part_commit(sp);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.lines[0], "a@1999=7");
	assert_int_equal(state_part_keys(sp), 0);
	rbuf_free(&r.buf);
	state_part_free(sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_against_reference, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoint_continues, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_watermark_and_sum, unit_setup,
	                                    unit_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
