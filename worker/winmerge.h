/*
 * The incremental window of reduce_by_key_and_window with an inverse
 * function (Spark's ReducedWindowedDStream): a window's value per key is the
 * previous window's value, "minus" the batches that left the window, "plus"
 * the batches that entered it, so each slide costs the batches that moved,
 * not the whole window.
 *
 * For each key, as Spark merges them:
 *   previous value and no change      -> the previous value
 *   previous value                    -> inv(prev, reduce(leaving...)), then
 *                                        reduce(that, reduce(entering...))
 *   no previous value, entering       -> reduce(entering...)
 *   no previous value, only leaving   -> an error: a leaving batch's key must
 *                                        be in the previous window
 * then filter (when given) drops the keys for which it returns 0 (e.g. a
 * count back to 0), which is what keeps the state from growing with every
 * key ever seen. Keys are emitted in table order; event time 0.
 *
 * Not thread-safe; one call per reduce partition and slide.
 */
#ifndef SLUICE_WORKER_WINMERGE_H
#define SLUICE_WORKER_WINMERGE_H

#include "sluice/sluice.h"

#include <stdint.h>

/* prev: the previous window's (key, value) records for this partition (each
 * key once); leaving and entering: the (key, value) records of the batches
 * leaving and entering the window (a key may repeat). reduce and inv are
 * required, filter optional. Returns SL_OK, or the first failure: a user
 * function's non-zero value, SL_EPROTO for a malformed input or a key that
 * leaves without being in the previous window, an emitter's value; err
 * names the key and what failed. *emitted counts the records out. */
int winmerge_run(sl_iter *prev, sl_iter *leaving, sl_iter *entering, sl_reduce_fn reduce,
                 sl_reduce_fn inv, sl_filter_fn filter, sl_emitter *out,
                 uint64_t *emitted, char *err, size_t errlen);

#endif
