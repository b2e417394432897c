/*
 * The job of bench/state_e2e.py: per-batch cost of map_with_state (and, for
 * contrast, update_state_by_key) against keys held and keys touched, end to
 * end on a real cluster. tests/jobs3/state_job.c reads words from a socket,
 * which cannot hold a million keys without feeding them; this job seeds
 * them through the initial state instead and touches a chosen number per
 * batch with a generator, so the figures are the state task's, not a
 * receiver's.
 *
 *   initial state  keys k0..k(K-1), state i64 0            (K = bench.keys)
 *   source         generator "bench_touch": each batch, gen.rate x interval
 *                  records on distinct held keys, value i64 1
 *   bench.op=mws   map_with_state(bench_count, timeout bench.timeout_ms):
 *                  the key's count + 1, emitted (one record per record in)
 *   bench.op=usbk  update_state_by_key(bench_sum): every key's state, each
 *                  batch (Spark's semantics: the function visits all keys)
 *   output         foreach_partition(bench_drain): reads every record
 *
 * The touched keys of batch b are the indices (b x T + i) x 7919 mod K for
 * i < T (T = records per batch): distinct within a batch while T <= K (7919
 * is prime and divides no power of ten), spread over the partitions, and
 * moving on each batch so that a 1M-key run touches cold keys.
 *
 * Configuration: bench.keys (K, default 1000000), bench.op (mws | usbk),
 * bench.interval_ms (the batch interval, for b), bench.timeout_ms
 * (default 1 h: nothing times out during a run), bench.partitions (state
 * partitions, default 0 = sluice.shuffle.partitions), gen.rate,
 * gen.partitions.
 */
#include <sluice/sluice.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRIDE 7919

static int64_t conf_i64(const char *key, int64_t def)
{
	const char *v = sl_task_conf(key);
	return v != NULL && v[0] != '\0' ? atoll(v) : def;
}

/* The generator's parameters, read once per process: sl_task_conf is a
 * lookup among every configuration key, which for three keys per record
 * was half of a 10K-record batch's CPU in a first profile. A worker runs
 * this one job, so the first task's values hold for all (0 = not read). */
static _Atomic int64_t g_keys, g_interval, g_touch;

static int64_t cached(_Atomic int64_t *slot, const char *key, int64_t def)
{
	int64_t v = *slot;
	if (v == 0)
		*slot = v = conf_i64(key, def);
	return v;
}

static int emit_key(sl_emitter *out, int64_t k, int64_t value)
{
	char key[24];
	uint8_t v[8];
	int n = snprintf(key, sizeof(key), "k%lld", (long long)k);
	sl_i64_encode(value, v);
	return sl_emit(out, key, (uint32_t)n, v, 8, 0);
}

/* Initial state: every key held, count 0. */
int bench_seed(sl_emitter *out)
{
	int64_t keys = conf_i64("bench.keys", 1000000);
	for (int64_t k = 0; k < keys; k++) {
		int rv = emit_key(out, k, 0);
		if (rv != 0)
			return rv;
	}
	return 0;
}

/* Generator: record `index` of the batch touches one held key. */
int bench_touch(int64_t batch_time_ms, int64_t index, sl_emitter *out)
{
	int64_t keys = cached(&g_keys, "bench.keys", 1000000);
	int64_t interval = cached(&g_interval, "bench.interval_ms", 1000);
	int64_t per_batch = cached(&g_touch, "bench.touch", 1000);
	if (keys <= 0 || interval <= 0)
		return -1;
	int64_t b = batch_time_ms / interval;
	int64_t slot = ((b % keys) * (per_batch % keys) + index) % keys;
	return emit_key(out, (slot * STRIDE) % keys, 1);
}

/* map_with_state: count the key's records, emit the new count. */
int bench_count(const uint8_t *key, uint32_t key_len, const sl_record *in,
                sl_state *state, sl_emitter *out)
{
	uint32_t len;
	const uint8_t *cur = sl_state_get(state, &len);
	int64_t n = sl_i64_decode(cur, len);
	if (in == NULL) /* timing out: nothing to report in the bench */
		return 0;
	uint8_t v[8];
	sl_i64_encode(n + 1, v);
	int rv = sl_state_update(state, v, 8);
	return rv ? rv : sl_emit(out, key, key_len, v, 8, 0);
}

/* update_state_by_key: the key's count plus this batch's values. */
int bench_sum(const uint8_t *key, uint32_t key_len, sl_iter *values, const uint8_t *state,
              uint32_t state_len, sl_value *new_state)
{
	(void)key;
	(void)key_len;
	int64_t total = sl_i64_decode(state, state_len);
	sl_record r;
	while (sl_iter_next(values, &r) > 0)
		total += sl_i64_decode(r.value, r.value_len);
	uint8_t v[8];
	sl_i64_encode(total, v);
	sl_value_set(new_state, v, 8);
	return 0;
}

/* The output: reads every record (what a sink would at least do). */
int bench_drain(int64_t batch_time_ms, int partition, sl_iter *records)
{
	(void)batch_time_ms;
	(void)partition;
	sl_record r;
	while (sl_iter_next(records, &r) > 0)
		;
	return 0;
}

int sluice_job_define(sl_ctx *ctx)
{
	const char *op = sl_conf_get(ctx, "bench.op", "mws");
	int64_t rate = atoll(sl_conf_get(ctx, "gen.rate", "1000"));
	int gparts = atoi(sl_conf_get(ctx, "gen.partitions", "2"));
	int sparts = atoi(sl_conf_get(ctx, "bench.partitions", "0"));
	int64_t timeout = atoll(sl_conf_get(ctx, "bench.timeout_ms", "3600000"));
	if (rate <= 0 || gparts <= 0 || sparts < 0 || timeout < 0)
		return sl_fail(ctx, "gen.rate and gen.partitions must be > 0, "
		                    "bench.partitions and bench.timeout_ms >= 0");
	sl_stream *in = sl_generator_stream(ctx, "bench_touch", rate, gparts);
	sl_stream *st;
	if (strcmp(op, "mws") == 0) {
		sl_state_spec spec = {.fn = "bench_count",
		                      .timeout_ms = timeout,
		                      .initial_fn = "bench_seed",
		                      .partitions = sparts};
		st = sl_map_with_state(in, &spec);
	} else if (strcmp(op, "usbk") == 0) {
		st = sl_update_state_by_key(in, "bench_sum", "bench_seed", sparts);
	} else {
		return sl_fail(ctx, "bench.op must be mws or usbk, not '%s'", op);
	}
	sl_foreach_partition(sl_named(st, "state"), "bench_drain");
	return 0;
}
