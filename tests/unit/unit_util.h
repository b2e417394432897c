/*
 * What several unit tests share: the per-test leak check (common/alloc.h
 * counts live allocations; a test must leave the count where it found it),
 * a substring assertion for error messages, and a record list that is an
 * sl_iter (records appended to an rbuf, read back from the start).
 *
 * Include after <cmocka.h>. Everything is static inline: each test binary
 * uses what it needs, without unused-function warnings.
 */
#ifndef SLUICE_UNIT_UTIL_H
#define SLUICE_UNIT_UTIL_H

#include "alloc.h"
#include "api.h"
#include "record.h"

#include <stdio.h>
#include <string.h>

static int64_t unit_live_at_start;

/* Notes the live allocation count (call from a cmocka setup). */
static inline void unit_alloc_mark(void)
{
	unit_live_at_start = alloc_live();
}

/* 0 when the live allocation count is back to the mark, else -1 with both
 * counts on stderr (call from a cmocka teardown: cmocka fails the test). */
static inline int unit_alloc_check(void)
{
	int64_t live = alloc_live();
	if (live == unit_live_at_start)
		return 0;
	fprintf(stderr, "alloc_live: %lld at start, %lld at end\n",
	        (long long)unit_live_at_start, (long long)live);
	return -1;
}

static inline int unit_setup(void **state)
{
	(void)state;
	unit_alloc_mark();
	return 0;
}

static inline int unit_teardown(void **state)
{
	(void)state;
	return unit_alloc_check();
}

static inline void assert_contains(const char *s, const char *part)
{
	if (s == NULL || strstr(s, part) == NULL)
		fail_msg("expected \"%s\" in \"%s\"", part, s ? s : "(null)");
}

/* Records to feed an operator: recs_init, rbuf_append to r->buf, then
 * recs_rewind before each read through &r->base. */
typedef struct {
	sl_iter base;
	rbuf buf;
	rbuf_iter it;
} recs;

static inline int recs_next(sl_iter *it, sl_record *r)
{
	return rbuf_iter_next(&((recs *)it)->it, r);
}

static inline void recs_init(recs *r)
{
	rbuf_init(&r->buf);
	r->base.next = recs_next;
}

static inline void recs_rewind(recs *r)
{
	rbuf_iter_init(&r->it, r->buf.data, r->buf.len);
}

#endif
