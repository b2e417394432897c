/*
 * A job library that defines functions with the names of Sluice internals
 * (log_write, rpc_call, conf_get_str, envelope_pack, blockmgr_put, and the
 * allocation wrapper sl_malloc, which carries the public prefix), with other
 * signatures and other behaviour. The worker exports only the public API
 * (include/sluice/), so the job's calls reach its own definitions: every
 * word gets the value log_write(1) + rpc_call() + ... = 1 + 2 + 4 + 8 + 16 +
 * 32 = 63, and the saved counts are multiples of 63. Were any call bound to
 * the worker's function of that name, the value would differ or the task
 * would crash.
 *
 * Configuration: gen.rate (default 200), output.path (required).
 */
#include <sluice/sluice.h>

#include <stdlib.h>
#include <string.h>

/* Not static: exported from the library like any job code would be. */
int log_write(int level);
int rpc_call(void);
int conf_get_str(const char *a, const char *b);
int envelope_pack(double x);
int blockmgr_put(void);
void *sl_malloc(size_t n);
int pair_63(const sl_record *in, sl_emitter *out);

static char arena[64];

int log_write(int level)
{
	return level;
}

int rpc_call(void)
{
	return 2;
}

int conf_get_str(const char *a, const char *b)
{
	return a == b ? 4 : 0;
}

int envelope_pack(double x)
{
	return (int)(x * 4.0);
}

int blockmgr_put(void)
{
	return 16;
}

void *sl_malloc(size_t n)
{
	return n <= sizeof(arena) ? arena : NULL;
}

int pair_63(const sl_record *in, sl_emitter *out)
{
	uint8_t v[8];
	const char *s = "same";
	int64_t total = log_write(1) + rpc_call() + conf_get_str(s, s) +
	                envelope_pack(2.0) + blockmgr_put() +
	                (sl_malloc(8) == arena ? 32 : 0);
	sl_i64_encode(total, v);
	return sl_emit(out, in->value, in->value_len, v, sizeof(v), in->event_time_ms);
}

int sluice_job_define(sl_ctx *ctx)
{
	long long rate = atoll(sl_conf_get(ctx, "gen.rate", "200"));
	const char *out = sl_conf_get(ctx, "output.path", NULL);
	if (out == NULL)
		return -1;
	sl_stream *lines = sl_generator_stream(ctx, "sl_gen_lines", rate, 2);
	sl_stream *words = sl_flat_map(lines, "sl_split_words");
	sl_stream *pairs = sl_map_to_pair(words, "pair_63");
	sl_save_as_text_files(sl_reduce_by_key(pairs, "sl_sum_i64", 0), out, NULL);
	return 0;
}
