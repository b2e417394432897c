/*
 * Event-time windows of one partition: see evwindow.h. The state store does
 * the bookkeeping (reduce with undo, deadlines in a heap); this file maps
 * records to their windows and windows to output records.
 */
#include "evwindow.h"
#include "alloc.h"
#include "api.h"
#include "sluice/err.h"

#include <stdio.h>
#include <string.h>

int64_t evwin_watermark(int64_t max_event_time, int64_t lateness_ms)
{
	if (max_event_time == INT64_MIN)
		return EVWIN_NO_WATERMARK;
	return max_event_time - lateness_ms;
}

/* floor(a / b) for b > 0, also for negative a. */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && a < 0) ? q - 1 : q;
}

static void put_be64(uint8_t *p, int64_t v)
{
	uint64_t u = (uint64_t)v;
	for (int i = 7; i >= 0; i--, u >>= 8)
		p[i] = (uint8_t)u;
}

typedef struct {
	const evwin_spec *spec;
	state_part *sp;
	uint8_t *key;
	size_t cap;
	uint8_t one[8];
	char *err;
	size_t errlen;
} ew_run;

static int count_sum(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen,
                     sl_value *out)
{
	uint8_t v[8];
	if (alen != 8 || blen != 8)
		return SL_EINVAL;
	sl_i64_encode(
	    (int64_t)((uint64_t)sl_i64_decode(a, 8) + (uint64_t)sl_i64_decode(b, 8)), v);
	sl_value_set(out, v, 8);
	return 0;
}

/* Reduces r into each of its windows still open; 1 when one had ended. */
static int add_record(ew_run *w, const sl_record *r, int64_t watermark, bool *late)
{
	const evwin_spec *s = w->spec;
	int64_t t = r->event_time_ms;
	if ((size_t)r->key_len + 8 > w->cap) {
		w->cap = 2 * ((size_t)r->key_len + 8);
		w->key = sl_realloc(w->key, w->cap);
	}
	if (r->key_len > 0)
		memcpy(w->key + 8, r->key, r->key_len);
	*late = false;
	for (int64_t start = floor_div(t, s->slide_ms) * s->slide_ms;
	     start > t - s->length_ms; start -= s->slide_ms) {
		int64_t end = start + s->length_ms;
		if (watermark != EVWIN_NO_WATERMARK && end <= watermark) {
			*late = true;
			continue;
		}
		put_be64(w->key, start);
		int rv = state_part_reduce(
		    w->sp, w->key, r->key_len + 8, s->reduce ? r->value : w->one,
		    s->reduce ? r->value_len : 8, end, s->reduce ? s->reduce : count_sum,
		    w->err, w->errlen);
		if (rv != SL_OK)
			return rv;
	}
	return SL_OK;
}

typedef struct {
	sl_emitter *out;
	evwin_stats *st;
} fire_arg;

static int fire_one(void *arg, const uint8_t *key, uint32_t klen, const uint8_t *value,
                    uint32_t vlen, int64_t deadline_ms)
{
	fire_arg *fa = arg;
	int rv = sl_emit(fa->out, key + 8, klen - 8, value, vlen, deadline_ms - 1);
	fa->st->emitted += rv == 0;
	return rv;
}

int evwin_run(state_part *sp, const evwin_spec *spec, sl_iter *records, int64_t watermark,
              sl_emitter *out, evwin_stats *st, char *err, size_t errlen)
{
	ew_run w = {.spec = spec, .sp = sp, .err = err, .errlen = errlen};
	sl_record r;
	int rv;
	sl_i64_encode(1, w.one);
	if (errlen > 0)
		err[0] = '\0';
	st->max_event_time = INT64_MIN;
	while ((rv = sl_iter_next(records, &r)) > 0) {
		bool late;
		st->records++;
		if (r.event_time_ms > st->max_event_time)
			st->max_event_time = r.event_time_ms;
		if ((rv = add_record(&w, &r, watermark, &late)) != SL_OK)
			break;
		st->late += late;
	}
	sl_free(w.key);
	if (rv < 0 && err[0] == '\0')
		snprintf(err, errlen, "the batch's records are malformed");
	if (rv != SL_OK)
		return rv;
	if (watermark == EVWIN_NO_WATERMARK)
		return SL_OK;
	fire_arg fa = {.out = out, .st = st};
	rv = state_part_expire(sp, watermark, fire_one, &fa);
	if (rv != SL_OK)
		snprintf(err, errlen, "emitting a window's result failed (%d)", rv);
	return rv;
}
