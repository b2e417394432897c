/*
 * A job whose graph uses the windows, state, joins and event-time calls of
 * issue 11, chosen by --conf case=NAME, so that tests/integration's
 * test_window_refusals.py can show what `sluice submit` refuses and why:
 * durations that are not multiples of the batch interval, a slide longer
 * than the window, negative lateness or timeouts, zero lengths; "valid"
 * builds a well-formed graph of every new kind.
 */
#include <sluice/sluice.h>

#include <string.h>

int ev_time(const sl_record *in, int64_t *event_time_ms);
int ev_time(const sl_record *in, int64_t *event_time_ms)
{
	*event_time_ms = sl_i64_decode(in->value, in->value_len);
	return 0;
}

int upd(const uint8_t *key, uint32_t key_len, sl_iter *values, const uint8_t *state,
        uint32_t state_len, sl_value *new_state);
int upd(const uint8_t *key, uint32_t key_len, sl_iter *values, const uint8_t *state,
        uint32_t state_len, sl_value *new_state)
{
	(void)key;
	(void)key_len;
	int64_t total = sl_i64_decode(state, state_len);
	sl_record r;
	while (sl_iter_next(values, &r) == 1)
		total += sl_i64_decode(r.value, r.value_len);
	uint8_t out[8];
	sl_i64_encode(total, out);
	sl_value_set(new_state, out, 8);
	return 0;
}

int mws(const uint8_t *key, uint32_t key_len, const sl_record *in, sl_state *state,
        sl_emitter *out);
int mws(const uint8_t *key, uint32_t key_len, const sl_record *in, sl_state *state,
        sl_emitter *out)
{
	if (in == NULL)
		return sl_emit(out, key, key_len, "timeout", 7, 0);
	return sl_state_update(state, in->value, in->value_len);
}

static sl_stream *pairs(sl_ctx *ctx)
{
	sl_stream *words =
	    sl_flat_map(sl_socket_text_stream(ctx, "127.0.0.1", 9), "sl_split_words");
	return sl_map_to_pair(words, "sl_pair_one");
}

static void valid(sl_ctx *ctx, sl_stream *p)
{
	sl_state_spec spec = {.fn = "mws", .timeout_ms = 5000};
	sl_print(sl_window(p, 3000, 1000), 5);
	sl_print(sl_reduce_by_key_and_window(p, "sl_sum_i64", "sl_sub_i64", NULL, 3000,
	                                     2000, 0),
	         5);
	sl_print(sl_count_by_window(p, 5000, 1000), 5);
	sl_print(sl_count_by_value_and_window(p, 5000, 2000, 0), 5);
	sl_print(sl_update_state_by_key(p, "upd", NULL, 0), 5);
	sl_print(sl_map_with_state(p, &spec), 5);
	sl_print(sl_full_outer_join(p, pairs(ctx), 0), 5);
	sl_print(sl_event_time_window(sl_assign_event_time(p, "ev_time"), NULL, 1500, 500,
	                              200, 0),
	         5);
}

int sluice_job_define(sl_ctx *ctx)
{
	const char *c = sl_conf_get(ctx, "case", "valid");
	sl_stream *p = pairs(ctx);
	sl_state_spec spec = {.fn = "mws", .timeout_ms = -1000};
	if (strcmp(c, "length_not_multiple") == 0)
		sl_print(sl_named(sl_window(p, 2500, 1000), "clicks"), 5);
	else if (strcmp(c, "slide_not_multiple") == 0)
		sl_print(sl_reduce_by_key_and_window(p, "sl_sum_i64", NULL, NULL, 4000,
		                                     1500, 0),
		         5);
	else if (strcmp(c, "slide_gt_length") == 0)
		sl_print(sl_count_by_value_and_window(p, 2000, 4000, 0), 5);
	else if (strcmp(c, "negative_lateness") == 0)
		sl_print(sl_event_time_window(p, NULL, 1000, 1000, -5, 0), 5);
	else if (strcmp(c, "zero_length") == 0)
		sl_print(sl_count_by_window(p, 0, 1000), 5);
	else if (strcmp(c, "negative_timeout") == 0)
		sl_print(sl_map_with_state(p, &spec), 5);
	else
		valid(ctx, p);
	return 0;
}
