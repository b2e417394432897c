/*
 * A job with state across batches (issue 11), for
 * tests/integration/test_state*.py: running word totals with
 * update_state_by_key (seeded from an initial state) and idle-word reports
 * with map_with_state's timeout, next to each batch's own counts so the
 * test knows which batch every word fell in.
 *
 *   pairs = map_to_pair(flat_map(socket lines, split words), (word, 1))
 *   OUT/batch-T    reduce_by_key(pairs, sum)             each batch alone
 *   OUT/totals-T   update_state_by_key(pairs, state_sum, state_init)
 *                  every word's total so far (+ the initial state)
 *   OUT/idle-T     map_with_state(pairs, idle_count, timeout 3 x I):
 *                  (word, its records since it was last idle) once the
 *                  word has been idle for the timeout
 *
 * state_sum fails its first attempt of every batch whose index (T / I) is
 * a multiple of 4 once it has updated some words (state.fail_key, when
 * set), so the test sees the batch undone and retried.
 *
 * Configuration: source.port, output.path, state.unit_ms (I: the batch
 * interval), state.fail_key.
 */
#include <sluice/sluice.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void save(sl_stream *s, const char *dir, const char *name)
{
	char prefix[1024];
	snprintf(prefix, sizeof(prefix), "%s/%s", dir, name);
	sl_save_as_text_files(sl_with_value_format(s, SL_FORMAT_I64), prefix, NULL);
}

/* The initial totals: "seed" alone, and 1000 more for "w0". */
int state_init(sl_emitter *out)
{
	uint8_t v[8];
	sl_i64_encode(1000, v);
	int rv = sl_emit(out, "w0", 2, v, 8, 0);
	sl_i64_encode(7, v);
	return rv ? rv : sl_emit(out, "seed", 4, v, 8, 0);
}

int state_sum(const uint8_t *key, uint32_t key_len, sl_iter *values, const uint8_t *state,
              uint32_t state_len, sl_value *new_state)
{
	const char *fail_key = sl_task_conf("state.fail_key");
	const char *unit_ms = sl_task_conf("state.unit_ms");
	int64_t unit = unit_ms ? atoll(unit_ms) : 1000;
	if (fail_key != NULL && sl_task_attempt() == 0 && unit > 0 &&
	    (sl_task_batch_time() / unit) % 4 == 0 && key_len == strlen(fail_key) &&
	    memcmp(key, fail_key, key_len) == 0)
		return -1; /* the words before it were updated: undone */
	int64_t total = sl_i64_decode(state, state_len);
	sl_record r;
	while (sl_iter_next(values, &r) > 0)
		total += sl_i64_decode(r.value, r.value_len);
	uint8_t v[8];
	sl_i64_encode(total, v);
	sl_value_set(new_state, v, 8);
	return 0;
}

int idle_count(const uint8_t *key, uint32_t key_len, const sl_record *in, sl_state *state,
               sl_emitter *out)
{
	uint32_t len;
	const uint8_t *cur = sl_state_get(state, &len);
	int64_t n = sl_i64_decode(cur, len);
	uint8_t v[8];
	if (in == NULL) { /* timing out: report once, the state goes */
		sl_i64_encode(n, v);
		return sl_emit(out, key, key_len, v, 8, 0);
	}
	sl_i64_encode(n + 1, v);
	return sl_state_update(state, v, 8);
}

int sluice_job_define(sl_ctx *ctx)
{
	int port = atoi(sl_conf_get(ctx, "source.port", "9999"));
	const char *dir = sl_conf_get(ctx, "output.path", "/tmp/sluice-state");
	int64_t unit = atoll(sl_conf_get(ctx, "state.unit_ms", "1000"));
	sl_stream *lines = sl_socket_text_stream(ctx, "127.0.0.1", port);
	sl_stream *pairs =
	    sl_map_to_pair(sl_flat_map(lines, "sl_split_words"), "sl_pair_one");
	save(sl_reduce_by_key(pairs, "sl_sum_i64", 2), dir, "batch");
	save(sl_update_state_by_key(pairs, "state_sum", "state_init", 2), dir, "totals");
	sl_state_spec spec = {
	    .fn = "idle_count", .timeout_ms = 3 * unit, .partitions = 3};
	save(sl_map_with_state(pairs, &spec), dir, "idle");
	return 0;
}
