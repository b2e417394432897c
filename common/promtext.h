/*
 * Prometheus text exposition format (version 0.0.4), for the master's and
 * the workers' /metrics.
 *
 * A growable buffer plus three calls: one family header (HELP and TYPE),
 * then its samples with optional labels. Label values are escaped as the
 * format requires (backslash, double quote, newline), so names of jobs and
 * topics that come from users cannot break the page. Metric and label
 * names are the caller's constants and must follow Prometheus' naming rules
 * ([a-zA-Z_:][a-zA-Z0-9_:]*), with units as suffixes (_seconds, _bytes,
 * _total for counters).
 */
#ifndef SLUICE_PROMTEXT_H
#define SLUICE_PROMTEXT_H

#include <stddef.h>

typedef struct {
	char *buf; /* sl_malloc'd, NUL-terminated; take it with promtext_take */
	size_t len, cap;
} promtext;

/* Writes "# HELP name help" and "# TYPE name type" (type: counter, gauge,
 * untyped). Call once per family, before its samples. */
void promtext_family(promtext *p, const char *name, const char *type, const char *help);

/* Writes one sample. labels is NULL or a NULL-terminated list of
 * alternating label names and values: {"job", "wc", "stream", "0", NULL}. */
void promtext_sample(promtext *p, const char *name, const char *const *labels,
                     double value);

/* Returns the page and its length, leaving p empty; free with sl_free. */
char *promtext_take(promtext *p, size_t *len);

#endif
