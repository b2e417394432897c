/*
 * Join and cogroup of one reduce partition: see cogroup.h.
 *
 * Both sides are grouped by key into value lists (kvmap_append, the
 * group_by_key encoding), then the kind decides which keys produce output
 * and how: the pairs of a key's two lists (joins), or the two lists
 * themselves (cogroup). One buffer is reused for every output value.
 */
#include "cogroup.h"
#include "alloc.h"
#include "api.h"
#include "kvmap.h"
#include "sluice/err.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int cogroup_kind_of(Sluice__NodeKind k, cogroup_kind *out)
{
	switch (k) {
	case SLUICE__NODE_KIND__OP_JOIN:
		*out = COGROUP_JOIN;
		return SL_OK;
	case SLUICE__NODE_KIND__OP_LEFT_OUTER_JOIN:
		*out = COGROUP_LEFT_OUTER;
		return SL_OK;
	case SLUICE__NODE_KIND__OP_RIGHT_OUTER_JOIN:
		*out = COGROUP_RIGHT_OUTER;
		return SL_OK;
	case SLUICE__NODE_KIND__OP_FULL_OUTER_JOIN:
		*out = COGROUP_FULL_OUTER;
		return SL_OK;
	case SLUICE__NODE_KIND__OP_COGROUP:
		*out = COGROUP_LISTS;
		return SL_OK;
	default:
		return SL_EINVAL;
	}
}

typedef struct {
	cogroup_kind kind;
	sl_emitter *out;
	uint64_t *emitted;
	uint8_t *buf;
	size_t cap;
	char *err;
	size_t errlen;
} cg_run;

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Emits (key, [a, b]); a or b NULL = absent (SL_LIST_NULL). */
static int emit_pair(cg_run *r, const sl_record *key, const uint8_t *a, uint32_t alen,
                     const uint8_t *b, uint32_t blen)
{
	size_t need = 8 + (size_t)(a ? alen : 0) + (b ? blen : 0);
	if (need > r->cap) {
		r->cap = need * 2;
		r->buf = sl_realloc(r->buf, r->cap);
	}
	uint8_t *p = r->buf;
	put_u32(p, a ? alen : SL_LIST_NULL);
	if (a != NULL && alen > 0)
		memcpy(p + 4, a, alen);
	p += 4 + (a ? alen : 0);
	put_u32(p, b ? blen : SL_LIST_NULL);
	if (b != NULL && blen > 0)
		memcpy(p + 4, b, blen);
	int rv = sl_emit(r->out, key->key, key->key_len, r->buf, need, 0);
	if (rv != 0) {
		snprintf(r->err, r->errlen, "emitting a joined record failed (%d)", rv);
		return rv;
	}
	(*r->emitted)++;
	return SL_OK;
}

/* A cursor over a key's value list; a NULL list yields one absent value
 * (the missing side of an outer join). */
typedef struct {
	const uint8_t *list;
	uint32_t len, off;
	bool absent_done;
} cursor;

static int cursor_next(cursor *c, const uint8_t **e, uint32_t *elen)
{
	if (c->list != NULL)
		return sl_list_next(c->list, c->len, &c->off, e, elen);
	if (c->absent_done)
		return 0;
	c->absent_done = true;
	*e = NULL;
	*elen = 0;
	return 1;
}

/* Emits every pair of one key's two lists. */
static int emit_pairs(cg_run *r, const sl_record *key, const uint8_t *l, uint32_t llen,
                      const uint8_t *rl, uint32_t rlen)
{
	cursor lc = {.list = l, .len = llen};
	const uint8_t *a, *b;
	uint32_t alen, blen;
	int rv, rrv = 0;
	while ((rv = cursor_next(&lc, &a, &alen)) > 0) {
		cursor rc = {.list = rl, .len = rlen};
		while ((rrv = cursor_next(&rc, &b, &blen)) > 0)
			if ((rv = emit_pair(r, key, a, alen, b, blen)) != SL_OK)
				return rv;
		if (rrv < 0)
			return rrv;
	}
	return rv;
}

static int emit_key(cg_run *r, const sl_record *key, const uint8_t *l, uint32_t llen,
                    const uint8_t *rl, uint32_t rlen)
{
	switch (r->kind) {
	case COGROUP_LISTS:
		return emit_pair(r, key, l ? l : (const uint8_t *)"", l ? llen : 0,
		                 rl ? rl : (const uint8_t *)"", rl ? rlen : 0);
	case COGROUP_JOIN:
		return l && rl ? emit_pairs(r, key, l, llen, rl, rlen) : SL_OK;
	case COGROUP_LEFT_OUTER:
		return l ? emit_pairs(r, key, l, llen, rl, rlen) : SL_OK;
	case COGROUP_RIGHT_OUTER:
		return rl ? emit_pairs(r, key, l, llen, rl, rlen) : SL_OK;
	case COGROUP_FULL_OUTER:
		return emit_pairs(r, key, l, llen, rl, rlen);
	}
	return SL_EINVAL;
}

static int group_side(sl_iter *in, kvmap *m, const char *side, char *err, size_t errlen)
{
	sl_record rec;
	int rv;
	while ((rv = sl_iter_next(in, &rec)) > 0)
		kvmap_append(m, rec.key, rec.key_len, rec.value, rec.value_len);
	if (rv < 0)
		snprintf(err, errlen, "the %s side's records are malformed", side);
	return rv < 0 ? SL_EPROTO : SL_OK;
}

/* Left keys (with their right lists, if any), then keys only on the right. */
static int emit_all(cg_run *r, kvmap *left, kvmap *right)
{
	size_t pos = 0;
	sl_record k;
	uint32_t olen;
	int rv = SL_OK;
	while (rv == SL_OK && kvmap_next(left, &pos, &k)) {
		const uint8_t *other = kvmap_get(right, k.key, k.key_len, &olen);
		rv = emit_key(r, &k, k.value, k.value_len, other, other ? olen : 0);
	}
	for (pos = 0; rv == SL_OK && kvmap_next(right, &pos, &k);)
		if (kvmap_get(left, k.key, k.key_len, &olen) == NULL)
			rv = emit_key(r, &k, NULL, 0, k.value, k.value_len);
	if (rv == SL_EPROTO)
		snprintf(r->err, r->errlen, "a grouped value list is malformed");
	return rv;
}

int cogroup_run(cogroup_kind kind, sl_iter *left, sl_iter *right, sl_emitter *out,
                uint64_t *emitted, char *err, size_t errlen)
{
	kvmap *lm = kvmap_new(), *rm = kvmap_new();
	cg_run r = {
	    .kind = kind, .out = out, .emitted = emitted, .err = err, .errlen = errlen};
	int rv = group_side(left, lm, "left", err, errlen);
	if (rv == SL_OK)
		rv = group_side(right, rm, "right", err, errlen);
	if (rv == SL_OK)
		rv = emit_all(&r, lm, rm);
	sl_free(r.buf);
	kvmap_free(lm);
	kvmap_free(rm);
	return rv;
}

static int rbuf_iter_records(sl_iter *it, sl_record *r)
{
	return rbuf_iter_next(it->arg, r);
}

int cogroup_run_buffers(cogroup_kind kind, const rbuf *left, const rbuf *right,
                        sl_emitter *out, uint64_t *emitted, char *err, size_t errlen)
{
	rbuf_iter li, ri;
	rbuf_iter_init(&li, left->data, left->len);
	rbuf_iter_init(&ri, right->data, right->len);
	sl_iter l = {.next = rbuf_iter_records, .arg = &li};
	sl_iter r = {.next = rbuf_iter_records, .arg = &ri};
	return cogroup_run(kind, &l, &r, out, emitted, err, errlen);
}

typedef struct {
	const kvmap *m;
	size_t pos;
} map_cursor;

static int map_iter_records(sl_iter *it, sl_record *r)
{
	map_cursor *c = it->arg;
	return kvmap_next(c->m, &c->pos, r) ? 1 : 0;
}

int cogroup_run_maps(cogroup_kind kind, const kvmap *left, const kvmap *right,
                     sl_emitter *out, uint64_t *emitted, char *err, size_t errlen)
{
	map_cursor lc = {.m = left}, rc = {.m = right};
	sl_iter l = {.next = map_iter_records, .arg = &lc};
	sl_iter r = {.next = map_iter_records, .arg = &rc};
	return cogroup_run(kind, &l, &r, out, emitted, err, errlen);
}
