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

/* The same merge for one key of a window kept in a state store
 * (stateops.c: the previous window is the key's state). values are the
 * key's records of the slide, each value tagged by its first byte: '+' a
 * reduced entering batch, '-' a reduced leaving one. prev is the previous
 * value (NULL: none). Sets out (empty on entry) to the key's new value,
 * or leaves it empty when the key drops: the filter returned 0, or it had
 * no previous value and nothing entered. Returns SL_OK, a user function's
 * non-zero value, or SL_EPROTO (an untagged value, a key that leaves
 * without a previous value); err names the key. */
typedef struct {
	sl_reduce_fn reduce, inv;
	sl_filter_fn filter;
} winmerge_fns;

int winmerge_key(const winmerge_fns *f, const uint8_t *key, uint32_t klen,
                 sl_iter *values, const uint8_t *prev, uint32_t plen, sl_value *out,
                 char *err, size_t errlen);

#endif
