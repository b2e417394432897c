/*
 * Built-in user functions, named "sl_*" in a job's graph, so that the common
 * jobs (word count, sums, generators for demos and benchmarks) need no code
 * of their own. They are looked up by name, not by dlsym, so they work the
 * same in the client, the master's checks and every worker.
 */
#include "api.h"
#include "kvmap.h"

#include <stdio.h>
#include <string.h>

/* The bytes isspace() accepts in the "C" locale, as a table: one load per
 * input byte instead of isspace()'s locale lookup (this runs on every byte
 * of every line of a word count). */
static const uint8_t space_tab[256] = {
    ['\t'] = 1, ['\n'] = 1, ['\v'] = 1, ['\f'] = 1, ['\r'] = 1, [' '] = 1,
};

/* flat_map: one value per whitespace-separated word of the input value. */
static int sl_split_words(const sl_record *in, sl_emitter *out)
{
	if (in->value_len == 0) /* value may be NULL: no pointer arithmetic on it */
		return 0;
	const uint8_t *p = in->value, *end = in->value + in->value_len;
	sl_record w = {.event_time_ms = in->event_time_ms};
	while (p < end) {
		while (p < end && space_tab[*p])
			p++;
		const uint8_t *start = p;
		while (p < end && !space_tab[*p])
			p++;
		if (p > start) {
			/* emit directly: sl_emit's length checks cannot fail here */
			w.value = start;
			w.value_len = (uint32_t)(p - start);
			int rv = out->emit(out, &w);
			if (rv != 0)
				return rv;
		}
	}
	return 0;
}

uint64_t builtin_split_count(const sl_record *in, kvmap **maps, uint32_t nred)
{
	if (in->value_len == 0) /* value may be NULL */
		return 0;
	return kvmap_count_tokens(maps, nred, in->value, in->value_len, space_tab);
}

/* map_to_pair: value -> (value, 1). */
static int sl_pair_one(const sl_record *in, sl_emitter *out)
{
	uint8_t one[8];
	sl_i64_encode(1, one);
	sl_record r = {.key = in->value,
	               .key_len = in->value_len,
	               .value = one,
	               .value_len = 8,
	               .event_time_ms = in->event_time_ms};
	return out->emit(out, &r);
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

/* The inverse of sl_sum_i64 for reduce_by_key_and_window: a - b. */
static int sl_sub_i64(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                      sl_value *out)
{
	uint8_t buf[8];
	if (alen != 8 || blen != 8)
		return SL_EINVAL;
	uint64_t d = (uint64_t)sl_i64_decode(a, alen) - (uint64_t)sl_i64_decode(b, blen);
	sl_i64_encode((int64_t)d, buf);
	sl_value_set(out, buf, 8);
	return 0;
}

/* A filter keeping i64 values other than zero (window keys whose count went
 * back to zero are dropped); a value that is not 8 bytes fails. */
static int sl_nonzero_i64(const sl_record *in)
{
	if (in->value_len != 8)
		return SL_EINVAL;
	return sl_i64_decode(in->value, 8) != 0;
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

/* A deterministic word id in [0, 999) for (batch, index): the same batch
 * regenerates the same records, so a re-run task or batch sees identical
 * input. */
static unsigned gen_word_id(int64_t batch_ms, int64_t index)
{
	uint64_t x = (uint64_t)batch_ms * 0x9E3779B97F4A7C15ull ^ (uint64_t)index;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	/* Zipf-ish: small ids are more frequent, as in natural text. */
	uint64_t r = x % 1000;
	return (unsigned)((r * r) / 1000);
}

/* Writes the word "w%03u" for id (< 1000) at p: 4 bytes, no terminator.
 * Digit stores rather than snprintf, which cost more than the whole word
 * count it feeds (docs/performance.md). */
static void gen_word(unsigned id, char *p)
{
	p[0] = 'w';
	p[1] = (char)('0' + id / 100);
	p[2] = (char)('0' + id / 10 % 10);
	p[3] = (char)('0' + id % 10);
}

static int sl_gen_words(int64_t batch_ms, int64_t index, sl_emitter *out)
{
	char w[4];
	gen_word(gen_word_id(batch_ms, index), w);
	return sl_emit(out, NULL, 0, w, sizeof(w), batch_ms);
}

/* A line of 8 words separated by single spaces (39 bytes). */
static int sl_gen_lines(int64_t batch_ms, int64_t index, sl_emitter *out)
{
	char line[8 * 5];
	size_t n = 0;
	for (int i = 0; i < 8; i++) {
		if (i > 0)
			line[n++] = ' ';
		gen_word(gen_word_id(batch_ms, index * 8 + i), line + n);
		n += 4;
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
    {"sl_sub_i64", BUILTIN_REDUCE, (void *)sl_sub_i64},
    {"sl_nonzero_i64", BUILTIN_FILTER, (void *)sl_nonzero_i64},
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
