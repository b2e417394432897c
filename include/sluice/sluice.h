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
 * the runtime calls (sl_emit*, sl_iter_next, sl_task_*) only inside user
 * functions on workers.
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

/* map, flat_map, map_to_pair: read `in`, emit 0..n records. Return 0, or a
 * negative value to fail the task (it is retried, up to spark.task.maxFailures). */
typedef int (*sl_map_fn)(const sl_record *in, sl_emitter *out);
/* filter: 1 keeps the record, 0 drops it, negative fails the task. */
typedef int (*sl_filter_fn)(const sl_record *in);
/* reduce: combine two values of one key into out. Must be associative and
 * commutative (it runs map-side and reduce-side). */
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

/* ---- runtime calls, inside user functions ---- */

int sl_emit(sl_emitter *out, const void *key, size_t key_len, const void *value,
            size_t value_len, int64_t event_time_ms);
/* Emits a value-only record with the input's event time semantics left to the caller. */
int sl_emit_value(sl_emitter *out, const void *value, size_t value_len);
/* Returns 1 and fills *rec while records remain, 0 at the end. The record's
 * bytes stay valid until the next call. */
int sl_iter_next(sl_iter *it, sl_record *rec);
void sl_value_set(sl_value *out, const void *data, size_t len);

/* The task running the current function: batch time, partition, attempt
 * (0 for the first), and the job's configuration (NULL when unset). */
int64_t sl_task_batch_time(void);
int sl_task_partition(void);
int sl_task_attempt(void);
const char *sl_task_conf(const char *key);

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
sl_stream *sl_group_by_key(sl_stream *s, int partitions);
sl_stream *sl_count_by_key(sl_stream *s, int partitions);
sl_stream *sl_repartition(sl_stream *s, int partitions);
sl_stream *sl_transform(sl_stream *s, const char *fn);

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
typedef enum { SL_FORMAT_TEXT = 0, SL_FORMAT_I64 = 1, SL_FORMAT_LIST = 2 } sl_format;
sl_stream *sl_with_value_format(sl_stream *s, sl_format f);
/* A name for logs and the console. */
sl_stream *sl_named(sl_stream *s, const char *name);

/* ---- built-in functions (name them as strings) ----
 * "sl_split_words"  flat_map: value split on whitespace, one word a value
 * "sl_pair_one"     map_to_pair: value -> (value, i64 1)
 * "sl_sum_i64", "sl_min_i64", "sl_max_i64"   reduce over i64 values
 * "sl_gen_words"    generator: a word from a fixed 1000-word vocabulary
 * "sl_gen_lines"    generator: a line of 8 words
 */

#ifdef __cplusplus
}
#endif

#endif
