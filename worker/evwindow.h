/*
 * Event-time windows (sl_event_time_window) on the worker: the reduce side
 * of one partition, batch by batch, on top of the state store.
 *
 * Windows are [start, start + length) with start a multiple of slide, on the
 * records' event time; each (window, key) is one state_part key (the
 * window's start, 8 bytes big-endian, then the key) whose deadline is the
 * window's end. A batch runs with the watermark the master computed from the
 * batches before it (largest event time seen by every partition, minus the
 * allowed lateness; Structured Streaming's rule), so every partition and
 * every re-run of a batch uses the same one:
 *
 *   - a record is reduced into each of its windows that has not ended by
 *     the watermark (end > watermark): out of order within the lateness
 *     still counts; a record whose windows have all ended (some, with
 *     overlapping windows) is late: not counted there, and counted in
 *     evwin_stats.late once per record;
 *   - then every (window, key) whose end <= watermark is emitted once, as
 *     (key, value) with event time end - 1 (Flink's convention), and
 *     dropped from the state.
 *
 * The batch's largest event time is returned for the master's next
 * watermark. Transactions, re-runs and checkpoints are the state store's:
 * the caller opens and commits the batch on the state_part (timeout 0).
 */
#ifndef SLUICE_WORKER_EVWINDOW_H
#define SLUICE_WORKER_EVWINDOW_H

#include "statestore.h"

#include <stdint.h>

#define EVWIN_NO_WATERMARK INT64_MIN

typedef struct {
	uint64_t records;       /* input records */
	uint64_t late;          /* records that missed at least one window */
	uint64_t emitted;       /* (window, key) results emitted */
	int64_t max_event_time; /* largest event time of the batch, INT64_MIN if none */
} evwin_stats;

typedef struct {
	int64_t length_ms, slide_ms;
	sl_reduce_fn reduce; /* NULL: count records (i64) */
} evwin_spec;

/* The watermark after a batch: max_event_time - lateness, or
 * EVWIN_NO_WATERMARK while no event time has been seen. */
int64_t evwin_watermark(int64_t max_event_time, int64_t lateness_ms);

/* Runs one batch of one partition in sp's open batch (see above). Returns
 * SL_OK, or the reduce function's, the emitter's or the input's failure
 * with err naming it (the caller then aborts the batch). */
int evwin_run(state_part *sp, const evwin_spec *spec, sl_iter *records, int64_t watermark,
              sl_emitter *out, evwin_stats *st, char *err, size_t errlen);

#endif
