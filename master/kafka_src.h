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
 * A job's sources are a kset of its own: the planner gets what it needs as
 * arguments (graph, configuration, name, the stream rates through a
 * callback) and hands offset ranges to the job generator, never reading the
 * job (it feeds the generator, which calls in; it calls nothing above).
 *
 * Only the master's Kafka thread calls kafka_plan / kafka_commit_pending; the
 * JobGenerator (cron thread, under the lock) reads a plan only once kafka_plan has
 * published it (plan_ready, written under the lock), and a ksrc lives until the engine is
 * freed.
 */
#ifndef SLUICE_MASTER_KAFKA_SRC_H
#define SLUICE_MASTER_KAFKA_SRC_H

#include "checkpoint.h"
#include "config.h"
#include "job.pb-c.h"
#include "tasksched.h"

#include <pthread.h>

typedef struct ksrc ksrc;

/* The Kafka direct streams of one job. */
typedef struct {
	ksrc **v;
	size_t n;
} kset;

/* Under the lock: spark.streaming.kafka.maxRatePerPartition changed (run
 * configuration, live); the next plan of every source of ks uses it. */
void kafka_set_max_rate(kset *ks, int64_t per_partition);

/* The stream-wide rate limit of a source node for its next batch
 * (records/s), -1 for none (the rate controller's; ratecontrol.h). */
typedef double (*kafka_rate_fn)(void *arg, uint32_t node);

/* Creates the sources of the graph's Kafka nodes (no network); name (the
 * job's, used in logs and the default group id) and lock (the master's,
 * taken by the Kafka thread to publish) outlive the set. SL_EKAFKA with a
 * message if a client cannot be made. */
int kafka_init(kset *ks, const Sluice__JobGraph *g, const sl_conf *conf, const char *name,
               int64_t interval_ms, pthread_mutex_t *lock, char *err, size_t errlen);
void kafka_free(kset *ks);

/* Under the lock: appends to *out (up to cap) the sources of ks needing a
 * plan for batch time t (the rate of each read through rate); returns how
 * many. */
size_t kafka_collect(kset *ks, int64_t t, kafka_rate_fn rate, void *arg, ksrc **out,
                     size_t cap);
/* Without the lock: plans the next batch of one source. */
void kafka_plan(ksrc *k);
/* Without the lock: commits offsets of finished batches, if asked for. */
void kafka_commit_pending(ksrc *k);

/* Before the engine runs (master restart): the next offset of each
 * partition as the checkpoint recorded it. */
void kafka_restore(kset *ks, const ckpt_range *offsets, size_t n);

/* Under the lock: true when every source of ks has a plan for t (or there
 * is none). A planning error that persists is written to halt (the job
 * must fail); a passing one is logged and retried. */
bool kafka_ready(kset *ks, int64_t t, char *halt, size_t halt_len);
/* Under the lock: appends the plans for the batch to *kr (taking them) and
 * adds their record counts to *records. */
void kafka_take(kset *ks, krange **kr, size_t *nkr, uint64_t *records);
/* Under the lock: a batch finished; queue its offsets for commit. */
void kafka_batch_done(kset *ks, const krange *kr, size_t nkr);
/* Under the lock: a partition's high watermark as its last plan saw it
 * (the producers' end offset), -1 when not known yet. */
int64_t kafka_end_offset(kset *ks, uint32_t node, const char *topic, int32_t partition);
/* Under the lock: the worker a partition's last task ran on (locality). */
bool kafka_worker_of(kset *ks, const char *topic, int32_t partition, char out[32]);
void kafka_note_worker(kset *ks, const char *topic, int32_t partition,
                       const char *worker);

#endif
