/*
 * Built-in user functions, named "sl_*" in a job's graph, so that the common
 * jobs (word count, sums, generators for demos and benchmarks) need no code
 * of their own. They are looked up by name, not by dlsym, so they work the
 * same in the client, the master's checks and every worker.
 */
#include "api.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* flat_map: one value per whitespace-separated word of the input value. */
static int sl_split_words(const sl_record *in, sl_emitter *out)
{
	if (in->value_len == 0) /* value may be NULL: no pointer arithmetic on it */
		return 0;
	const uint8_t *p = in->value, *end = in->value + in->value_len;
	while (p < end) {
		while (p < end && isspace(*p))
			p++;
		const uint8_t *w = p;
		while (p < end && !isspace(*p))
			p++;
		if (p > w) {
			int rv =
			    sl_emit(out, NULL, 0, w, (size_t)(p - w), in->event_time_ms);
			if (rv != 0)
				return rv;
		}
	}
	return 0;
}

/* map_to_pair: value -> (value, 1). */
static int sl_pair_one(const sl_record *in, sl_emitter *out)
{
	uint8_t one[8];
	sl_i64_encode(1, one);
	return sl_emit(out, in->value, in->value_len, one, 8, in->event_time_ms);
}

static int reduce_i64(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                      sl_value *out, int op)
{
	int64_t x = sl_i64_decode(a, alen), y = sl_i64_decode(b, blen), r;
	uint8_t buf[8];
	if (alen != 8 || blen != 8)
		return SL_EINVAL;
	r = op == 0  ? (int64_t)((uint64_t)x + (uint64_t)y)
	    : op < 0 ? (x < y ? x : y)
	             : (x > y ? x : y);
	sl_i64_encode(r, buf);
	sl_value_set(out, buf, 8);
	return 0;
}

static int sl_sum_i64(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                      sl_value *out)
{
	return reduce_i64(a, alen, b, blen, out, 0);
}

static int sl_min_i64(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                      sl_value *out)
{
	return reduce_i64(a, alen, b, blen, out, -1);
}

static int sl_max_i64(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                      sl_value *out)
{
	return reduce_i64(a, alen, b, blen, out, 1);
}

/* A deterministic word for (batch, index): the same batch regenerates the
 * same records, so a re-run task or batch sees identical input. */
static const char *gen_word(int64_t batch_ms, int64_t index, char *buf, size_t len)
{
	uint64_t x = (uint64_t)batch_ms * 0x9E3779B97F4A7C15ull ^ (uint64_t)index;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	/* Zipf-ish: small ids are more frequent, as in natural text. */
	uint64_t r = x % 1000, id = (r * r) / 1000;
	snprintf(buf, len, "w%03llu", (unsigned long long)id);
	return buf;
}

static int sl_gen_words(int64_t batch_ms, int64_t index, sl_emitter *out)
{
	char w[16];
	gen_word(batch_ms, index, w, sizeof(w));
	return sl_emit(out, NULL, 0, w, strlen(w), batch_ms);
}

static int sl_gen_lines(int64_t batch_ms, int64_t index, sl_emitter *out)
{
	char line[128], w[16];
	size_t n = 0;
	for (int i = 0; i < 8; i++) {
		gen_word(batch_ms, index * 8 + i, w, sizeof(w));
		n +=
		    (size_t)snprintf(line + n, sizeof(line) - n, "%s%s", i ? " " : "", w);
	}
	return sl_emit(out, NULL, 0, line, n, batch_ms);
}

static const struct {
	const char *name;
	builtin_kind kind;
	void *fn;
} builtins[] = {
    {"sl_split_words", BUILTIN_MAP, (void *)sl_split_words},
    {"sl_pair_one", BUILTIN_MAP, (void *)sl_pair_one},
    {"sl_sum_i64", BUILTIN_REDUCE, (void *)sl_sum_i64},
    {"sl_min_i64", BUILTIN_REDUCE, (void *)sl_min_i64},
    {"sl_max_i64", BUILTIN_REDUCE, (void *)sl_max_i64},
    {"sl_gen_words", BUILTIN_GEN, (void *)sl_gen_words},
    {"sl_gen_lines", BUILTIN_GEN, (void *)sl_gen_lines},
};

void *builtin_find(const char *name, builtin_kind *kind)
{
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		if (strcmp(builtins[i].name, name) == 0) {
			if (kind)
				*kind = builtins[i].kind;
			return builtins[i].fn;
		}
	}
	return NULL;
}
