/*
 * Prometheus text exposition: see promtext.h.
 */
#include "promtext.h"

#include "alloc.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void put(promtext *p, const char *s, size_t n)
{
	if (p->len + n + 1 > p->cap) {
		size_t cap = p->cap ? p->cap : 1024;
		while (p->len + n + 1 > cap)
			cap *= 2;
		p->buf = sl_realloc(p->buf, cap);
		p->cap = cap;
	}
	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
}

static void puts_(promtext *p, const char *s)
{
	put(p, s, strlen(s));
}

static void putf(promtext *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(promtext *p, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(p, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* HELP text escapes backslash and newline; label values also the quote. */
static void put_escaped(promtext *p, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			puts_(p, "\\\\");
		else if (*s == '\n')
			puts_(p, "\\n");
		else if (quote && *s == '"')
			puts_(p, "\\\"");
		else
			put(p, s, 1);
	}
}

void promtext_family(promtext *p, const char *name, const char *type, const char *help)
{
	putf(p, "# HELP %s ", name);
	put_escaped(p, help, 0);
	putf(p, "\n# TYPE %s %s\n", name, type);
}

void promtext_sample(promtext *p, const char *name, const char *const *labels,
                     double value)
{
	puts_(p, name);
	if (labels != NULL && labels[0] != NULL) {
		puts_(p, "{");
		for (size_t i = 0; labels[i] != NULL && labels[i + 1] != NULL; i += 2) {
			if (i > 0)
				puts_(p, ",");
			putf(p, "%s=\"", labels[i]);
			put_escaped(p, labels[i + 1], 1);
			puts_(p, "\"");
		}
		puts_(p, "}");
	}
	if (isnan(value))
		puts_(p, " NaN\n");
	else if (isinf(value))
		puts_(p, value > 0 ? " +Inf\n" : " -Inf\n");
	else if (value == floor(value) && fabs(value) < 1e15)
		putf(p, " %.0f\n", value);
	else
		putf(p, " %.17g\n", value);
}

char *promtext_take(promtext *p, size_t *len)
{
	if (p->buf == NULL)
		put(p, "", 0);
	char *b = p->buf;
	*len = p->len;
	p->buf = NULL;
	p->len = p->cap = 0;
	return b;
}
