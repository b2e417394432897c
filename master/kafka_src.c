/*
 * Kafka direct stream, master side: see kafka_src.h.
 *
 * Starting position of a partition (first time it is seen): an explicit
 * starting.offsets entry; else the offset committed to group.id; else
 * auto.offset.reset (latest unless "earliest"). Partitions that appear
 * after the job started (new partitions, or new topics: the topic list is
 * re-read every batch) start at their earliest offset, so nothing written to
 * them is skipped.
 *
 * Clamp per partition (SPEC §5, ratectl_clamp): with backpressure the
 * stream's rate (the rate controller's last estimate, or initialRate before
 * the first one, read under the lock when the plan is collected) is shared
 * between partitions by lag, each share capped by maxRatePerPartition and
 * floored by minRatePerPartition; without it, maxRatePerPartition alone
 * caps each partition.
 */
#include "kafka_src.h"
#include "alloc.h"
#include "clock.h"
#include "ratectl.h"
#include "api.h"
#include "kafka.h"
#include "log.h"
#include "sluice/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KAFKA_FAIL_MS 30000

typedef struct {
	char *topic;
	int32_t partition;
	int64_t next; /* next offset to read; -1 until resolved */
	int64_t end;  /* high watermark at the last plan (under mu); -1 unknown */
	char worker[32];
} kpart;

struct ksrc {
	const char *name;      /* the job's */
	pthread_mutex_t *lock; /* the master's */
	uint32_t node;
	const Sluice__Node *n;
	rd_kafka_t *rk;
	/* guards parts (grown by discovery off the lock, read by the scheduler
	 * for locality under the master lock) */
	pthread_mutex_t mu;
	char group[160];
	bool commit, started;
	int64_t interval_ms, max_rate, min_rate;
	double rate; /* stream rate for the plan being made, -1 = none */
	kpart *parts;
	size_t nparts;
	/* plan for plan_ms, written by kafka_plan (cron thread only) */
	int64_t plan_ms;
	krange *plan;
	size_t nplan;
	bool plan_ready;
	char plan_err[512];
	int errors;
	int64_t first_err_mono; /* start of the current run of planning errors */
	/* offsets to commit: (topic, partition, offset) */
	rd_kafka_topic_partition_list_t *to_commit;
};

int kafka_init(kset *ks, const Sluice__JobGraph *g, const sl_conf *conf, const char *name,
               int64_t interval_ms, pthread_mutex_t *lock, char *err, size_t errlen)
{
	char msg[512];
	for (size_t i = 0; i < g->n_nodes; i++) {
		const Sluice__Node *n = g->nodes[i];
		if (n->kind != SLUICE__NODE_KIND__SRC_KAFKA)
			continue;
		ksrc *k = sl_calloc(1, sizeof(*k));
		k->name = name;
		k->lock = lock;
		k->node = n->id;
		k->n = n;
		k->plan_ms = -1;
		k->rate = -1;
		pthread_mutex_init(&k->mu, NULL);
		k->interval_ms = interval_ms;
		k->max_rate =
		    conf_get_int(conf, "spark.streaming.kafka.maxRatePerPartition");
		k->min_rate =
		    conf_get_int(conf, "spark.streaming.kafka.minRatePerPartition");
		const char *c = kafka_param(n, "commit.offsets");
		k->commit = c != NULL && strcmp(c, "true") == 0;
		const char *g = kafka_param(n, "group.id");
		snprintf(k->group, sizeof(k->group), "%s", g ? g : "");
		if (g == NULL)
			snprintf(k->group, sizeof(k->group), "sluice-%s", name);
		const char *extra[] = {"group.id", k->group, "enable.auto.commit",
		                       "false", NULL};
		rd_kafka_conf_t *conf = kafka_conf(n, extra, err, errlen);
		if (conf == NULL || (k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, msg,
		                                          sizeof(msg))) == NULL) {
			if (conf != NULL) {
				snprintf(err, errlen, "kafka client: %s", msg);
				rd_kafka_conf_destroy(conf);
			}
			sl_free(k);
			return SL_EKAFKA;
		}
		k->to_commit = rd_kafka_topic_partition_list_new(8);
		ks->v = sl_realloc(ks->v, (ks->n + 1) * sizeof(*ks->v));
		ks->v[ks->n++] = k;
	}
	return SL_OK;
}

static void plan_clear(ksrc *k)
{
	for (size_t i = 0; i < k->nplan; i++)
		sl_free(k->plan[i].topic);
	sl_free(k->plan);
	k->plan = NULL;
	k->nplan = 0;
}

void kafka_free(kset *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		ksrc *k = ks->v[i];
		plan_clear(k);
		for (size_t p = 0; p < k->nparts; p++)
			sl_free(k->parts[p].topic);
		sl_free(k->parts);
		rd_kafka_topic_partition_list_destroy(k->to_commit);
		rd_kafka_destroy(k->rk);
		pthread_mutex_destroy(&k->mu);
		sl_free(k);
	}
	sl_free(ks->v);
	ks->v = NULL;
	ks->n = 0;
}

size_t kafka_collect(kset *ks, int64_t t, kafka_rate_fn rate, void *arg, ksrc **out,
                     size_t cap)
{
	size_t n = 0;
	for (size_t s = 0; s < ks->n && n < cap; s++) {
		ksrc *k = ks->v[s];
		if (k->plan_ms != t || (!k->plan_ready && !k->plan_err[0])) {
			k->plan_ms = t;
			k->plan_ready = false;
			k->plan_err[0] = '\0';
			k->rate = rate(arg, k->node);
			out[n++] = k;
		}
	}
	return n;
}

static bool topic_wanted(const ksrc *k, const char *t)
{
	const char *p = k->n->topics;
	size_t len = strlen(t);
	while (*p) {
		const char *e = strchr(p, ',');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (n == len && strncmp(p, t, n) == 0)
			return true;
		p += n + (e ? 1 : 0);
	}
	return false;
}

static kpart *part_find(ksrc *k, const char *topic, int32_t p)
{
	for (size_t i = 0; i < k->nparts; i++)
		if (k->parts[i].partition == p && strcmp(k->parts[i].topic, topic) == 0)
			return &k->parts[i];
	return NULL;
}

/* Partition discovery: adds partitions not seen yet; errors on a missing topic. */
static int discover(ksrc *k, char *err, size_t errlen)
{
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 1, NULL, &md, 5000);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "kafka metadata from %s: %s",
		         kafka_param(k->n, "bootstrap.servers"), rd_kafka_err2str(e));
		return SL_EKAFKA;
	}
	size_t found = 0;
	for (int t = 0; t < md->topic_cnt; t++) {
		const struct rd_kafka_metadata_topic *mt = &md->topics[t];
		if (!topic_wanted(k, mt->topic) || mt->err != RD_KAFKA_RESP_ERR_NO_ERROR)
			continue;
		found++;
		for (int p = 0; p < mt->partition_cnt; p++) {
			if (part_find(k, mt->topic, mt->partitions[p].id) != NULL)
				continue;
			pthread_mutex_lock(&k->mu);
			k->parts =
			    sl_realloc(k->parts, (k->nparts + 1) * sizeof(*k->parts));
			kpart *kp = &k->parts[k->nparts++];
			pthread_mutex_unlock(&k->mu);
			memset(kp, 0, sizeof(*kp));
			kp->topic = sl_strdup(mt->topic);
			kp->partition = mt->partitions[p].id;
			kp->next = -1;
			kp->end = -1;
			if (k->started)
				log_info("job %s: new Kafka partition %s-%d, reading "
				         "from its start",
				         k->name, kp->topic, kp->partition);
		}
	}
	rd_kafka_metadata_destroy(md);
	size_t wanted = 1;
	for (const char *p = k->n->topics; *p; p++)
		wanted += *p == ',';
	if (found < wanted) {
		snprintf(err, errlen, "kafka: topic list '%s': %zu of %zu topics exist",
		         k->n->topics, found, wanted);
		return SL_EKAFKA;
	}
	return SL_OK;
}

static int64_t explicit_start(const ksrc *k, const kpart *p)
{
	const char *s = kafka_param(k->n, "starting.offsets");
	char want[300];
	snprintf(want, sizeof(want), "%s:%d:", p->topic, p->partition);
	for (const char *q = s; q && *q;) {
		if (strncmp(q, want, strlen(want)) == 0)
			return atoll(q + strlen(want));
		q = strchr(q, ',');
		q = q ? q + 1 : NULL;
	}
	return -1;
}

static int64_t committed_offset(ksrc *k, const kpart *p)
{
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
	int64_t off = -1;
	if (rd_kafka_committed(k->rk, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
	    l->elems[0].offset >= 0)
		off = l->elems[0].offset;
	rd_kafka_topic_partition_list_destroy(l);
	return off;
}

/* Resolves a partition's first offset from its watermarks. */
static void resolve_start(ksrc *k, kpart *p, int64_t low, int64_t high)
{
	const char *reset = kafka_param(k->n, "auto.offset.reset");
	bool earliest =
	    reset && (!strcmp(reset, "earliest") || !strcmp(reset, "smallest") ||
	              !strcmp(reset, "beginning"));
	int64_t off = explicit_start(k, p);
	if (off < 0)
		off = committed_offset(k, p);
	if (off < 0)
		off = k->started || earliest ? low : high;
	p->next = off;
}

static void plan_add(ksrc *k, kpart *p, int64_t until)
{
	k->plan = sl_realloc(k->plan, (k->nplan + 1) * sizeof(*k->plan));
	krange *r = &k->plan[k->nplan++];
	r->node = k->node;
	r->topic = sl_strdup(p->topic);
	r->partition = p->partition;
	r->from = p->next;
	r->until = until;
}

static void plan_offsets(ksrc *k, char *err, size_t errlen);

void kafka_plan(ksrc *k)
{
	char err[512] = "";
	plan_clear(k);
	if (discover(k, err, sizeof(err)) == SL_OK)
		plan_offsets(k, err, sizeof(err));
	/* Publish under the master's lock: the JobGenerator reads the plan from
	 * the cron thread once it sees plan_ready or plan_err. */
	pthread_mutex_lock(k->lock);
	snprintf(k->plan_err, sizeof(k->plan_err), "%s", err);
	k->plan_ready = err[0] == '\0';
	pthread_mutex_unlock(k->lock);
}

/* Reads a partition's watermarks and settles where it starts; its range in
 * *rp before the clamp. */
static int part_range(ksrc *k, kpart *p, ratectl_part *rp, char *err, size_t errlen)
{
	int64_t low, high;
	rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
	    k->rk, p->topic, p->partition, &low, &high, 5000);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		snprintf(err, errlen, "kafka offsets of %s-%d: %s", p->topic,
		         p->partition, rd_kafka_err2str(e));
		return SL_EKAFKA;
	}
	pthread_mutex_lock(&k->mu);
	p->end = high; /* for the lag (kafka_end_offset) */
	pthread_mutex_unlock(&k->mu);
	if (p->next < 0)
		resolve_start(k, p, low, high);
	if (p->next < low) {
		log_warn("job %s: %s-%d offsets %lld..%lld were deleted before "
		         "being read",
		         k->name, p->topic, p->partition, (long long)p->next,
		         (long long)low);
		p->next = low;
	}
	rp->from = p->next;
	rp->latest = high;
	return SL_OK;
}

static void plan_offsets(ksrc *k, char *err, size_t errlen)
{
	ratectl_part *rp = sl_calloc(k->nparts + 1, sizeof(*rp));
	for (size_t i = 0; i < k->nparts; i++) {
		if (part_range(k, &k->parts[i], &rp[i], err, errlen) != SL_OK) {
			plan_clear(k);
			sl_free(rp);
			return;
		}
	}
	/* max_rate may change live (kafka_set_max_rate, under the master's lock) */
	ratectl_clamp(rp, k->nparts, k->rate,
	              __atomic_load_n(&k->max_rate, __ATOMIC_RELAXED), k->min_rate,
	              k->interval_ms);
	for (size_t i = 0; i < k->nparts; i++)
		plan_add(k, &k->parts[i], rp[i].until);
	sl_free(rp);
	k->started = true;
}

void kafka_set_max_rate(kset *ks, int64_t per_partition)
{
	for (size_t i = 0; i < ks->n; i++)
		__atomic_store_n(&ks->v[i]->max_rate, per_partition, __ATOMIC_RELAXED);
}

void kafka_restore(kset *ks, const ckpt_range *offsets, size_t n)
{
	for (size_t s = 0; s < ks->n; s++) {
		ksrc *k = ks->v[s];
		for (size_t i = 0; i < n; i++) {
			if (offsets[i].node != k->node ||
			    part_find(k, offsets[i].topic, offsets[i].partition))
				continue;
			k->parts =
			    sl_realloc(k->parts, (k->nparts + 1) * sizeof(*k->parts));
			kpart *p = &k->parts[k->nparts++];
			memset(p, 0, sizeof(*p));
			p->topic = sl_strdup(offsets[i].topic);
			p->partition = offsets[i].partition;
			p->next = offsets[i].until;
			p->end = -1;
		}
		/* partitions the checkpoint does not know appeared since: read
		 * them from their start */
		k->started = k->nparts > 0;
	}
}

bool kafka_ready(kset *ks, int64_t t, char *halt, size_t halt_len)
{
	for (size_t i = 0; i < ks->n; i++) {
		ksrc *k = ks->v[i];
		if (k->plan_ms != t)
			return false;
		if (k->plan_err[0]) {
			/* A broker restart must not fail the job: only errors
			 * that persist (3 attempts over KAFKA_FAIL_MS) do. */
			int64_t now = clock_mono_ms();
			if (k->errors++ == 0)
				k->first_err_mono = now;
			if ((k->errors >= 3 &&
			     now - k->first_err_mono >= KAFKA_FAIL_MS) ||
			    strstr(k->plan_err, "topics exist") != NULL)
				snprintf(halt, halt_len, "%s", k->plan_err);
			else
				log_warn("job %s: %s (will retry)", k->name, k->plan_err);
			k->plan_ms = -1;
			k->plan_err[0] = '\0';
			return false;
		}
		if (!k->plan_ready)
			return false;
	}
	return true;
}

void kafka_take(kset *ks, krange **kr, size_t *nkr, uint64_t *records)
{
	for (size_t i = 0; i < ks->n; i++) {
		ksrc *k = ks->v[i];
		k->errors = 0;
		*kr = sl_realloc(*kr, (*nkr + k->nplan + 1) * sizeof(**kr));
		for (size_t r = 0; r < k->nplan; r++) {
			krange *x = &k->plan[r];
			(*kr)[(*nkr)++] = *x;
			*records += (uint64_t)(x->until - x->from);
			kpart *p = part_find(k, x->topic, x->partition);
			if (p != NULL)
				p->next = x->until;
		}
		sl_free(k->plan); /* topics moved into the batch */
		k->plan = NULL;
		k->nplan = 0;
		k->plan_ready = false;
	}
}

void kafka_batch_done(kset *ks, const krange *kr, size_t nkr)
{
	for (size_t i = 0; i < ks->n; i++) {
		ksrc *k = ks->v[i];
		if (!k->commit)
			continue;
		for (size_t r = 0; r < nkr; r++) {
			if (kr[r].node != k->node)
				continue;
			rd_kafka_topic_partition_t *tp =
			    rd_kafka_topic_partition_list_find(k->to_commit, kr[r].topic,
			                                       kr[r].partition);
			if (tp == NULL)
				tp = rd_kafka_topic_partition_list_add(
				    k->to_commit, kr[r].topic, kr[r].partition);
			tp->offset = kr[r].until;
		}
	}
}

void kafka_commit_pending(ksrc *k)
{
	if (k->to_commit->cnt == 0)
		return;
	/* The list is only touched by the cron thread (kafka_batch_done runs in
	 * engine_kick under the lock, also on the cron thread or a handler); take
	 * a copy under the master lock. */
	pthread_mutex_t *lock = k->lock;
	pthread_mutex_lock(lock);
	rd_kafka_topic_partition_list_t *l = k->to_commit;
	k->to_commit = rd_kafka_topic_partition_list_new(8);
	pthread_mutex_unlock(lock);
	rd_kafka_resp_err_t e = rd_kafka_commit(k->rk, l, 0);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		log_warn("job %s: committing offsets to group %s: %s", k->name, k->group,
		         rd_kafka_err2str(e));
	rd_kafka_topic_partition_list_destroy(l);
}

int64_t kafka_end_offset(kset *ks, uint32_t node, const char *topic, int32_t partition)
{
	int64_t end = -1;
	for (size_t i = 0; i < ks->n; i++) {
		if (ks->v[i]->node != node)
			continue;
		pthread_mutex_lock(&ks->v[i]->mu);
		kpart *p = part_find(ks->v[i], topic, partition);
		if (p != NULL)
			end = p->end;
		pthread_mutex_unlock(&ks->v[i]->mu);
	}
	return end;
}

bool kafka_worker_of(kset *ks, const char *topic, int32_t partition, char out[32])
{
	bool found = false;
	for (size_t i = 0; i < ks->n && !found; i++) {
		pthread_mutex_lock(&ks->v[i]->mu);
		kpart *p = part_find(ks->v[i], topic, partition);
		if (p != NULL && p->worker[0]) {
			memcpy(out, p->worker, 32);
			found = true;
		}
		pthread_mutex_unlock(&ks->v[i]->mu);
	}
	return found;
}

void kafka_note_worker(kset *ks, const char *topic, int32_t partition, const char *worker)
{
	for (size_t i = 0; i < ks->n; i++) {
		pthread_mutex_lock(&ks->v[i]->mu);
		kpart *p = part_find(ks->v[i], topic, partition);
		if (p != NULL)
			snprintf(p->worker, sizeof(p->worker), "%s", worker);
		pthread_mutex_unlock(&ks->v[i]->mu);
	}
}
