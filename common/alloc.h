/*
 * One allocation wrapper for the whole runtime.
 *
 * Every allocation in common/, master/ and worker/ goes through these so that
 * tests can count live allocations (alloc_live()) and catch leaks without
 * valgrind, and so that an allocation failure is handled in one place:
 * sl_malloc and friends abort the process with a message on out-of-memory,
 * as Redis's zmalloc does; memory budgets (block store, execution) are
 * enforced above this layer, before allocation, so an abort here means the
 * machine itself is out of memory. Thread-safe.
 */
#ifndef SLUICE_ALLOC_H
#define SLUICE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *sl_malloc(size_t n);
void *sl_calloc(size_t count, size_t n);
void *sl_realloc(void *p, size_t n);
void sl_free(void *p);
char *sl_strdup(const char *s);
char *sl_strndup(const char *s, size_t n);
/* printf into a new string; caller frees with sl_free. */
char *sl_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Number of allocations made through this wrapper and not yet freed. */
int64_t alloc_live(void);

#endif
