/*
 * Sluice job API: what a job library compiles against.
 *
 * A job is a shared library that exports one function,
 *
 *     int sluice_job_define(sl_ctx *ctx);
 *
 * which builds the job's DStream graph with the calls below and returns 0.
 * `sluice submit` loads the library, runs the function, checks the graph,
 * and sends graph + library bytes + configuration to the master. Workers
 * load the same library and call the user functions named in the graph.
 *
 * User functions are named by their exported symbol (a string), because the
 * graph crosses process boundaries: declare them non-static. Names starting
 * with "sl_" are Sluice's built-ins (split words, i64 sum/count/min/max...).
 * A name the library does not export is refused at submit.
 *
 * Records are (key bytes, value bytes, event time in ms). Integers in values
 * are 8-byte little-endian (sl_i64_encode/decode); use them with the i64
 * built-ins.
 *
 * Build a job with:  cc -shared -fPIC -I<sluice>/include job.c -o job.so
 * (no library to link: the sl_* functions are provided by the process that
 * loads the job.)
 *
 * Graph-building calls never fail outright: an error (bad argument, NULL
 * input) is remembered in the context, later calls become no-ops, and
 * submission reports the first error. Graph-building runs in the client only;
 * the runtime calls (sl_emit*, sl_iter_next, sl_task_*, sl_state_*) only
 * inside user functions on workers.
 *
 * WHAT A USER FUNCTION MAY RELY ON (docs/job-api.md, "The contract")
 *
 * Threads. A worker loads the library once and runs tasks on several slot
 * threads at the same time: the same function runs concurrently for
 * different partitions, batches and jobs of that library, in one process.
 * Within one task calls are sequential. Global or static mutable data must
 * therefore be synchronised (or thread-local); nothing kept in memory
 * survives a worker's death, and a task may run again (retry, recovery), so
 * side effects must be idempotent (sl_task_attempt() tells retries apart).
 *
 * Ownership. Everything passed in (`in` records, key/value/state bytes, the
 * iterators, a reduce function's a and b) belongs to Sluice and is valid
 * only during the call (an iterator's record until the next sl_iter_next):
 * copy what you keep. sl_emit copies (or fully consumes) key and value
 * before it returns, so a function may emit from a stack or reused buffer
 * and free it right after. A function never frees what it was given.
 *
 * Return values. Every function returning int returns 0 on success; ANY
 * other value fails the task (negative by convention, e.g. an sl_err; a
 * positive value is not success either, so a stray `return 1` cannot pass
 * silently): the batch's task is retried, up to spark.task.maxFailures
 * attempts in all, preferably on another worker, and the error names the
 * function, its node and the value. The one exception is filter, whose
 * result is a decision: > 0 keeps the record, 0 drops it, < 0 fails.
 * sl_emit returns 0, or a negative sl_err when the record could not be
 * taken (downstream function failed, record over 2 GiB): return it.
 */
#ifndef SLUICE_SLUICE_H
#define SLUICE_SLUICE_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- records and user function types ---- */

typedef struct {
	const uint8_t *key;
	uint32_t key_len;
	const uint8_t *value;
	uint32_t value_len;
	int64_t event_time_ms;
} sl_record;

typedef struct sl_emitter sl_emitter; /* where a function writes its output */
typedef struct sl_iter sl_iter;       /* a partition's records, read once */
typedef struct sl_value sl_value;     /* a reduce function's result */

/* map, flat_map, map_to_pair: read `in`, emit 0..n records (map: exactly
 * one). The output's event time is what the function passes to sl_emit:
 * pass in->event_time_ms to keep the input's. 0 = success, else failure. */
typedef int (*sl_map_fn)(const sl_record *in, sl_emitter *out);
/* filter: > 0 keeps the record, 0 drops it, < 0 fails the task. */
typedef int (*sl_filter_fn)(const sl_record *in);
/* reduce: combine two values of one key into out (sl_value_set; out starts
 * empty and never aliases a or b). Must be associative and commutative (it
 * runs map-side and reduce-side, in no fixed order). */
typedef int (*sl_reduce_fn)(const uint8_t *a, uint32_t alen, const uint8_t *b,
                            uint32_t blen, sl_value *out);
/* foreach_partition: every record of one output partition of one batch.
 * (batch_time_ms, partition) identifies the data for idempotent writes. */
typedef int (*sl_partition_fn)(int64_t batch_time_ms, int partition, sl_iter *records);
/* transform: the whole batch in one call. */
typedef int (*sl_transform_fn)(int64_t batch_time_ms, sl_iter *in, sl_emitter *out);
/* generator: the record with index `index` (0-based, within the batch) of
 * the batch at batch_time_ms; emit exactly one record. */
typedef int (*sl_generator_fn)(int64_t batch_time_ms, int64_t index, sl_emitter *out);

/* update_state_by_key: called every batch for every key that has new values
 * in the batch or a state (Spark's updateStateByKey). `values` iterates the
 * key's values of this batch (none when only a state exists); `state` is the
 * key's state (NULL, state_len 0, when it has none). Set the new state with
 * sl_value_set(new_state, ...); leaving new_state unset removes the key
 * (Spark's None). To keep a state unchanged, set it again. */
typedef int (*sl_update_state_fn)(const uint8_t *key, uint32_t key_len, sl_iter *values,
                                  const uint8_t *state, uint32_t state_len,
                                  sl_value *new_state);
/* map_with_state: called once per record of the batch (in != NULL), and once
 * for a key whose state timed out (in == NULL, sl_state_is_timing_out() is
 * 1; the state is removed after the call whatever the function does). Read
 * and change the key's state through `state`; emit 0..n mapped records. */
typedef struct sl_state sl_state;
typedef int (*sl_map_state_fn)(const uint8_t *key, uint32_t key_len, const sl_record *in,
                               sl_state *state, sl_emitter *out);
/* initial state of update_state_by_key / map_with_state: emit (key, state)
 * records; called once when the job's state is first created (not after a
 * recovery, which reloads the checkpoint). Must be deterministic. */
typedef int (*sl_initial_state_fn)(sl_emitter *out);
/* assign_event_time: set *event_time_ms for the record (ms since the epoch). */
typedef int (*sl_event_time_fn)(const sl_record *in, int64_t *event_time_ms);

/* ---- runtime calls, inside user functions ---- */

/* Emits one record; key and value are copied before it returns (NULL with a
 * length of 0 is an empty key or value). event_time_ms becomes the record's
 * event time (what event-time windows read; pass in->event_time_ms to keep
 * the input's). 0, or a negative sl_err to return from the function. */
int sl_emit(sl_emitter *out, const void *key, size_t key_len, const void *value,
            size_t value_len, int64_t event_time_ms);
/* sl_emit(out, NULL, 0, value, value_len, 0): no key, event time 0. */
int sl_emit_value(sl_emitter *out, const void *value, size_t value_len);
/* Returns 1 and fills *rec while records remain, 0 at the end. The record's
 * bytes stay valid until the next call. */
int sl_iter_next(sl_iter *it, sl_record *rec);
void sl_value_set(sl_value *out, const void *data, size_t len);

/* The task running the current function: batch time, partition, attempt
 * (0 for the first), and the job's configuration (NULL when unset; a
 * lookup, ~30 ns: fine per record, cheaper still read once per task). */
int64_t sl_task_batch_time(void);
int sl_task_partition(void);
int sl_task_attempt(void);
const char *sl_task_conf(const char *key);

/* The state of map_with_state's key. sl_state_get returns NULL (and *len 0)
 * when the key has no state; the bytes stay valid until the function
 * returns or changes the state. update and remove take effect when the
 * function returns 0 (a failed call leaves the stored state as it was). */
int sl_state_exists(const sl_state *st);
const uint8_t *sl_state_get(const sl_state *st, uint32_t *len);
int sl_state_update(sl_state *st, const void *data, size_t len);
void sl_state_remove(sl_state *st);
int sl_state_is_timing_out(const sl_state *st);

/* Value lists: group_by_key's value (a key's values, in no fixed order),
 * and the values of joins and cogroup (docs/job-api.md):
 * elements back to back, each a u32 little-endian length then its bytes; a
 * length of SL_LIST_NULL (no bytes follow) is an absent value, as an
 * outer join's missing side. Walk one with
 *     uint32_t off = 0; const uint8_t *e; uint32_t elen;
 *     while ((rv = sl_list_next(v, vlen, &off, &e, &elen)) > 0) ...
 * 1 = an element in e and elen (e NULL for an absent value), 0 = end,
 * SL_EPROTO = malformed (a length runs past the end). */
#define SL_LIST_NULL UINT32_MAX
int sl_list_next(const uint8_t *list, uint32_t len, uint32_t *off, const uint8_t **elem,
                 uint32_t *elem_len);

void sl_i64_encode(int64_t v, uint8_t out[8]);
int64_t sl_i64_decode(const uint8_t *p, uint32_t len); /* 0 when len != 8 */

/* ---- graph building (in sluice_job_define) ---- */

typedef struct sl_ctx sl_ctx;
typedef struct sl_stream sl_stream;

/* The job's configuration, as given at submit (--conf k=v); def when unset. */
const char *sl_conf_get(sl_ctx *ctx, const char *key, const char *def);
/* Records an error; submission fails with this message. Returns -1. */
int sl_fail(sl_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sources */
sl_stream *sl_socket_text_stream(sl_ctx *ctx, const char *host, int port);
sl_stream *sl_text_file_stream(sl_ctx *ctx, const char *dir);
/* `rate` records per second split over `partitions` tasks per batch, each
 * record made by gen_fn ("sl_gen_words": words from a fixed vocabulary). */
sl_stream *sl_generator_stream(sl_ctx *ctx, const char *gen_fn, int64_t rate,
                               int partitions);

/* Kafka direct stream (no receiver): every batch reads, per partition of the
 * topics (comma-separated; new partitions are found every batch), exactly
 * the offset range [from, until) planned for it. params: "k=v;k=v" with
 * librdkafka properties (bootstrap.servers required, group.id,
 * auto.offset.reset=earliest|latest, ...) and Sluice's: starting.offsets=
 * "topic:partition:offset,...", commit.offsets=true (commit to group.id after
 * the batch's outputs), poll.timeout.ms. See docs/kafka.md. */
sl_stream *sl_kafka_direct_stream(sl_ctx *ctx, const char *topics, const char *params);

/* Narrow transformations */
sl_stream *sl_map(sl_stream *s, const char *fn);
sl_stream *sl_flat_map(sl_stream *s, const char *fn);
sl_stream *sl_filter(sl_stream *s, const char *fn);
sl_stream *sl_map_to_pair(sl_stream *s, const char *fn);
sl_stream *sl_union(sl_stream *a, sl_stream *b);

/* Shuffles; partitions 0 = sluice.shuffle.partitions (default: total slots) */
sl_stream *sl_reduce_by_key(sl_stream *s, const char *reduce_fn, int partitions);
/* group_by_key: one record per key; its value is the value list of the
 * key's values (see sl_list_next), shown as "[a,b,...]" by print and save. */
sl_stream *sl_group_by_key(sl_stream *s, int partitions);
sl_stream *sl_count_by_key(sl_stream *s, int partitions);
sl_stream *sl_repartition(sl_stream *s, int partitions);
sl_stream *sl_transform(sl_stream *s, const char *fn);

/* Windows over batch time (Spark's DStream windows). Durations are in ms;
 * length and slide must be positive multiples of the batch interval, slide
 * at most length: otherwise submit refuses the job naming the node and the
 * numbers. A windowed stream produces output every `slide`, over the batches
 * of the last `length`. */
sl_stream *sl_window(sl_stream *s, int64_t length_ms, int64_t slide_ms);
/* reduce_by_key over the window. With inv_reduce_fn (Spark's incremental
 * form): the previous window's value per key, plus the batches entering,
 * "minus" (inv_reduce_fn(acc, leaving)) the batches leaving; filter_fn
 * (optional, a sl_filter_fn over the (key, value) record) drops keys whose
 * value returns 0, e.g. counts back to zero. Without inv_reduce_fn,
 * filter_fn must be NULL. partitions as for reduce_by_key. */
sl_stream *sl_reduce_by_key_and_window(sl_stream *s, const char *reduce_fn,
                                       const char *inv_reduce_fn, const char *filter_fn,
                                       int64_t length_ms, int64_t slide_ms,
                                       int partitions);
/* The number of records in the window: one value-only i64 record. */
sl_stream *sl_count_by_window(sl_stream *s, int64_t length_ms, int64_t slide_ms);
/* The number of times each distinct value occurs in the window: (value, i64). */
sl_stream *sl_count_by_value_and_window(sl_stream *s, int64_t length_ms, int64_t slide_ms,
                                        int partitions);

/* State across batches, partitioned by key on workers and checkpointed
 * every spark.streaming.checkpoint.interval (default 10 batch intervals). */
/* Output: every key's new state, each batch (Spark's updateStateByKey).
 * initial_fn: an sl_initial_state_fn, or NULL. */
sl_stream *sl_update_state_by_key(sl_stream *s, const char *update_fn,
                                  const char *initial_fn, int partitions);
/* map_with_state's specification (Spark's StateSpec). */
typedef struct {
	const char *fn;         /* sl_map_state_fn, required */
	int64_t timeout_ms;     /* idle time after which a key times out; 0 = never */
	const char *initial_fn; /* sl_initial_state_fn, or NULL */
	int partitions;         /* 0 = sluice.shuffle.partitions */
} sl_state_spec;
/* Output: the records the function emits. Touches only the keys present in
 * the batch and those timing out, never every key held. */
sl_stream *sl_map_with_state(sl_stream *s, const sl_state_spec *spec);

/* Joins of two keyed streams, per batch (or per window of windowed
 * streams), on key bytes. Output value: a two-element value list (see
 * sl_list_next) [left value, right value], an absent side as SL_LIST_NULL
 * in the outer joins. One output record per matching pair. partitions as
 * for reduce_by_key; when a and b are both outputs of reduce_by_key,
 * count_by_key, group_by_key, reduce_by_key_and_window or
 * count_by_value_and_window with the same partition count, and partitions
 * is 0 or that count, the join reads their partitions as they are (no
 * second shuffle of either side). */
sl_stream *sl_join(sl_stream *a, sl_stream *b, int partitions);
sl_stream *sl_left_outer_join(sl_stream *a, sl_stream *b, int partitions);
sl_stream *sl_right_outer_join(sl_stream *a, sl_stream *b, int partitions);
sl_stream *sl_full_outer_join(sl_stream *a, sl_stream *b, int partitions);
/* One record per key present on either side: value = a two-element list
 * whose elements are themselves value lists (a's values, b's values). */
sl_stream *sl_cogroup(sl_stream *a, sl_stream *b, int partitions);

/* Event time (beyond DStreams, as Structured Streaming and Flink).
 * Records carry event time: a Kafka message's timestamp, the time given to
 * sl_emit, or what assign_event_time's function sets (narrow). */
sl_stream *sl_assign_event_time(sl_stream *s, const char *fn);
/* Windows [start, start + length) on event time, start a multiple of
 * slide; reduce_fn per (window, key), NULL = count records (i64). The
 * watermark is the largest event time seen minus allowed_lateness_ms
 * (>= 0); a window's result is emitted once when the watermark passes its
 * end, updated for late records within the lateness, and records later
 * than that are dropped and counted. An output record's event time is its
 * window's last millisecond (end - 1), as in Flink. length and slide > 0,
 * slide <= length; they need not be multiples of the batch interval. */
sl_stream *sl_event_time_window(sl_stream *s, const char *reduce_fn, int64_t length_ms,
                                int64_t slide_ms, int64_t allowed_lateness_ms,
                                int partitions);

/* Outputs: each output is one job per batch */
void sl_print(sl_stream *s, int num);
/* Writes each batch to the directory PREFIX-<batch time ms>[.SUFFIX], made
 * visible atomically (rename) once every partition is written. */
void sl_save_as_text_files(sl_stream *s, const char *prefix, const char *suffix);
void sl_foreach_partition(sl_stream *s, const char *fn);
/* Writes records (key, value) to a Kafka topic with an idempotent producer.
 * params: librdkafka properties (bootstrap.servers required) and
 * exactly_once=true: each (batch, output partition) in one transaction, so a
 * re-run batch neither loses nor duplicates records for read_committed
 * readers. message.timeout.ms must stay below transaction.timeout.ms. */
void sl_kafka_sink(sl_stream *s, const char *topic, const char *params);

/* How outputs show values: text (default) or i64. Built-ins that produce
 * i64 values set this themselves. */
/* SL_FORMAT_LIST: a value list, "[a,b]" (an absent element as "null");
 * SL_FORMAT_LISTS: a list of value lists (cogroup), "[[a,b],[c]]". */
typedef enum {
	SL_FORMAT_TEXT = 0,
	SL_FORMAT_I64 = 1,
	SL_FORMAT_LIST = 2,
	SL_FORMAT_LISTS = 3
} sl_format;
sl_stream *sl_with_value_format(sl_stream *s, sl_format f);
/* A name for logs and the console. */
sl_stream *sl_named(sl_stream *s, const char *name);

/* ---- built-in functions (name them as strings) ----
 * "sl_split_words"  flat_map: value split on whitespace, one word a value
 * "sl_pair_one"     map_to_pair: value -> (value, i64 1)
 * "sl_sum_i64", "sl_min_i64", "sl_max_i64"   reduce over i64 values
 * "sl_sub_i64"      reduce: a - b, sl_sum_i64's inverse for windows
 * "sl_nonzero_i64"  filter: keeps records whose i64 value is not 0
 * "sl_gen_words"    generator: a word from a fixed 1000-word vocabulary
 * "sl_gen_lines"    generator: a line of 8 words
 */

#ifdef __cplusplus
}
#endif

#endif
