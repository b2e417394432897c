/*
 * The reduce side of two-input shuffles: join, left/right/full outer join and
 * cogroup of one reduce partition, from the records both sides' map tasks
 * sent to it (Spark builds every join on cogroup; so do we).
 *
 * Output values are value lists (include/sluice/sluice.h, sl_list_next):
 * a join emits one (key, [left, right]) per matching pair, an outer join's
 * missing side as SL_LIST_NULL; cogroup emits one (key, [left list, right
 * list]) per key present on either side, each element itself a value list
 * (empty when the side has no value). Keys are emitted left side first (its
 * keys in table order), then right-only keys; values of a side in arrival
 * order. Output event time is 0.
 *
 * Not thread-safe; one call per reduce task. Memory: both sides of the
 * partition are held in two hash maps while it runs.
 */
#ifndef SLUICE_WORKER_COGROUP_H
#define SLUICE_WORKER_COGROUP_H

#include "job.pb-c.h"
#include "kvmap.h"
#include "record.h"
#include "sluice/sluice.h"

#include <stdint.h>

typedef enum {
	COGROUP_JOIN,
	COGROUP_LEFT_OUTER,
	COGROUP_RIGHT_OUTER,
	COGROUP_FULL_OUTER,
	COGROUP_LISTS, /* cogroup itself */
} cogroup_kind;

/* The cogroup_kind of a join node kind; SL_EINVAL for any other kind. */
int cogroup_kind_of(Sluice__NodeKind k, cogroup_kind *out);

/* Reads both sides to the end and emits the result into out. Returns
 * SL_OK; SL_EPROTO when an input is malformed; an emitter's non-zero value
 * (the task then fails) — err says what. *emitted counts the records out. */
int cogroup_run(cogroup_kind kind, sl_iter *left, sl_iter *right, sl_emitter *out,
                uint64_t *emitted, char *err, size_t errlen);

/* cogroup_run over two buffers of records (a join task's fetched buckets). */
int cogroup_run_buffers(cogroup_kind kind, const rbuf *left, const rbuf *right,
                        sl_emitter *out, uint64_t *emitted, char *err, size_t errlen);

/* cogroup_run over two reduced sides, one record per key each (a join of
 * sides partitioned alike: each side's own reduce output, see
 * master/plan.c). */
int cogroup_run_maps(cogroup_kind kind, const kvmap *left, const kvmap *right,
                     sl_emitter *out, uint64_t *emitted, char *err, size_t errlen);

#endif
