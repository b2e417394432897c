/*
 * Kafka on a worker: reading planned offset ranges (direct stream) and
 * writing a task's output (sink), with clients cached between batches.
 *
 * Reading: one consumer per (job, source node, topic, partition), kept for
 * the worker's life, so the same partition in the next batch reuses a warm
 * connection (the master keeps partitions on the worker that read them).
 * A range [from, until) is read by assign+seek to `from`, then polling until
 * the consumer's position reaches `until` (position, not the last message's
 * offset, so transaction markers inside the range do not stall it).
 * During a backlog (at least another range's worth of records past `until`),
 * for ranges that fit in its prefetch queue (queued.min.messages, default
 * 100,000), the consumer stays assigned after the range, so it fetches the next batch's
 * range, which starts at `until`, while this batch is processed; the
 * messages it had already taken past `until` are kept for that range. Any
 * other range (a re-read by a second output job, a retry, a partition that
 * moved) re-assigns at `from`. A consumer no task used for 10 s is parked.
 * Not thread-safe per consumer: one task at a time holds it.
 *
 * Writing, exactly_once=true: one transaction per (batch, output partition)
 * with transactional.id "sluice-<job>-<node>-p<partition>", the same for
 * every attempt of that output partition on any worker, and a new producer
 * for every task, so its init_transactions fences every older producer of
 * that id (a zombie can no longer commit) and aborts its open transaction. Inside the
 * transaction, beside the records, the offset batch_time+1 is committed for consumer
 * group <transactional.id> on partition 0 of the output topic
 * (send_offsets_to_transaction): the data and this marker commit atomically.
 * A task first reads the marker: if it is already at or past its batch, the
 * batch's output for this partition is committed and the task writes
 * nothing. Errors: an abortable error aborts the transaction; a fatal or
 * fenced error destroys the producer (a new one is made on the next
 * attempt); the task fails either way, and is retried. Never a silent drop.
 *
 * Without exactly_once: an idempotent producer; the task waits for every
 * delivery report and fails if any record was not delivered.
 */
#ifndef SLUICE_WORKER_KAFKA_IO_H
#define SLUICE_WORKER_KAFKA_IO_H

#include "job.pb-c.h"
#include "sluice/sluice.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct kafka_io kafka_io;
typedef struct kafka_out kafka_out;

kafka_io *kafka_io_new(void);
void kafka_io_free(kafka_io *k);

typedef int (*kafka_emit_fn)(void *arg, const sl_record *r);

/* Reads [in->kafka_from, in->kafka_until) of the input's partition. */
int kafka_read_range(kafka_io *k, uint64_t job_id, const Sluice__Node *src,
                     const Sluice__TaskInput *in, kafka_emit_fn emit, void *arg,
                     char *err, size_t errlen);

/* Opens the sink for one task. *done is set when this (batch, partition)
 * was already committed by an earlier attempt: write nothing, close. */
int kafka_out_open(kafka_io *k, const char *job, const Sluice__Node *sink,
                   int64_t batch_ms, uint32_t partition, uint32_t attempt,
                   kafka_out **out, bool *done, char *err, size_t errlen);
int kafka_out_write(kafka_out *o, const sl_record *r, char *err, size_t errlen);
/* Commits (ok) or aborts the task's output and releases the producer. */
int kafka_out_close(kafka_out *o, bool ok, char *err, size_t errlen);

#endif
