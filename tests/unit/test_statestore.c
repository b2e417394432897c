/*
 * Unit tests for the worker's state store (worker/statestore.c), against
 * Spark's semantics of updateStateByKey and mapWithState:
 *
 * - update_state_by_key: running totals over batches equal cumulative
 *   counts; the function sees every key held each batch (with no values for
 *   keys absent from it); leaving the new state unset removes the key; every
 *   kept key is emitted each batch;
 * - map_with_state: called once per record; a key idle for the timeout is
 *   called exactly once with the timing-out flag, on the first batch at or
 *   after touched + timeout, and removed; a key with data never times out;
 *   only the batch's keys and the timed-out ones are touched (stats), with
 *   thousands of keys held;
 * - a failing function leaves the state exactly as before the batch; a
 *   re-run of the committed batch gives the same state (no double counting);
 *   an older batch is refused;
 * - checkpoints: a round trip keeps keys, states and idle times (timeouts
 *   fire on the same batch after a reload), replay after a reload equals
 *   the uninterrupted run; damaged files (bad magic, a flipped byte, a
 *   truncated file, a missing file) are refused with a clear error;
 * - the initial state keeps only the partition's keys; the registry.
 * Every test leaves no allocation behind.
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
#include "config.h"
#include "kvmap.h"
#include "record.h"
#include "sluice/err.h"
#include "statestore.h"

#define ERRLEN 512

/* ---- a batch of records and a collecting emitter ---- */

typedef struct {
	sl_iter base;
	rbuf buf;
	rbuf_iter it;
} batch;

static int batch_next(sl_iter *it, sl_record *r)
{
	return rbuf_iter_next(&((batch *)it)->it, r);
}

/* "a b a c": one record per word, value i64 1 (or the word itself when
 * text is set). */
static void batch_make(batch *b, const char *words, bool text)
{
	uint8_t one[8];
	sl_i64_encode(1, one);
	rbuf_init(&b->buf);
	b->base.next = batch_next;
	for (const char *p = words; *p;) {
		while (*p == ' ')
			p++;
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		if (p > w)
			rbuf_append(&b->buf, w, (uint32_t)(p - w),
			            text ? (const void *)w : one,
			            text ? (uint32_t)(p - w) : 8, 0);
	}
	rbuf_iter_init(&b->it, b->buf.data, b->buf.len);
}

typedef struct {
	sl_emitter base;
	char text[65536];
	size_t n;
	int fail_at; /* emit number that fails (0 = never) */
} collect;

static int collect_emit(sl_emitter *self, const sl_record *r)
{
	collect *c = (collect *)self;
	if (++c->n == (size_t)c->fail_at)
		return SL_EIO;
	size_t l = strlen(c->text);
	if (r->value_len == 8)
		snprintf(c->text + l, sizeof(c->text) - l, "%.*s=%lld;", (int)r->key_len,
		         (const char *)r->key, (long long)sl_i64_decode(r->value, 8));
	else
		snprintf(c->text + l, sizeof(c->text) - l, "%.*s=%.*s;", (int)r->key_len,
		         (const char *)r->key, (int)r->value_len, (const char *)r->value);
	return 0;
}

static void collect_init(collect *c)
{
	memset(c, 0, sizeof(*c));
	c->base.emit = collect_emit;
}

static int64_t state_i64(state_part *sp, const char *key)
{
	uint32_t len = 0;
	const uint8_t *v = state_part_get(sp, key, (uint32_t)strlen(key), &len);
	return v == NULL ? -1 : sl_i64_decode(v, len);
}

/* ---- user functions ---- */

static int calls_for_absent; /* update calls with no values this batch */

/* Running total; a key whose name starts with 'x' is removed once its
 * total reaches 2; a key "boom" fails. */
static int sum_update(const uint8_t *key, uint32_t klen, sl_iter *values,
                      const uint8_t *state, uint32_t slen, sl_value *out)
{
	int64_t total = state ? sl_i64_decode(state, slen) : 0;
	sl_record r;
	int n = 0;
	while (sl_iter_next(values, &r) == 1) {
		total += sl_i64_decode(r.value, r.value_len);
		n++;
	}
	if (klen == 4 && memcmp(key, "boom", 4) == 0)
		return -5;
	calls_for_absent += n == 0;
	if (klen > 0 && key[0] == 'x' && total >= 2)
		return 0; /* new state left unset: removed */
	uint8_t v[8];
	sl_i64_encode(total, v);
	sl_value_set(out, v, 8);
	return 0;
}

static int run_update(state_part *sp, int64_t t, const char *words, collect *out)
{
	batch b;
	char err[ERRLEN];
	state_stats st = {0};
	batch_make(&b, words, false);
	int rv = state_part_begin(sp, t, err, sizeof(err));
	if (rv == SL_OK) {
		rv = state_part_update_by_key(sp, &b.base, sum_update, &out->base, &st,
		                              err, sizeof(err));
		if (rv == SL_OK)
			state_part_commit(sp);
		else
			state_part_abort(sp);
	}
	rbuf_free(&b.buf);
	return rv;
}

static void test_update_state_totals(void **state)
{
	(void)state;
	state_part *sp = state_part_new(0);
	collect out;
	int64_t want_a = 0, want_b = 0;
	for (int i = 1; i <= 30; i++) {
		collect_init(&out);
		const char *words = i % 3 == 0 ? "a a b" : (i % 3 == 1 ? "a" : "");
		want_a += i % 3 == 0 ? 2 : (i % 3 == 1);
		want_b += i % 3 == 0;
		calls_for_absent = 0;
		assert_int_equal(run_update(sp, i * 1000, words, &out), SL_OK);
		assert_int_equal(state_i64(sp, "a"), want_a);
		assert_int_equal(state_i64(sp, "b"), want_b ? want_b : -1);
		/* every key held is emitted, and called even without values */
		assert_int_equal(out.n, state_part_keys(sp));
		if (i % 3 == 2)
			assert_int_equal(calls_for_absent, (int)state_part_keys(sp));
	}
	assert_int_equal(state_part_version(sp), 30000);

	/* NULL (unset) new state removes the key */
	collect_init(&out);
	assert_int_equal(run_update(sp, 31000, "xk", &out), SL_OK);
	assert_int_equal(state_i64(sp, "xk"), 1);
	assert_int_equal(run_update(sp, 32000, "xk", &out), SL_OK);
	assert_int_equal(state_i64(sp, "xk"), -1);
	assert_int_equal(state_part_keys(sp), 2);
	state_part_free(sp);
}

static void test_failure_and_rerun(void **state)
{
	(void)state;
	state_part *sp = state_part_new(0);
	collect out;
	char err[ERRLEN];
	collect_init(&out);
	assert_int_equal(run_update(sp, 1000, "a b c", &out), SL_OK);
	/* a failing function midway: nothing of the batch stays */
	collect_init(&out);
	assert_int_equal(run_update(sp, 2000, "a new boom b", &out), -5);
	assert_int_equal(state_i64(sp, "a"), 1);
	assert_int_equal(state_i64(sp, "b"), 1);
	assert_int_equal(state_i64(sp, "new"), -1);
	assert_int_equal(state_part_keys(sp), 3);
	assert_int_equal(state_part_version(sp), 1000);
	/* a failing emitter too */
	collect_init(&out);
	out.fail_at = 2;
	assert_int_equal(run_update(sp, 2000, "a d", &out), SL_EIO);
	assert_int_equal(state_i64(sp, "a"), 1);
	assert_int_equal(state_i64(sp, "d"), -1);
	/* the retry succeeds; running the committed batch again is idempotent */
	for (int i = 0; i < 3; i++) {
		collect_init(&out);
		assert_int_equal(run_update(sp, 2000, "a a d", &out), SL_OK);
		assert_int_equal(state_i64(sp, "a"), 3);
		assert_int_equal(state_i64(sp, "d"), 1);
		assert_int_equal(state_part_keys(sp), 4);
		/* every key held is called and emitted again, also those the
		 * undone run had visited without values (b, c) */
		assert_int_equal(out.n, 4);
	}
	/* once the next batch began, the older one is refused */
	assert_int_equal(run_update(sp, 3000, "c", &out), SL_OK);
	assert_int_equal(state_part_begin(sp, 2000, err, sizeof(err)), SL_ESTATE);
	assert_contains(err, "state is at batch 3000: batch 2000 is older");
	state_part_free(sp);
}

/* map_with_state: counts per key in the state; emits "key=count" per
 * record and "key=timeout" when timing out; "rm" removes its key. */
static int count_map(const uint8_t *key, uint32_t klen, const sl_record *in, sl_state *st,
                     sl_emitter *out)
{
	uint32_t len = 0;
	const uint8_t *cur = sl_state_get(st, &len);
	if (in == NULL) {
		assert_true(sl_state_is_timing_out(st));
		assert_true(sl_state_exists(st));
		return sl_emit(out, key, klen, "timeout", 7, 0);
	}
	if (klen >= 2 && memcmp(key, "rm", 2) == 0 && cur != NULL) {
		sl_state_remove(st); /* "rm..." keys: removed on their second record */
		return 0;
	}
	if (klen == 4 && memcmp(key, "boom", 4) == 0)
		return 3; /* positive: a failure too */
	int64_t n = (cur ? sl_i64_decode(cur, len) : 0) + 1;
	uint8_t v[8];
	sl_i64_encode(n, v);
	int rv = sl_state_update(st, v, 8);
	return rv ? rv : sl_emit(out, key, klen, v, 8, 0);
}

static int run_map(state_part *sp, int64_t t, const char *words, collect *out,
                   state_stats *st)
{
	batch b;
	char err[ERRLEN];
	batch_make(&b, words, true);
	memset(st, 0, sizeof(*st));
	int rv = state_part_begin(sp, t, err, sizeof(err));
	if (rv == SL_OK) {
		rv = state_part_map_with_state(sp, &b.base, count_map, &out->base, st,
		                               err, sizeof(err));
		if (rv == SL_OK)
			state_part_commit(sp);
		else
			state_part_abort(sp);
	}
	rbuf_free(&b.buf);
	return rv;
}

static void test_map_with_state_timeouts(void **state)
{
	(void)state;
	state_part *sp = state_part_new(3000);
	collect out;
	state_stats st;
	/* 2000 keys held, idle from batch 1000 on; "b" gets data every batch */
	char big[20000] = "";
	for (int i = 0; i < 2000; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big), "k%d ", i);
	collect_init(&out);
	assert_int_equal(run_map(sp, 1000, big, &out, &st), SL_OK);
	assert_int_equal(st.touched, 2000);
	assert_int_equal(state_part_keys(sp), 2000);
	for (int64_t t = 2000; t <= 3000; t += 1000) {
		collect_init(&out);
		assert_int_equal(run_map(sp, t, "b b a", &out, &st), SL_OK);
		/* only the batch's keys: not the 2000 held */
		assert_int_equal(st.touched, 2);
		assert_int_equal(st.calls, 3);
		assert_int_equal(st.timed_out, 0);
	}
	assert_string_equal(out.text, "b=3;b=4;a=2;");
	/* 1000 + 3000 <= 4000: the 2000 idle keys time out now, once each */
	collect_init(&out);
	out.fail_at = 0;
	assert_int_equal(run_map(sp, 4000, "b", &out, &st), SL_OK);
	assert_int_equal(st.timed_out, 2000);
	assert_int_equal(st.touched, 2001);
	assert_int_equal(out.n, 2001);
	assert_contains(out.text, "k0=timeout;");
	assert_contains(out.text, "k1999=timeout;");
	assert_int_equal(state_part_keys(sp), 2); /* a (3000), b */
	collect_init(&out);
	assert_int_equal(run_map(sp, 5000, "b", &out, &st), SL_OK);
	assert_int_equal(st.timed_out, 0); /* never twice; a is idle since 3000 */
	collect_init(&out);
	assert_int_equal(run_map(sp, 6000, "b", &out, &st), SL_OK);
	assert_int_equal(st.timed_out, 1);
	assert_string_equal(out.text, "b=7;a=timeout;");
	/* removal by the function; a failing function rolls back the batch,
	 * including the timeouts it had already applied */
	collect_init(&out);
	assert_int_equal(run_map(sp, 7000, "c rmx c rmx", &out, &st), SL_OK);
	assert_int_equal(st.removed, 1);
	assert_string_equal(out.text, "c=1;rmx=1;c=2;");
	collect_init(&out);
	assert_int_equal(run_map(sp, 8000, "c c b boom", &out, &st), 3);
	assert_int_equal(state_part_keys(sp), 2);
	batch b;
	char err[ERRLEN];
	batch_make(&b, "", true);
	collect_init(&out);
	assert_int_equal(state_part_begin(sp, 10000, err, sizeof(err)), SL_OK);
	assert_int_equal(state_part_map_with_state(sp, &b.base, count_map, &out.base, &st,
	                                           err, sizeof(err)),
	                 SL_OK);
	assert_int_equal(st.timed_out, 2); /* b (6000) and c (7000) */
	state_part_abort(sp);
	assert_int_equal(state_part_keys(sp), 2);
	assert_int_equal(state_i64(sp, "c"), 2);
	rbuf_free(&b.buf);
	state_part_free(sp);
}

/* ---- replication: full records and deltas (worker/stateops.c) ---- */

static int copy_delta(const state_part *from, state_part *to, char *err)
{
	rbuf b;
	rbuf_init(&b);
	state_part_delta_records(from, &b);
	int rv = state_part_apply_delta(to, &b, "delta", err, ERRLEN);
	rbuf_free(&b);
	return rv;
}

static void test_replica_deltas(void **state)
{
	(void)state;
	state_part *sp = state_part_new(3000), *rp = state_part_new(0);
	collect out, rout;
	state_stats st;
	char err[ERRLEN];
	rbuf full;
	rbuf_init(&full);
	collect_init(&out);
	assert_int_equal(run_map(sp, 1000, "a a b", &out, &st), SL_OK);
	state_part_full_records(sp, &full);
	assert_int_equal(state_part_restore_records(rp, &full, "full", err, sizeof(err)),
	                 SL_OK);
	assert_int_equal(state_part_restore_records(rp, &full, "full", err, sizeof(err)),
	                 SL_ESTATE); /* only into an empty partition */
	rbuf_free(&full);
	assert_int_equal(state_part_version(rp), 1000);
	assert_int_equal(state_i64(rp, "a"), 2);
	/* deltas: changed keys, new ones, removed ones ("rm..."), in order */
	const char *batches[] = {"a c", "rmx c", "rmx"};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(run_map(sp, 2000 + 1000 * i, batches[i], &out, &st),
		                 SL_OK);
		assert_int_equal(copy_delta(sp, rp, err), SL_OK);
		assert_int_equal(copy_delta(sp, rp, err), SL_OK); /* again: the same */
	}
	assert_int_equal(state_part_version(rp), 4000);
	assert_int_equal(state_part_keys(rp), state_part_keys(sp));
	assert_int_equal(state_i64(rp, "a"), 3);
	assert_int_equal(state_i64(rp, "c"), 2);
	assert_int_equal(state_i64(rp, "rmx"), -1);
	/* deadlines came along: the same batch times the same keys out on both */
	collect_init(&out);
	collect_init(&rout);
	assert_int_equal(run_map(sp, 6000, "z", &out, &st), SL_OK);
	assert_int_equal(run_map(rp, 6000, "z", &rout, &st), SL_OK);
	assert_string_equal(out.text, rout.text);
	assert_contains(out.text, "a=timeout;");
	/* a delta that does not follow the state is refused: no silent gap */
	assert_int_equal(run_map(sp, 7000, "q", &out, &st), SL_OK);
	assert_int_equal(run_map(sp, 8000, "q", &out, &st), SL_OK);
	assert_int_equal(copy_delta(sp, rp, err), SL_ESTATE);
	assert_contains(err, "the delta of batch 8000 follows batch 7000, the state is "
	                     "at 6000");
	state_part_free(sp);
	state_part_free(rp);
}

/* update_state_by_key sets every key each batch: its delta holds only the
 * keys whose state changed or went, and still brings the replica level */
static void test_delta_changed_only(void **state)
{
	(void)state;
	state_part *sp = state_part_new(0), *rp = state_part_new(0);
	collect out;
	char err[ERRLEN];
	rbuf b;
	collect_init(&out);
	assert_int_equal(run_update(sp, 1000, "a b xk c", &out), SL_OK);
	rbuf_init(&b);
	state_part_full_records(sp, &b);
	assert_int_equal(state_part_restore_records(rp, &b, "full", err, sizeof(err)),
	                 SL_OK);
	rbuf_free(&b);
	/* a: 1 -> 2, xk removed (total 2), b and c set to the same 1, xn added
	 * and removed in the batch (total 2 at once) */
	assert_int_equal(run_update(sp, 2000, "a xk xn xn", &out), SL_OK);
	rbuf_init(&b);
	state_part_delta_records(sp, &b);
	assert_int_equal(b.count, 3); /* the meta record, a and xk */
	assert_int_equal(state_part_apply_delta(rp, &b, "delta", err, sizeof(err)),
	                 SL_OK);
	rbuf_free(&b);
	assert_int_equal(state_part_version(rp), 2000);
	assert_int_equal(state_part_keys(rp), 3);
	assert_int_equal(state_i64(rp, "a"), 2);
	assert_int_equal(state_i64(rp, "b"), 1);
	assert_int_equal(state_i64(rp, "c"), 1);
	assert_int_equal(state_i64(rp, "xk"), -1);
	/* a batch that changes nothing: only the meta record, still in order */
	assert_int_equal(run_update(sp, 3000, "", &out), SL_OK);
	rbuf_init(&b);
	state_part_delta_records(sp, &b);
	assert_int_equal(b.count, 1);
	assert_int_equal(state_part_apply_delta(rp, &b, "delta", err, sizeof(err)),
	                 SL_OK);
	rbuf_free(&b);
	assert_int_equal(state_part_version(rp), 3000);
	state_part_free(sp);
	state_part_free(rp);
}

/* ---- checkpoints ---- */

static void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "/tmp/sluice-test-statestore-%d-%s", (int)getpid(), name);
}

static void test_checkpoint_round_trip(void **state)
{
	(void)state;
	char path[256], err[ERRLEN];
	tmp_path(path, sizeof(path), "rt.ckpt");
	state_part *sp = state_part_new(2000);
	collect out;
	state_stats st;
	collect_init(&out);
	assert_int_equal(run_map(sp, 1000, "a b c a", &out, &st), SL_OK);
	assert_int_equal(run_map(sp, 2000, "b", &out, &st), SL_OK);
	assert_true(state_part_checkpoint_due(sp, 2000, 10000));
	assert_int_equal(state_part_checkpoint(sp, path, err, sizeof(err)), SL_OK);
	assert_false(state_part_checkpoint_due(sp, 9000, 10000));
	assert_int_equal(state_checkpoint_interval(NULL, 700), 7000);
	sl_conf *conf = conf_new(CONF_APP_KEYS);
	assert_int_equal(state_checkpoint_interval(conf, 700), 7000);
	assert_int_equal(conf_set(conf, "spark.streaming.checkpoint.interval", "30s", err,
	                          sizeof(err)),
	                 SL_OK);
	assert_int_equal(state_checkpoint_interval(conf, 700), 30000);
	conf_free(conf);
	assert_true(state_part_checkpoint_due(sp, 10000, 10000));

	/* the same bytes in memory as on disk */
	uint8_t *mem = NULL, file[4096];
	size_t mlen = 0;
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	size_t flen = fread(file, 1, sizeof(file), f);
	fclose(f);
	assert_int_equal(state_part_encode(sp, &mem, &mlen), SL_OK);
	assert_int_equal(mlen, flen);
	assert_memory_equal(mem, file, flen);
	state_part *re = NULL;
	assert_int_equal(
	    state_part_decode(mem, mlen, "mem", 1 << 20, &re, err, sizeof(err)), SL_OK);
	assert_int_equal(state_part_keys(re), 3);
	state_part_free(re);
	sl_free(mem);
	re = NULL;
	assert_int_equal(state_part_load(path, &re, err, sizeof(err)), SL_OK);
	assert_int_equal(state_part_version(re), 2000);
	assert_int_equal(state_part_keys(re), 3);
	assert_int_equal(state_i64(re, "a"), 2);
	/* replay the batches after the checkpoint on both: same outputs, and
	 * the same timeouts: a at 3000, b at 4000, c at 5000 */
	const char *after[] = {"c", "", "a a"};
	for (int i = 0; i < 3; i++) {
		collect o1, o2;
		collect_init(&o1);
		collect_init(&o2);
		assert_int_equal(run_map(sp, 3000 + i * 1000, after[i], &o1, &st), SL_OK);
		assert_int_equal(run_map(re, 3000 + i * 1000, after[i], &o2, &st), SL_OK);
		assert_string_equal(o1.text, o2.text);
		assert_int_equal(state_part_keys(sp), state_part_keys(re));
	}
	assert_int_equal(state_i64(re, "a"), 2);
	assert_int_equal(state_i64(re, "c"), -1);
	state_part_free(re);
	state_part_free(sp);
	unlink(path);
}

static void write_bytes(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	fclose(f);
}

static void expect_load_error(const char *path, int code, const char *part)
{
	char err[ERRLEN] = "";
	state_part *sp = (state_part *)1;
	assert_int_equal(state_part_load(path, &sp, err, sizeof(err)), code);
	assert_null(sp);
	assert_contains(err, path);
	assert_contains(err, part);
}

static void test_checkpoint_damaged(void **state)
{
	(void)state;
	char path[256], bad[256], err[ERRLEN];
	tmp_path(path, sizeof(path), "good.ckpt");
	tmp_path(bad, sizeof(bad), "bad.ckpt");
	state_part *sp = state_part_new(0);
	collect out;
	collect_init(&out);
	char words[4000] = "";
	for (int i = 0; i < 300; i++)
		snprintf(words + strlen(words), sizeof(words) - strlen(words), "w%d ", i);
	assert_int_equal(run_update(sp, 1000, words, &out), SL_OK);
	assert_int_equal(state_part_checkpoint(sp, path, err, sizeof(err)), SL_OK);
	state_part_free(sp);

	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	uint8_t buf[65536];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n > 40 && n < sizeof(buf));

	buf[0] ^= 0x20; /* magic */
	write_bytes(bad, buf, n);
	expect_load_error(bad, SL_EPROTO, "not a state checkpoint (bad magic)");
	buf[0] ^= 0x20;
	buf[n / 2] ^= 0x01; /* body */
	write_bytes(bad, buf, n);
	expect_load_error(bad, SL_EPROTO, "damaged");
	buf[n / 2] ^= 0x01;
	write_bytes(bad, buf, n - 7); /* truncated */
	expect_load_error(bad, SL_EPROTO, "damaged");
	write_bytes(bad, buf, 5);
	expect_load_error(bad, SL_EPROTO, "bad magic");
	unlink(bad);
	expect_load_error(bad, SL_EIO, "No such file");
	/* the intact file still loads */
	assert_int_equal(state_part_load(path, &sp, err, sizeof(err)), SL_OK);
	assert_int_equal(state_part_keys(sp), 300);
	state_part_free(sp);
	unlink(path);
}

static int seed_fn(sl_emitter *out)
{
	char k[16];
	uint8_t v[8];
	for (int i = 0; i < 100; i++) {
		snprintf(k, sizeof(k), "s%d", i);
		sl_i64_encode(i, v);
		if (sl_emit(out, k, strlen(k), v, 8, 0) != 0)
			return -1;
	}
	return 0;
}

static void test_seed_and_registry(void **state)
{
	(void)state;
	char err[ERRLEN];
	size_t total = 0;
	for (uint32_t p = 0; p < 3; p++) {
		state_part *sp = state_part_new(0);
		assert_int_equal(state_part_seed(sp, seed_fn, p, 3, 0, err, sizeof(err)),
		                 SL_OK);
		total += state_part_keys(sp);
		for (int i = 0; i < 100; i++) {
			char k[16];
			snprintf(k, sizeof(k), "s%d", i);
			bool mine =
			    kvmap_hash((const uint8_t *)k, (uint32_t)strlen(k)) % 3 == p;
			assert_int_equal(state_i64(sp, k), mine ? i : -1);
		}
		assert_int_equal(state_part_seed(sp, seed_fn, p, 3, 0, err, sizeof(err)),
		                 SL_ESTATE);
		assert_contains(err, "must be new and empty");
		state_part_free(sp);
	}
	assert_int_equal(total, 100);

	state_store *ss = state_store_new();
	state_part *a = state_store_acquire(ss, 1, 4, 0, 0);
	state_store_release(ss, a);
	assert_ptr_equal(state_store_acquire(ss, 1, 4, 0, 0), a);
	state_part *b = state_store_acquire(ss, 1, 4, 1, 0);
	assert_ptr_not_equal(a, b);
	state_store_release(ss, b);
	assert_int_equal(state_store_drop_job(ss, 1), 1); /* a is held */
	state_store_release(ss, a);
	assert_int_equal(state_store_drop_job(ss, 1), 1);
	assert_int_equal(state_store_drop_job(ss, 1), 0);
	state_store_acquire(ss, 2, 1, 0, 0);
	state_store_free(ss);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_update_state_totals, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_failure_and_rerun, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_map_with_state_timeouts, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_delta_changed_only, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_replica_deltas, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoint_round_trip, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_checkpoint_damaged, unit_setup,
	                                    unit_teardown),
	    cmocka_unit_test_setup_teardown(test_seed_and_registry, unit_setup,
	                                    unit_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
