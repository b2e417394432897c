/*
 * Counting allocator: see alloc.h. The counter is a relaxed atomic; it is a
 * leak detector for tests, not an accounting of bytes (budgets live in the
 * block manager).
 */
#include "alloc.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int_fast64_t alloc_count;

static void *alloc_check(void *p, size_t n)
{
	if (p == NULL && n != 0) {
		fprintf(stderr, "sluice: out of memory allocating %zu bytes\n", n);
		abort();
	}
	return p;
}

void *sl_malloc(size_t n)
{
	void *p = alloc_check(malloc(n ? n : 1), n);
	atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
	return p;
}

void *sl_calloc(size_t count, size_t n)
{
	void *p = alloc_check(calloc(count ? count : 1, n ? n : 1), count * n);
	atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed);
	return p;
}

void *sl_realloc(void *p, size_t n)
{
	if (p == NULL)
		return sl_malloc(n);
	return alloc_check(realloc(p, n ? n : 1), n);
}

void sl_free(void *p)
{
	if (p == NULL)
		return;
	atomic_fetch_sub_explicit(&alloc_count, 1, memory_order_relaxed);
	free(p);
}

char *sl_strndup(const char *s, size_t n)
{
	char *d = sl_malloc(n + 1);
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *sl_strdup(const char *s)
{
	return sl_strndup(s, strlen(s));
}

char *sl_asprintf(const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *s = sl_malloc((size_t)(n < 0 ? 0 : n) + 1);
	vsnprintf(s, (size_t)(n < 0 ? 0 : n) + 1, fmt, ap2);
	va_end(ap2);
	return s;
}

int64_t alloc_live(void)
{
	return atomic_load_explicit(&alloc_count, memory_order_relaxed);
}
