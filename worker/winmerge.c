/*
 * reduce_by_key_and_window's incremental merge: see winmerge.h.
 *
 * Three hash maps: the previous window (as given), the leaving batches and
 * the entering batches, each reduced per key with the user's reduce; then
 * one pass over the keys of the previous window and one over the entering
 * keys it lacks.
 */
#include "winmerge.h"
#include "alloc.h"
#include "api.h"
#include "kvmap.h"
#include "sluice/err.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef struct {
	sl_reduce_fn reduce, inv;
	sl_filter_fn filter;
	sl_emitter *out;
	uint64_t *emitted;
	sl_value a, b; /* results of inv and reduce */
	char *err;
	size_t errlen;
} wm_run;

static int key_failed(wm_run *w, const sl_record *k, const char *what, int rv)
{
	snprintf(w->err, w->errlen, "%s returned %d for key '%.*s'", what, rv,
	         (int)(k->key_len > 64 ? 64 : k->key_len), (const char *)k->key);
	return rv;
}

/* Reduces an input into m per key. */
static int reduce_into(wm_run *w, sl_iter *in, kvmap *m, const char *which)
{
	sl_record r;
	int rv;
	while ((rv = sl_iter_next(in, &r)) > 0)
		if ((rv = kvmap_combine(m, r.key, r.key_len, r.value, r.value_len,
		                        w->reduce)) != 0)
			return key_failed(w, &r, "reduce function", rv);
	if (rv < 0)
		snprintf(w->err, w->errlen, "the %s records are malformed", which);
	return rv < 0 ? SL_EPROTO : SL_OK;
}

static int emit_kept(wm_run *w, const sl_record *k, const uint8_t *v, uint32_t vlen)
{
	sl_record r = {
	    .key = k->key, .key_len = k->key_len, .value = v, .value_len = vlen};
	if (w->filter != NULL) {
		int keep = w->filter(&r);
		if (keep < 0)
			return key_failed(w, k, "filter function", keep);
		if (keep == 0)
			return SL_OK;
	}
	int rv = w->out->emit(w->out, &r);
	if (rv != 0)
		return key_failed(w, k, "emitting", rv);
	(*w->emitted)++;
	return SL_OK;
}

/* One key of the previous window: inverse-reduce what left, reduce what
 * entered. */
static int merge_prev(wm_run *w, const sl_record *k, kvmap *leaving, kvmap *entering)
{
	const uint8_t *v = k->value, *x;
	uint32_t vlen = k->value_len, xlen;
	int rv;
	if ((x = kvmap_get(leaving, k->key, k->key_len, &xlen)) != NULL) {
		w->a.len = 0;
		if ((rv = w->inv(v, vlen, x, xlen, &w->a)) != 0)
			return key_failed(w, k, "inverse reduce function", rv);
		v = w->a.data;
		vlen = w->a.len;
	}
	if ((x = kvmap_get(entering, k->key, k->key_len, &xlen)) != NULL) {
		w->b.len = 0;
		if ((rv = w->reduce(v, vlen, x, xlen, &w->b)) != 0)
			return key_failed(w, k, "reduce function", rv);
		v = w->b.data;
		vlen = w->b.len;
	}
	return emit_kept(w, k, v, vlen);
}

static int merge_all(wm_run *w, kvmap *prev, kvmap *leaving, kvmap *entering)
{
	size_t pos = 0;
	sl_record k;
	uint32_t len;
	int rv = SL_OK;
	while (rv == SL_OK && kvmap_next(prev, &pos, &k))
		rv = merge_prev(w, &k, leaving, entering);
	for (pos = 0; rv == SL_OK && kvmap_next(entering, &pos, &k);)
		if (kvmap_get(prev, k.key, k.key_len, &len) == NULL)
			rv = emit_kept(w, &k, k.value, k.value_len);
	for (pos = 0; rv == SL_OK && kvmap_next(leaving, &pos, &k);)
		if (kvmap_get(prev, k.key, k.key_len, &len) == NULL &&
		    kvmap_get(entering, k.key, k.key_len, &len) == NULL) {
			snprintf(
			    w->err, w->errlen,
			    "key '%.*s' leaves the window but was not in the previous "
			    "window (a filter dropped a key that still had values?)",
			    (int)(k.key_len > 64 ? 64 : k.key_len), (const char *)k.key);
			rv = SL_EPROTO;
		}
	return rv;
}

int winmerge_run(sl_iter *prev, sl_iter *leaving, sl_iter *entering, sl_reduce_fn reduce,
                 sl_reduce_fn inv, sl_filter_fn filter, sl_emitter *out,
                 uint64_t *emitted, char *err, size_t errlen)
{
	wm_run w = {.reduce = reduce,
	            .inv = inv,
	            .filter = filter,
	            .out = out,
	            .emitted = emitted,
	            .err = err,
	            .errlen = errlen};
	kvmap *pm = kvmap_new(), *lm = kvmap_new(), *em = kvmap_new();
	int rv = reduce_into(&w, prev, pm, "previous window's");
	if (rv == SL_OK)
		rv = reduce_into(&w, leaving, lm, "leaving batches'");
	if (rv == SL_OK)
		rv = reduce_into(&w, entering, em, "entering batches'");
	if (rv == SL_OK)
		rv = merge_all(&w, pm, lm, em);
	kvmap_free(pm);
	kvmap_free(lm);
	kvmap_free(em);
	sl_free(w.a.data);
	sl_free(w.b.data);
	return rv;
}

/* ---- one key in a state store ---- */

typedef struct {
	const winmerge_fns *f;
	const uint8_t *key;
	uint32_t klen;
	char *err;
	size_t errlen;
} wk_run;

static int wk_failed(const wk_run *w, const char *what, int rv)
{
	snprintf(w->err, w->errlen, "%s returned %d for key '%.*s'", what, rv,
	         (int)(w->klen > 64 ? 64 : w->klen), (const char *)w->key);
	return rv;
}

/* acc = fn(acc, v) (acc = v when empty), through tmp. */
static int fold(const wk_run *w, sl_reduce_fn fn, const char *what, sl_value *acc,
                sl_value *tmp, const uint8_t *v, uint32_t vlen, bool *has)
{
	if (!*has) {
		sl_value_set(acc, v, vlen);
		*has = true;
		return SL_OK;
	}
	tmp->len = 0;
	int rv = fn(acc->data, acc->len, v, vlen, tmp);
	if (rv != 0)
		return wk_failed(w, what, rv);
	sl_value swap = *acc;
	*acc = *tmp;
	*tmp = swap;
	return SL_OK;
}

/* Reduces the '+' values into e and the '-' ones into l. */
static int split_values(const wk_run *w, sl_iter *values, sl_value *e, bool *has_e,
                        sl_value *l, bool *has_l, sl_value *tmp)
{
	sl_record r;
	int rv = SL_OK;
	while (rv == SL_OK && sl_iter_next(values, &r) > 0) {
		if (r.value_len < 1 || (r.value[0] != '+' && r.value[0] != '-')) {
			snprintf(
			    w->err, w->errlen, "key '%.*s': an untagged window value",
			    (int)(w->klen > 64 ? 64 : w->klen), (const char *)w->key);
			return SL_EPROTO;
		}
		bool in = r.value[0] == '+';
		rv = fold(w, w->f->reduce, "reduce function", in ? e : l, tmp,
		          r.value + 1, r.value_len - 1, in ? has_e : has_l);
	}
	return rv;
}

/* v = inv(prev, l) when something left, then reduce(v, e). */
static int merge_one(const wk_run *w, const uint8_t *prev, uint32_t plen,
                     const sl_value *e, bool has_e, const sl_value *l, bool has_l,
                     sl_value *v, sl_value *tmp)
{
	bool has = prev != NULL;
	if (has)
		sl_value_set(v, prev, plen);
	if (has_l && !has) {
		snprintf(w->err, w->errlen,
		         "key '%.*s' leaves the window but was not in the previous "
		         "window",
		         (int)(w->klen > 64 ? 64 : w->klen), (const char *)w->key);
		return SL_EPROTO;
	}
	int rv = SL_OK;
	if (has_l)
		rv = fold(w, w->f->inv, "inverse reduce function", v, tmp, l->data,
		          l->len, &has);
	if (rv == SL_OK && has_e)
		rv = fold(w, w->f->reduce, "reduce function", v, tmp, e->data, e->len,
		          &has);
	return rv == SL_OK && !has ? 1 : rv; /* 1: nothing to keep */
}

int winmerge_key(const winmerge_fns *f, const uint8_t *key, uint32_t klen,
                 sl_iter *values, const uint8_t *prev, uint32_t plen, sl_value *out,
                 char *err, size_t errlen)
{
	wk_run w = {.f = f, .key = key, .klen = klen, .err = err, .errlen = errlen};
	sl_value e = {0}, l = {0}, v = {0}, tmp = {0};
	bool has_e = false, has_l = false;
	int rv = split_values(&w, values, &e, &has_e, &l, &has_l, &tmp);
	if (rv == SL_OK)
		rv = merge_one(&w, prev, plen, &e, has_e, &l, has_l, &v, &tmp);
	if (rv == SL_OK && f->filter != NULL) {
		sl_record r = {
		    .key = key, .key_len = klen, .value = v.data, .value_len = v.len};
		int keep = f->filter(&r);
		rv = keep < 0    ? wk_failed(&w, "filter function", keep)
		     : keep == 0 ? 1
		                 : SL_OK;
	}
	if (rv == SL_OK)
		sl_value_set(out, v.data, v.len);
	sl_free(e.data);
	sl_free(l.data);
	sl_free(v.data);
	sl_free(tmp.data);
	return rv == 1 ? SL_OK : rv;
}
