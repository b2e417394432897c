/* Kafka reading and writing on a worker: see kafka_io.h. */
#include "kafka_io.h"
#include "alloc.h"
#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "sluice/err.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KAFKA_OP_TIMEOUT_MS 30000
/* Messages taken from the consumer queue at a time. */
#define KAFKA_READ_BATCH 1024
/* A consumer left assigned after its range is parked when no task has used
 * it for this long. */
#define KAFKA_KEEP_MS 10000
/* A source consumer's prefetch queue unless the job sets it: librdkafka's
 * queued.min.messages (default 100,000) and queued.max.messages.kbytes
 * (64 MiB). Its fetcher stops at either and fetcher_wake restarts it, so a
 * small queue costs no waiting; 100,000 messages of 100 bytes held ~30 MB
 * per partition (docs/performance.md, third pass). */
#define KAFKA_QUEUED_MIN 2000
#define KAFKA_QUEUED_KB  1024
/* Records produced between two rd_kafka_poll calls of the sink. */
#define KAFKA_POLL_EVERY 1024

/* A cached client: a consumer (source) or a producer + marker consumer (sink). */
typedef struct kclient {
	char key[512];
	pthread_mutex_t busy; /* one task at a time */
	rd_kafka_t *rk;       /* consumer, or producer */
	rd_kafka_t *marker;   /* sink: consumer of the marker group */
	bool txn;
	/* Source: offset at which the still-assigned consumer continues (-1:
	 * not assigned), when it was last used, and the messages it had fetched
	 * past the end of its last range (the next range's first records). */
	int64_t cont;
	int64_t used_ms;
	int64_t q_msgs, q_bytes; /* its prefetch queue's bounds */
	size_t nheld;
	bool held_lost;
	rd_kafka_message_t *held[KAFKA_READ_BATCH];
	struct kclient *next;
} kclient;

struct kafka_io {
	pthread_mutex_t lock;
	kclient *clients;
};

struct kafka_out {
	kafka_io *k;
	kclient *c;
	const Sluice__Node *sink;
	int64_t batch_ms;
	uint64_t written, fail_after;
	bool eo, crashed, done;
	int delivery_failed;
	char delivery_err[256];
};

kafka_io *kafka_io_new(void)
{
	kafka_io *k = sl_calloc(1, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	return k;
}

static void held_drop(kclient *c)
{
	for (size_t i = 0; i < c->nheld; i++)
		rd_kafka_message_destroy(c->held[i]);
	c->nheld = 0;
}

static void client_reset(kclient *c)
{
	held_drop(c);
	c->cont = -1;
	if (c->rk)
		rd_kafka_destroy(c->rk);
	if (c->marker)
		rd_kafka_destroy(c->marker);
	c->rk = c->marker = NULL;
}

void kafka_io_free(kafka_io *k)
{
	if (k == NULL)
		return;
	kclient *c = k->clients;
	while (c) {
		kclient *next = c->next;
		client_reset(c);
		pthread_mutex_destroy(&c->busy);
		sl_free(c);
		c = next;
	}
	pthread_mutex_destroy(&k->lock);
	sl_free(k);
}

/* Finds or adds the client for key and takes it for exclusive use. */
static kclient *client_take(kafka_io *k, const char *key)
{
	kclient *c;
	pthread_mutex_lock(&k->lock);
	for (c = k->clients; c && strcmp(c->key, key) != 0; c = c->next) {
	}
	if (c == NULL) {
		c = sl_calloc(1, sizeof(*c));
		snprintf(c->key, sizeof(c->key), "%s", key);
		c->cont = -1;
		pthread_mutex_init(&c->busy, NULL);
		c->next = k->clients;
		k->clients = c;
	}
	pthread_mutex_unlock(&k->lock);
	pthread_mutex_lock(&c->busy);
	return c;
}

static rd_kafka_t *client_new(const Sluice__Node *n, rd_kafka_type_t type,
                              const char *const *extra, char *err, size_t errlen)
{
	char msg[512];
	rd_kafka_conf_t *conf = kafka_conf(n, extra, err, errlen);
	if (conf == NULL)
		return NULL;
	rd_kafka_t *rk = rd_kafka_new(type, conf, msg, sizeof(msg));
	if (rk == NULL) {
		snprintf(err, errlen, "kafka client: %s", msg);
		rd_kafka_conf_destroy(conf);
	}
	return rk;
}

/* ---- reading ---- */

static int64_t position(rd_kafka_t *rk, const char *topic, int32_t p)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, topic, p);
	int64_t pos = -1;
	if (rd_kafka_position(rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR)
		pos = l->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(l);
	return pos;
}

static int assign_at(rd_kafka_t *rk, const Sluice__TaskInput *in, char *err,
                     size_t errlen)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, in->kafka_topic, in->kafka_partition)
	    ->offset = in->kafka_from;
	rd_kafka_resp_err_t e = rd_kafka_assign(rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "assigning %s-%d: %s", in->kafka_topic,
		         in->kafka_partition, rd_kafka_err2str(e));
		return SL_EKAFKA;
	}
	return SL_OK;
}

/* Stops a consumer's fetching and forgets what it had fetched ahead. */
static void consumer_park(kclient *c)
{
	held_drop(c);
	rd_kafka_assign(c->rk, NULL);
	c->cont = -1;
}

/* Parks the consumers left assigned that no task has used for
 * KAFKA_KEEP_MS (their partition moved to another worker, or the job
 * stopped), so their prefetch does not stay in memory. Skips busy ones. */
static void idle_park(kafka_io *k, int64_t now)
{
	pthread_mutex_lock(&k->lock);
	for (kclient *c = k->clients; c; c = c->next) {
		if (pthread_mutex_trylock(&c->busy) != 0)
			continue;
		if (c->cont >= 0 && now - c->used_ms >= KAFKA_KEEP_MS)
			consumer_park(c);
		pthread_mutex_unlock(&c->busy);
	}
	pthread_mutex_unlock(&k->lock);
}

/* One range being read. */
typedef struct range_read {
	const Sluice__TaskInput *in;
	int64_t next; /* the next offset the range wants */
	kafka_emit_fn emit;
	void *arg;
	int rv;
	bool done;
	char *err;
	size_t errlen;
} range_read;

/* Handles one message of the range's partition; false = it lies past the
 * range (the next range's), which completes this one. */
static bool take_message(range_read *r, rd_kafka_message_t *m)
{
	const Sluice__TaskInput *in = r->in;
	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		return true;
	if (m->err) {
		snprintf(r->err, r->errlen, "reading %s-%d at %lld: %s", in->kafka_topic,
		         in->kafka_partition, (long long)r->next,
		         rd_kafka_message_errstr(m));
		r->rv = SL_EKAFKA;
		r->done = true;
		return true;
	}
	if (m->partition != in->kafka_partition || m->offset < r->next)
		return true;
	if (m->offset >= in->kafka_until) {
		r->done = true;
		return false;
	}
	sl_record rec = {.key = m->key,
	                 .key_len = (uint32_t)m->key_len,
	                 .value = m->payload,
	                 .value_len = (uint32_t)m->len,
	                 .event_time_ms = rd_kafka_message_timestamp(m, NULL)};
	r->next = m->offset + 1;
	r->rv = r->emit(r->arg, &rec);
	r->done = r->rv != SL_OK || r->next >= in->kafka_until;
	return true;
}

/* Feeds n messages to the range. Records past its end are kept in c->held
 * in order, the first records of the next range of a consumer that stays
 * assigned; every other message is destroyed. */
static size_t feed(kclient *c, range_read *r, rd_kafka_message_t **m, size_t n)
{
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++) {
		bytes += m[i]->len;
		bool past = r->done ? m[i]->err == 0 && m[i]->offset >= r->in->kafka_until
		                    : !take_message(r, m[i]);
		if (past && c->nheld < KAFKA_READ_BATCH) {
			c->held[c->nheld++] = m[i];
			continue;
		}
		if (past)
			c->held_lost = true; /* cannot happen: held empties first */
		rd_kafka_message_destroy(m[i]);
	}
	return bytes;
}

/* Wakes the consumer's fetcher. librdkafka 2.0.2 stops fetching a
 * partition whose queue holds queued.min.messages and decides again only
 * when its broker thread wakes up: on a message for it (a request, a
 * response) or after up to a second. Taking messages off the queue does
 * not wake it, so a reader that drained the queue would wait. A
 * watermark query is a request to the partition's leader, i.e. to that
 * broker thread; once woken it sees the shorter queue and fetches again.
 * (librdkafka 2.3 added fetch.queue.backoff.ms for this.) */
static void fetcher_wake(kclient *c, const Sluice__TaskInput *in)
{
	int64_t lo, hi;
	rd_kafka_query_watermark_offsets(c->rk, in->kafka_topic, in->kafka_partition, &lo,
	                                 &hi, 1000);
}

/* Reads the range from the assigned consumer: first the records it had
 * fetched past the previous range, then in batches from its queue
 * (rd_kafka_consume_batch_queue: one queue lock and wake-up per batch, not
 * per message), handing each payload to emit where librdkafka holds it (no
 * copy). Every half queue taken (in messages or bytes), and when the
 * queue is found empty, the fetcher is woken (fetcher_wake), so a queue
 * smaller than the range refills while the rest is processed. */
static int read_assigned(kclient *c, range_read *r, int64_t timeout)
{
	const Sluice__TaskInput *in = r->in;
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(c->rk);
	rd_kafka_message_t *batch[KAFKA_READ_BATCH];
	int64_t deadline = clock_mono_ms() + timeout, taken = 0, taken_bytes = 0;
	size_t n = c->nheld;
	memcpy(batch, c->held, n * sizeof(batch[0]));
	c->nheld = 0;
	feed(c, r, batch, n);
	while (!r->done && r->next < in->kafka_until) {
		ssize_t got =
		    rd_kafka_consume_batch_queue(q, 10, batch, KAFKA_READ_BATCH);
		if (got > 0) {
			taken_bytes += (int64_t)feed(c, r, batch, (size_t)got);
			if ((taken += got) >= c->q_msgs / 2 ||
			    taken_bytes >= c->q_bytes / 2) {
				taken = taken_bytes = 0;
				fetcher_wake(c, in);
			}
			continue;
		}
		taken = taken_bytes = 0;
		fetcher_wake(c, in);
		if (position(c->rk, in->kafka_topic, in->kafka_partition) >=
		    in->kafka_until)
			break; /* the rest of the range is transaction markers */
		if (clock_mono_ms() > deadline) {
			snprintf(r->err, r->errlen,
			         "reading %s-%d: only reached offset %lld of [%lld, "
			         "%lld) in %lld ms",
			         in->kafka_topic, in->kafka_partition, (long long)r->next,
			         (long long)in->kafka_from, (long long)in->kafka_until,
			         (long long)timeout);
			r->rv = SL_ETIMEDOUT;
			r->done = true;
		}
	}
	rd_kafka_queue_destroy(q);
	return r->rv;
}

/* After a range read: the consumer stays assigned, fetching the next range
 * while this batch is processed, when the partition holds at least another
 * range's worth of records past it (a backlog: the next batch's range
 * starts here and is as large). Its prefetch is bounded by its queue
 * (consumer_new), which the next task drains and fetcher_wake refills.
 * Otherwise (a live stream keeping up, the partition's end) it is parked,
 * so a job that keeps up does not keep a fetch long-poll per partition
 * going. */
static void range_end(kclient *c, const Sluice__TaskInput *in, int rv)
{
	int64_t lo = -1, hi = -1, len = in->kafka_until - in->kafka_from;
	if (rv == SL_OK && !c->held_lost &&
	    rd_kafka_get_watermark_offsets(c->rk, in->kafka_topic, in->kafka_partition,
	                                   &lo, &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    hi - in->kafka_until >= len && hi > in->kafka_until) {
		c->cont = in->kafka_until;
		return;
	}
	c->held_lost = false;
	consumer_park(c);
}

/* Makes c's consumer, its prefetch queue bounded by queued.min.messages
 * and queued.max.messages.kbytes as the job set them, else ours. */
static rd_kafka_t *consumer_new(kclient *c, const Sluice__Node *src, char *err,
                                size_t errlen)
{
	const char *qm = kafka_param(src, "queued.min.messages");
	const char *qk = kafka_param(src, "queued.max.messages.kbytes");
	char qms[32], qks[32];
	c->q_msgs = qm ? atoll(qm) : KAFKA_QUEUED_MIN;
	c->q_bytes = (qk ? atoll(qk) : KAFKA_QUEUED_KB) * 1024;
	snprintf(qms, sizeof(qms), "%lld", (long long)c->q_msgs);
	snprintf(qks, sizeof(qks), "%lld", (long long)(c->q_bytes / 1024));
	const char *gid = kafka_param(src, "group.id");
	/* A range's records exist when the task starts (until <= the high
	 * watermark), so a fetch only long-polls past them; a short wait
	 * keeps a re-assign right after a read (the next output job of the
	 * batch) from waiting 500 ms for that poll to return. */
	const char *fw = kafka_param(src, "fetch.wait.max.ms");
	const char *extra[] = {"queued.min.messages",
	                       qms,
	                       "queued.max.messages.kbytes",
	                       qks,
	                       "group.id",
	                       gid ? gid : "sluice-reader",
	                       "enable.auto.commit",
	                       "false",
	                       "enable.auto.offset.store",
	                       "false",
	                       "enable.partition.eof",
	                       "true",
	                       "auto.offset.reset",
	                       "error",
	                       "fetch.wait.max.ms",
	                       fw ? fw : "10",
	                       NULL};
	return client_new(src, RD_KAFKA_CONSUMER, extra, err, errlen);
}

int kafka_read_range(kafka_io *k, uint64_t job_id, const Sluice__Node *src,
                     const Sluice__TaskInput *in, kafka_emit_fn emit, void *arg,
                     char *err, size_t errlen)
{
	char key[512];
	snprintf(key, sizeof(key), "src-%llu-%u-%s-%d", (unsigned long long)job_id,
	         src->id, in->kafka_topic, in->kafka_partition);
	int64_t now = clock_mono_ms();
	idle_park(k, now);
	kclient *c = client_take(k, key);
	c->used_ms = now;
	const char *pt = kafka_param(src, "poll.timeout.ms");
	range_read r = {.in = in,
	                .next = in->kafka_from,
	                .emit = emit,
	                .arg = arg,
	                .rv = SL_OK,
	                .err = err,
	                .errlen = errlen};
	int rv = SL_OK;
	if (c->rk == NULL && (c->rk = consumer_new(c, src, err, errlen)) == NULL) {
		rv = SL_EKAFKA;
		goto out;
	}
	/* Warm: the consumer continues from the previous range's end. Else
	 * (a first range, a re-read by another output job, a retry): from. */
	if (c->cont < 0 || c->cont != in->kafka_from) {
		if (c->cont >= 0)
			consumer_park(c);
		if ((rv = assign_at(c->rk, in, err, errlen)) != SL_OK)
			goto out;
		c->cont = in->kafka_from;
	}
	rv = read_assigned(c, &r, pt ? atoll(pt) : 60000);
out:
	if (rv != SL_OK && rv != SL_EUSER)
		client_reset(c); /* start clean next time */
	else
		range_end(c, in, rv);
	pthread_mutex_unlock(&c->busy);
	return rv;
}

/* ---- writing ---- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	kafka_out *o = m->_private;
	if (o != NULL && m->err) {
		if (o->delivery_failed++ == 0)
			snprintf(o->delivery_err, sizeof(o->delivery_err), "%s",
			         rd_kafka_err2str(m->err));
	}
}

static int err_take(rd_kafka_error_t *e, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "kafka %s: %s", what, rd_kafka_error_string(e));
	rd_kafka_error_destroy(e);
	return SL_EKAFKA;
}

/* Fails at once when the output topic does not exist (otherwise every
 * record would wait topic.metadata.propagation.max.ms, 30 s, per attempt). */
static int topic_check(rd_kafka_t *rk, const char *topic, char *err, size_t errlen)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
	rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, KAFKA_OP_TIMEOUT_MS);
	rd_kafka_topic_destroy(t);
	if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
		if (md->topic_cnt != 1 ||
		    md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
			e = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
		rd_kafka_metadata_destroy(md);
	}
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "kafka sink: output topic '%s': %s", topic,
		         rd_kafka_err2str(e));
		return SL_EKAFKA;
	}
	return SL_OK;
}

static int producer_make(kafka_out *o, const char *txn_id, char *err, size_t errlen)
{
	const Sluice__Node *n = o->sink;
	const char *tt = kafka_param(n, "transaction.timeout.ms");
	const char *mt = kafka_param(n, "message.timeout.ms");
	/* lz4 unless the job chose: same throughput as none in
	 * bench/sink_settings.sh, a third less to send and store. */
	const char *ct = kafka_param(n, "compression.type");
	const char *extra[] = {"compression.type",
	                       ct ? ct : "lz4",
	                       "enable.idempotence",
	                       "true",
	                       "message.timeout.ms",
	                       mt ? mt : KAFKA_MSG_TIMEOUT_DEFAULT,
	                       o->eo ? "transactional.id" : NULL,
	                       txn_id,
	                       "transaction.timeout.ms",
	                       tt ? tt : KAFKA_TXN_TIMEOUT_DEFAULT,
	                       NULL};
	char msg[512];
	rd_kafka_conf_t *conf = kafka_conf(n, extra, err, errlen);
	if (conf == NULL)
		return SL_EKAFKA;
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	if ((o->c->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, msg, sizeof(msg))) ==
	    NULL) {
		snprintf(err, errlen, "kafka producer: %s", msg);
		rd_kafka_conf_destroy(conf);
		return SL_EKAFKA;
	}
	if (topic_check(o->c->rk, n->topics, err, errlen) != SL_OK)
		return SL_EKAFKA;
	if (!o->eo)
		return SL_OK;
	rd_kafka_error_t *e = rd_kafka_init_transactions(o->c->rk, KAFKA_OP_TIMEOUT_MS);
	if (e != NULL) {
		client_reset(o->c);
		return err_take(e, "init_transactions", err, errlen);
	}
	const char *extra2[] = {"group.id", txn_id, "enable.auto.commit", "false", NULL};
	if (o->c->marker == NULL)
		o->c->marker = client_new(n, RD_KAFKA_CONSUMER, extra2, err, errlen);
	return o->c->marker ? SL_OK : SL_EKAFKA;
}

/* The batch time up to which this output partition is committed. */
static int marker_read(kafka_out *o, int64_t *committed, char *err, size_t errlen)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, o->sink->topics, 0);
	rd_kafka_resp_err_t e = rd_kafka_committed(o->c->marker, l, KAFKA_OP_TIMEOUT_MS);
	*committed = e == RD_KAFKA_RESP_ERR_NO_ERROR ? l->elems[0].offset : -1;
	rd_kafka_topic_partition_list_destroy(l);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "reading the commit marker of %s: %s", o->c->key,
		         rd_kafka_err2str(e));
		return SL_EKAFKA;
	}
	return SL_OK;
}

int kafka_out_open(kafka_io *k, const char *job, const Sluice__Node *sink,
                   int64_t batch_ms, uint32_t partition, uint32_t attempt,
                   kafka_out **out, bool *done, char *err, size_t errlen)
{
	char txn_id[512];
	const char *eo = kafka_param(sink, "exactly_once");
	const char *fa = kafka_param(sink, "inject.fail_after");
	kafka_out *o = sl_calloc(1, sizeof(*o));
	o->k = k;
	o->sink = sink;
	o->batch_ms = batch_ms;
	o->eo = eo != NULL && strcmp(eo, "true") == 0;
	o->fail_after = fa && attempt == 0 ? (uint64_t)atoll(fa) : 0;
	snprintf(txn_id, sizeof(txn_id), o->eo ? "sluice-%s-%u-p%u" : "sink-%s-%u", job,
	         sink->id, partition);
	o->c = client_take(k, txn_id);
	*done = false;
	if (o->eo && o->c->rk != NULL) {
		/* Not reused across tasks: since this producer's last task, another
		 * worker may have run this output partition (a retry, or the task
		 * placed elsewhere) and its init_transactions fenced this producer,
		 * whose commit would then fail. A new producer per task fences
		 * every earlier one instead, aborting their open transactions. */
		rd_kafka_destroy(o->c->rk);
		o->c->rk = NULL;
	}
	int rv = o->c->rk ? SL_OK : producer_make(o, txn_id, err, errlen);
	int64_t committed = -1;
	if (rv == SL_OK && o->eo &&
	    (rv = marker_read(o, &committed, err, errlen)) == SL_OK) {
		if (committed > batch_ms) {
			*done = o->done = true;
		} else {
			rd_kafka_error_t *e = rd_kafka_begin_transaction(o->c->rk);
			if (e != NULL)
				rv = err_take(e, "begin_transaction", err, errlen);
		}
	}
	if (rv != SL_OK) {
		client_reset(o->c);
		pthread_mutex_unlock(&o->c->busy);
		sl_free(o);
		return rv;
	}
	*out = o;
	return SL_OK;
}

int kafka_out_write(kafka_out *o, const sl_record *r, char *err, size_t errlen)
{
	if (o->fail_after > 0 && o->written >= o->fail_after) {
		rd_kafka_flush(o->c->rk, 5000); /* what was sent reached the broker */
		o->crashed = true;
		snprintf(err, errlen,
		         "injected failure after %llu records (inject.fail_after)",
		         (unsigned long long)o->written);
		return SL_EUSER;
	}
	for (int tries = 0;; tries++) {
		rd_kafka_resp_err_t e =
		    rd_kafka_producev(o->c->rk, RD_KAFKA_V_TOPIC(o->sink->topics),
		                      RD_KAFKA_V_KEY((void *)r->key, r->key_len),
		                      RD_KAFKA_V_VALUE((void *)r->value, r->value_len),
		                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		                      RD_KAFKA_V_OPAQUE(o), RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
			break;
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries > 600) {
			snprintf(err, errlen, "producing to %s: %s", o->sink->topics,
			         rd_kafka_err2str(e));
			return SL_EKAFKA;
		}
		rd_kafka_poll(o->c->rk, 100);
	}
	/* Serve delivery reports now and then, not per record: each poll takes
	 * the producer's queue lock (flush/commit at the end serves the rest). */
	if (++o->written % KAFKA_POLL_EVERY == 0)
		rd_kafka_poll(o->c->rk, 0);
	return SL_OK;
}

static int txn_commit(kafka_out *o, char *err, size_t errlen)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, o->sink->topics, 0)->offset =
	    o->batch_ms + 1;
	rd_kafka_consumer_group_metadata_t *g =
	    rd_kafka_consumer_group_metadata_new(o->c->key);
	rd_kafka_error_t *e =
	    rd_kafka_send_offsets_to_transaction(o->c->rk, l, g, KAFKA_OP_TIMEOUT_MS);
	rd_kafka_consumer_group_metadata_destroy(g);
	rd_kafka_topic_partition_list_destroy(l);
	if (e == NULL)
		e = rd_kafka_commit_transaction(o->c->rk, KAFKA_OP_TIMEOUT_MS);
	if (e == NULL)
		return SL_OK;
	bool abortable = rd_kafka_error_txn_requires_abort(e);
	int rv = err_take(e, "commit_transaction", err, errlen);
	if (abortable) {
		rd_kafka_error_t *a =
		    rd_kafka_abort_transaction(o->c->rk, KAFKA_OP_TIMEOUT_MS);
		if (a == NULL)
			return rv;
		rd_kafka_error_destroy(a);
	}
	client_reset(o->c); /* fatal or fenced: a new producer next time */
	return rv;
}

int kafka_out_close(kafka_out *o, bool ok, char *err, size_t errlen)
{
	int rv = SL_OK;
	if (o->done) {
		/* Committed by an earlier attempt: nothing was opened. */
	} else if (o->crashed) {
		/* Simulated crash: the transaction is left open for the next
		 * attempt's init_transactions to fence and abort. */
		client_reset(o->c);
	} else if (o->eo && o->c->rk != NULL) {
		if (ok) {
			rv = txn_commit(o, err, errlen);
		} else {
			rd_kafka_error_t *a =
			    rd_kafka_abort_transaction(o->c->rk, KAFKA_OP_TIMEOUT_MS);
			if (a != NULL) {
				rd_kafka_error_destroy(a);
				client_reset(o->c);
			}
		}
	} else if (o->c->rk != NULL) {
		rd_kafka_flush(o->c->rk, KAFKA_OP_TIMEOUT_MS);
		if (ok && rd_kafka_outq_len(o->c->rk) > 0) {
			snprintf(err, errlen,
			         "kafka sink: %d records not delivered in time",
			         rd_kafka_outq_len(o->c->rk));
			rv = SL_EKAFKA;
		} else if (ok && o->delivery_failed > 0) {
			snprintf(err, errlen, "kafka sink: %d records failed: %s",
			         o->delivery_failed, o->delivery_err);
			rv = SL_EKAFKA;
		}
	}
	pthread_mutex_unlock(&o->c->busy);
	sl_free(o);
	return rv;
}
