/*
 * The worker's state store: the keyed state of update_state_by_key and
 * map_with_state, one state_part per (job, state node, partition).
 *
 * A state_part holds key -> (state bytes, batch time last touched). Each
 * batch runs as a transaction: state_part_begin, one of the two operators,
 * then state_part_commit (or state_part_abort when the task failed: every
 * change is undone, so a failing user function never leaves half a batch
 * applied). The undo log of the last committed batch is kept until the next
 * batch begins, so a batch that is run again (its task retried after the
 * commit, e.g. an output failed) first rolls back to the version before it:
 * re-running a batch is idempotent. Cost per batch is proportional to what
 * the batch touches, never to the keys held, for map_with_state: timeouts
 * come from a min-heap of deadlines (touched + timeout), not from a scan.
 * update_state_by_key calls its function for every key held (Spark's
 * semantics), so it scans by definition.
 *
 * Checkpoints: state_part_checkpoint writes the committed state to one file,
 * "SLSTATE1" followed by an encoded block (common/record.h: LZ4, CRC-32)
 * whose first record carries the version and timeout and each further
 * record one key (value = i64 deadline then the state, event time = batch
 * time last touched); it
 * is written to a temporary file, fsync'd and renamed, so a reader sees a
 * whole checkpoint or none. state_part_load refuses anything damaged with a
 * message naming the file and the problem. Rebuilding = load the last
 * checkpoint, then run the batches after its version again.
 *
 * Threads: a state_part is not thread-safe; the state_store registry
 * (bottom) hands one to one task at a time.
 */
#ifndef SLUICE_WORKER_STATESTORE_H
#define SLUICE_WORKER_STATESTORE_H

#include "record.h"
#include "sluice/sluice.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STATE_NO_VERSION INT64_MIN

typedef struct state_part state_part;

/* What one operator call did, for metrics, tests and the benchmark. */
typedef struct {
	uint64_t records;   /* input records */
	uint64_t calls;     /* user function calls */
	uint64_t touched;   /* distinct keys looked up or changed */
	uint64_t timed_out; /* keys removed by the timeout */
	uint64_t removed;   /* keys removed by the function */
} state_stats;

/* A new, empty partition; timeout_ms > 0 enables map_with_state timeouts. */
state_part *state_part_new(int64_t timeout_ms);
void state_part_free(state_part *sp);
size_t state_part_keys(const state_part *sp);
/* Approximate bytes held by keys and states. */
size_t state_part_bytes(const state_part *sp);
/* Batch time of the last commit, STATE_NO_VERSION before the first. */
int64_t state_part_version(const state_part *sp);
/* The committed state of key (NULL when absent); valid until the next call
 * that changes the partition. */
const uint8_t *state_part_get(const state_part *sp, const void *key, uint32_t klen,
                              uint32_t *len);

/* Opens batch batch_ms. A batch after the version: its changes start a new
 * undo log. The committed version itself: that batch is rolled back first
 * (a re-run). An older batch: SL_ESTATE with a message (the state must be
 * reloaded from a checkpoint that precedes it). */
int state_part_begin(state_part *sp, int64_t batch_ms, char *err, size_t errlen);
/* Makes the open batch the version. */
void state_part_commit(state_part *sp);
/* Undoes every change of the open batch. */
void state_part_abort(state_part *sp);

/* update_state_by_key for the open batch over the batch's (key, value)
 * records: fn is called once per key with new values or a state; keys left
 * without a state are removed; every key kept is emitted as (key, state).
 * Returns SL_OK, or the function's or emitter's non-zero value (err says
 * which key; the caller then aborts). */
int state_part_update_by_key(state_part *sp, sl_iter *records, sl_update_state_fn fn,
                             sl_emitter *out, state_stats *stats, char *err,
                             size_t errlen);
/* map_with_state for the open batch: fn once per record, in order; then once
 * for every key idle for timeout_ms or more (touched + timeout <= batch
 * time) with in == NULL and the timing-out flag, after which the key is
 * removed. Only those keys are visited. Errors as above. */
int state_part_map_with_state(state_part *sp, sl_iter *records, sl_map_state_fn fn,
                              sl_emitter *out, state_stats *stats, char *err,
                              size_t errlen);
/* Keys with explicit deadlines, for event-time windows (worker/evwindow.c),
 * in the open batch: state_part_reduce folds v into key's state with fn (v
 * becomes the state of a new key) and sets the key's deadline;
 * state_part_expire removes every key whose deadline <= limit, earliest
 * first, after calling fire for it (a non-zero return stops and is
 * returned; that key stays). Do not mix with a timeout (timeout_ms 0). */
int state_part_reduce(state_part *sp, const void *key, uint32_t klen, const uint8_t *v,
                      uint32_t vlen, int64_t deadline_ms, sl_reduce_fn fn, char *err,
                      size_t errlen);
typedef int (*state_fire_fn)(void *arg, const uint8_t *key, uint32_t klen,
                             const uint8_t *value, uint32_t vlen, int64_t deadline_ms);
int state_part_expire(state_part *sp, int64_t limit, state_fire_fn fire, void *arg);

/* Seeds an empty partition from an initial-state function: keeps the
 * (key, state) records it emits whose kvmap_hash(key) % nparts == part,
 * touched at batch_ms. SL_ESTATE when the partition is not empty. */
int state_part_seed(state_part *sp, sl_initial_state_fn fn, uint32_t part,
                    uint32_t nparts, int64_t batch_ms, char *err, size_t errlen);

/* Whether the batch at batch_ms should be checkpointed: the first batch of
 * each checkpoint interval (batch_ms / interval_ms advanced since the last
 * checkpoint). */
bool state_part_checkpoint_due(const state_part *sp, int64_t batch_ms,
                               int64_t interval_ms);
/* The checkpoint interval of a job: spark.streaming.checkpoint.interval when
 * set, else 10 x the batch interval (Spark's rule of thumb). */
struct sl_conf;
int64_t state_checkpoint_interval(const struct sl_conf *conf, int64_t batch_interval_ms);
/* The committed state as a checkpoint's bytes (*out, sl_free), e.g. to keep
 * it as a replicated block rather than a local file. */
int state_part_encode(const state_part *sp, uint8_t **out, size_t *len);
/* Writes the committed state to path (via path.tmp, fsync, rename). Call
 * between batches. SL_EIO with err on failure. */
int state_part_checkpoint(state_part *sp, const char *path, char *err, size_t errlen);
/* Loads a checkpoint into a new partition (*out). SL_EIO when unreadable,
 * SL_EPROTO when damaged, with err naming path and the problem. */
int state_part_load(const char *path, state_part **out, char *err, size_t errlen);
/* The same from a checkpoint's bytes (name for messages; max_raw bounds the
 * decompressed size): SL_EPROTO when damaged. */
int state_part_decode(const uint8_t *data, size_t len, const char *name, size_t max_raw,
                      state_part **out, char *err, size_t errlen);

/* ---- replication (worker/stateops.c): the state as record blocks ---- */

/* The committed state as a full checkpoint's records (the same records as
 * state_part_encode's block), appended to out. */
void state_part_full_records(const state_part *sp, rbuf *out);
/* The last committed batch's changes, appended to out: a meta record
 * (empty key; value = the batch, the version before it and the timeout,
 * three i64), then per key it changed (key, 1 + i64 deadline + state, event
 * time = batch last touched) or (key, 0) when it removed it. Call after
 * state_part_commit and before the next begin. */
void state_part_delta_records(const state_part *sp, rbuf *out);
/* The committed version is checkpointed (state_part_checkpoint_due), and
 * the version last so marked (STATE_NO_VERSION: none). */
void state_part_checkpointed(state_part *sp);
int64_t state_part_checkpoint_version(const state_part *sp);
/* Exchanges the contents of two partitions (a rebuilt one takes the place
 * of the registry's); each keeps its attached object. */
void state_part_swap(state_part *a, state_part *b);
/* An object the partition's user attaches to it (the full checkpoint in
 * flight: stateckpt.h), freed by free_fn when replaced or with the
 * partition; NULL when none. */
void state_part_set_aux(state_part *sp, void *aux, void (*free_fn)(void *));
void *state_part_aux(const state_part *sp);
/* Fills an empty partition from a full checkpoint's records (its version
 * becomes the checkpoint's). SL_ESTATE if sp is not empty, SL_EPROTO with
 * err naming name when damaged. */
int state_part_restore_records(state_part *sp, const rbuf *full, const char *name,
                               char *err, size_t errlen);
/* Applies a delta as its batch, in a transaction like a batch run (so it
 * can be rolled back by a re-run of that batch): the delta must follow the
 * state's version, or be of the committed batch (applied again). SL_ESTATE
 * when it does not follow, SL_EPROTO when damaged, with err. */
int state_part_apply_delta(state_part *sp, const rbuf *delta, const char *name, char *err,
                           size_t errlen);

/* ---- the registry: state partitions of this worker ---- */

typedef struct state_store state_store;

state_store *state_store_new(void);
void state_store_free(state_store *ss);
/* The partition (created on first use with timeout_ms), locked for the
 * caller until state_store_release. Blocks while another task holds it. */
state_part *state_store_acquire(state_store *ss, uint64_t job, uint32_t node,
                                uint32_t part, int64_t timeout_ms);
void state_store_release(state_store *ss, state_part *sp);
/* Drops every partition of a job (none may be held). Returns how many. */
size_t state_store_drop_job(state_store *ss, uint64_t job);

#endif
