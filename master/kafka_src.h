/*
 * The master's side of the Kafka direct stream (Spark's
 * DirectKafkaInputDStream): per Kafka source node of a running job, the
 * partitions of its topics, the next offset to read in each, and for every
 * batch the planned ranges [from, until).
 *
 * Talking to Kafka blocks, so it never happens under the master's lock: the
 * cron thread collects the sources that need a plan for the next batch time
 * (kafka_collect, under the lock), plans them without the lock
 * (kafka_plan: metadata for partition discovery, watermarks, clamp), then
 * under the lock again the JobGenerator takes the ready plan into the batch
 * (kafka_take). Offsets of finished batches are committed to the consumer
 * group the same way (kafka_commit_pending, no lock).
 *
 * Only the master's Kafka thread calls kafka_collect / kafka_plan /
 * kafka_commit_pending; the JobGenerator (cron thread, under the lock) reads
 * a plan only once kafka_plan has published it (plan_ready, written under
 * the lock), and a ksrc lives until the engine is freed.
 */
#ifndef SLUICE_MASTER_KAFKA_SRC_H
#define SLUICE_MASTER_KAFKA_SRC_H

#include "engine_int.h"

typedef struct ksrc ksrc;

/* Creates the sources of a job's Kafka nodes (no network). SL_EKAFKA with a
 * message if a client cannot be made. */
int kafka_init(job *j, char *err, size_t errlen);
void kafka_free(job *j);
/* Under the lock: spark.streaming.kafka.maxRatePerPartition changed (run
 * configuration, live); the next plan of every source of j uses it. */
void kafka_set_max_rate(job *j, int64_t per_partition);

/* Under the lock: appends to *out (up to cap) the sources needing a plan
 * for their job's next batch time; returns how many. */
size_t kafka_collect(struct engine *e, int64_t now_wall, ksrc **out, size_t cap);
/* Without the lock: plans the next batch of one source. */
void kafka_plan(ksrc *k);
/* Without the lock: commits offsets of finished batches, if asked for. */
void kafka_commit_pending(ksrc *k);

/* Before the engine runs (master restart): the next offset of each
 * partition as the checkpoint recorded it. */
void kafka_restore(job *j, const ckpt_range *offsets, size_t n);

/* Under the lock: true when every Kafka source of the job has a plan for t
 * (or the job has none); fails the job on a planning error. */
bool kafka_ready(job *j, int64_t t);
/* Under the lock: moves the plans for b->time_ms into the batch. */
void kafka_take(job *j, batch *b);
/* Under the lock: a batch finished; queue its offsets for commit. */
void kafka_batch_done(job *j, const batch *b);
/* Under the lock: a partition's high watermark as its last plan saw it
 * (the producers' end offset), -1 when not known yet. */
int64_t kafka_end_offset(job *j, uint32_t node, const char *topic, int32_t partition);
/* Under the lock: the worker a partition's last task ran on (locality). */
bool kafka_worker_of(job *j, const char *topic, int32_t partition, char out[32]);
void kafka_note_worker(job *j, const char *topic, int32_t partition, const char *worker);

#endif
