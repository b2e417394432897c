/*
 * Rate controller per input stream: see ratecontrol.h.
 *
 * The checkpoint string is one line per stream,
 *   "<node> <first_run> <latest_time> <latest_rate> <latest_error> <published>
 *    <seen>"
 * with doubles printed to 17 significant digits, so a restored estimator is
 * bit-for-bit the one that was saved. <seen> (the growth bound's largest
 * batch rate) is absent from checkpoints written before it existed: such a
 * stream restarts with no bound until its next batch.
 */
#include "ratecontrol.h"
#include "alloc.h"
#include "cluster.h"
#include "log.h"
#include "master.h"
#include "msgtypes.h"
#include "pid.h"
#include "ratectl.h"
#include "sluice/err.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	uint32_t node;
	pid_estimator pid;
	double seen; /* largest records / interval of a batch it used; -1 none */
} rstream;

typedef struct {
	double blocked_share;
	double rate;
} rreport;

struct ratecontrol {
	bool enabled; /* spark.streaming.backpressure.enabled */
	int64_t initial_rate, receiver_max;
	double utilization; /* sluice.backpressure.targetUtilization */
	rstream *s;
	size_t n;
	rreport *rcv; /* by receiver id */
	size_t nrcv;
};

static bool controlled(const Sluice__Node *n)
{
	return n->kind == SLUICE__NODE_KIND__SRC_SOCKET ||
	       n->kind == SLUICE__NODE_KIND__SRC_KAFKA;
}

int ratecontrol_init(job *j, char *err, size_t errlen)
{
	pid_params p;
	int rv = pid_params_from_conf(&p, j->conf, j->interval_ms, err, errlen);
	if (rv != SL_OK)
		return rv;
	ratecontrol_free(j);
	ratecontrol *rc = sl_calloc(1, sizeof(*rc));
	rc->enabled = conf_get_bool(j->conf, "spark.streaming.backpressure.enabled");
	rc->initial_rate =
	    conf_get_int(j->conf, "spark.streaming.backpressure.initialRate");
	rc->receiver_max = conf_get_int(j->conf, "spark.streaming.receiver.maxRate");
	rc->utilization =
	    conf_get_double(j->conf, "sluice.backpressure.targetUtilization");
	rc->s = sl_calloc(j->graph->n_nodes + 1, sizeof(*rc->s));
	for (size_t i = 0; i < j->graph->n_nodes; i++) {
		if (!controlled(j->graph->nodes[i]))
			continue;
		rstream *s = &rc->s[rc->n++];
		s->node = j->graph->nodes[i]->id;
		s->seen = -1;
		pid_init(&s->pid, &p);
	}
	j->rc = rc;
	return SL_OK;
}

void ratecontrol_free(job *j)
{
	if (j->rc == NULL)
		return;
	sl_free(j->rc->s);
	sl_free(j->rc->rcv);
	sl_free(j->rc);
	j->rc = NULL;
}

static rstream *stream_of(const job *j, uint32_t node)
{
	for (size_t i = 0; j->rc != NULL && i < j->rc->n; i++)
		if (j->rc->s[i].node == node)
			return &j->rc->s[i];
	return NULL;
}

double ratecontrol_stream_rate(const job *j, uint32_t node)
{
	rstream *s = stream_of(j, node);
	if (s == NULL)
		return -1;
	return ratectl_stream_rate(j->rc->enabled, pid_latest_rate(&s->pid),
	                           j->rc->initial_rate, j->rc->utilization, s->seen);
}

static size_t receivers_of(const job *j, uint32_t node)
{
	size_t n = 0;
	for (size_t i = 0; i < j->rt.nrcv; i++)
		n += j->rt.rcv[i].node == node;
	return n;
}

double ratecontrol_receiver_rate(const job *j, uint32_t node)
{
	int64_t max = j->rc ? j->rc->receiver_max : 0;
	return ratectl_receiver_rate(ratecontrol_stream_rate(j, node), max,
	                             receivers_of(j, node));
}

static void set_rate_done(void *arg, int rv, const envelope *reply, const char *err)
{
	(void)arg;
	(void)reply;
	if (rv != SL_OK)
		log_warn("set-rate: %s", err);
}

/* Tells every started receiver of node its share of the stream's rate. A
 * receiver started later gets it in its StartReceiver. */
static void publish(job *j, uint32_t node)
{
	double rate = ratecontrol_receiver_rate(j, node);
	for (size_t i = 0; i < j->rt.nrcv; i++) {
		const receiver *r = &j->rt.rcv[i];
		if (r->node != node || r->state == RCV_INACTIVE)
			continue;
		worker_entry *w = cluster_find(j->e->m->cl, r->worker);
		if (w == NULL || w->state != WORKER_ALIVE || w->client == NULL)
			continue;
		Sluice__SetRate m = SLUICE__SET_RATE__INIT;
		m.job_id = j->id;
		m.receiver_id = r->id;
		m.rate = rate;
		rpc_call_async(w->client, MSG_SET_RATE, &m, set_rate_done, NULL);
	}
}

void ratecontrol_set_receiver_max(job *j, int64_t receiver_max)
{
	if (j->rc == NULL)
		return;
	j->rc->receiver_max = receiver_max;
	for (size_t i = 0; i < j->graph->n_nodes; i++)
		if (j->graph->nodes[i]->kind == SLUICE__NODE_KIND__SRC_SOCKET)
			publish(j, j->graph->nodes[i]->id);
}

static int64_t stream_records(const batch *b, uint32_t node)
{
	int64_t n = 0;
	for (size_t i = 0; i < b->nblocks; i++)
		if (b->blocks[i]->node == node)
			n += (int64_t)b->blocks[i]->records;
	for (size_t i = 0; i < b->nkr; i++)
		if (b->kr[i].node == node)
			n += b->kr[i].until - b->kr[i].from;
	return n;
}

void ratecontrol_batch_done(job *j, const batch *b)
{
	if (j->rc == NULL || !j->rc->enabled || b->state != BATCH_DONE)
		return;
	int64_t proc = b->end_wall - b->start_wall;
	int64_t sched = b->start_wall - b->time_ms;
	for (size_t i = 0; i < j->rc->n; i++) {
		rstream *s = &j->rc->s[i];
		double rate;
		int64_t records = stream_records(b, s->node), used = s->pid.s.latest_time;
		bool fresh = pid_compute(&s->pid, b->end_wall, records, proc,
		                         sched < 0 ? 0 : sched, &rate);
		if (s->pid.s.latest_time != used) /* the estimator used this batch */
			s->seen = fmax(s->seen,
			               (double)records * 1000.0 / (double)j->interval_ms);
		if (!fresh)
			continue;
		log_info("job %s: node %u rate %.6f records/s (estimate %.1f) after "
		         "batch %lld",
		         j->name, s->node, ratecontrol_stream_rate(j, s->node), rate,
		         (long long)b->time_ms);
		publish(j, s->node);
	}
}

void ratecontrol_note_receiver(job *j, uint32_t receiver_id, double blocked_share,
                               double rate)
{
	ratecontrol *rc = j->rc;
	if (rc == NULL || receiver_id >= j->rt.nrcv || !isfinite(blocked_share))
		return;
	if (rc->nrcv < j->rt.nrcv) {
		rc->rcv = sl_realloc(rc->rcv, j->rt.nrcv * sizeof(*rc->rcv));
		memset(rc->rcv + rc->nrcv, 0, (j->rt.nrcv - rc->nrcv) * sizeof(*rc->rcv));
		rc->nrcv = j->rt.nrcv;
	}
	rc->rcv[receiver_id].blocked_share = fmin(fmax(blocked_share, 0), 1);
	rc->rcv[receiver_id].rate = rate;
}

void ratecontrol_status(const job *j, double *rate, double *blocked_share)
{
	*rate = -1;
	*blocked_share = 0;
	if (j->rc == NULL)
		return;
	for (size_t i = 0; i < j->rc->n; i++) {
		double r = ratecontrol_stream_rate(j, j->rc->s[i].node);
		if (r >= 0)
			*rate = (*rate < 0 ? 0 : *rate) + r;
	}
	for (size_t i = 0; i < j->rc->nrcv; i++)
		*blocked_share = fmax(*blocked_share, j->rc->rcv[i].blocked_share);
}

const char *ratecontrol_level(double share)
{
	return share <= RATECONTROL_OK_MAX    ? "OK"
	       : share <= RATECONTROL_LOW_MAX ? "LOW"
	                                      : "HIGH";
}

char *ratecontrol_snapshot(const job *j)
{
	char *out = sl_strdup("");
	for (size_t i = 0; j->rc != NULL && i < j->rc->n; i++) {
		const rstream *s = &j->rc->s[i];
		char *next =
		    sl_asprintf("%s%" PRIu32 " %d %" PRId64 " %.17g %.17g %.17g %.17g\n",
		                out, s->node, s->pid.s.first_run ? 1 : 0,
		                s->pid.s.latest_time, s->pid.s.latest_rate,
		                s->pid.s.latest_error, s->pid.s.published, s->seen);
		sl_free(out);
		out = next;
	}
	return out;
}

/* Parses one line into *st and *seen (-1 when the line has no <seen>);
 * false if malformed. */
static bool parse_line(const char *line, uint32_t *node, pid_state *st, double *seen)
{
	int first, used = 0, more = 0;
	if (sscanf(line, "%" SCNu32 " %d %" SCNd64 " %lf %lf %lf%n", node, &first,
	           &st->latest_time, &st->latest_rate, &st->latest_error, &st->published,
	           &used) != 6 ||
	    (first != 0 && first != 1) || !isfinite(st->latest_rate) ||
	    !isfinite(st->latest_error) || !isfinite(st->published))
		return false;
	st->first_run = first == 1;
	*seen = -1;
	if (line[used] == ' ' &&
	    (sscanf(line + used, " %lf%n", seen, &more) != 1 || !isfinite(*seen)))
		return false;
	used += more;
	return line[used] == '\n' || line[used] == '\0';
}

/* Applies (apply = true) or only checks every line of state. */
static bool restore_lines(job *j, const char *state, bool apply)
{
	for (const char *p = state; p != NULL && *p;) {
		uint32_t node;
		pid_state st;
		double seen;
		if (!parse_line(p, &node, &st, &seen))
			return false;
		rstream *s = apply ? stream_of(j, node) : NULL;
		if (s != NULL) {
			s->pid.s = st;
			s->seen = seen;
			log_info("job %s: node %u resumes at rate %.6f records/s "
			         "(estimate %.1f)",
			         j->name, node, ratecontrol_stream_rate(j, node),
			         st.published);
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return true;
}

void ratecontrol_restore(job *j, const char *state)
{
	if (j->rc == NULL || state == NULL)
		return;
	if (!restore_lines(j, state, false)) {
		log_warn(
		    "job %s: rate controller state unreadable; estimators start afresh",
		    j->name);
		return;
	}
	restore_lines(j, state, true);
}

static const rreport *report_of(const job *j, uint32_t receiver_id)
{
	if (j->rc == NULL || receiver_id >= j->rc->nrcv)
		return NULL;
	return &j->rc->rcv[receiver_id];
}

/* The estimators' rates summed, -1 if none has one. */
static double estimate_sum(const job *j)
{
	double sum = -1;
	for (size_t i = 0; j->rc != NULL && j->rc->enabled && i < j->rc->n; i++) {
		double e = pid_latest_rate(&j->rc->s[i].pid);
		if (e >= 0)
			sum = (sum < 0 ? 0 : sum) + e;
	}
	return sum;
}

void ratecontrol_receivers(const job *j, Sluice__BatchStatsReply *out)
{
	out->rate_estimate = estimate_sum(j);
	/* one allocation: the row pointers, then the rows */
	size_t cap = j->rt.nrcv + 1;
	out->receivers =
	    sl_calloc(1, cap * (sizeof(*out->receivers) + sizeof(Sluice__ReceiverLoad)));
	Sluice__ReceiverLoad *rows = (Sluice__ReceiverLoad *)(out->receivers + cap);
	size_t n = 0;
	for (size_t i = 0; i < j->rt.nrcv; i++) {
		const receiver *r = &j->rt.rcv[i];
		if (r->state == RCV_INACTIVE)
			continue;
		const rreport *rep = report_of(j, r->id);
		Sluice__ReceiverLoad *l = &rows[n];
		sluice__receiver_load__init(l);
		l->receiver_id = r->id;
		l->node = r->node;
		l->worker_id = (char *)r->worker;
		l->rate = rep != NULL ? rep->rate : 0;
		l->blocked_share = rep != NULL ? rep->blocked_share : 0;
		l->blocked_level = (char *)ratecontrol_level(l->blocked_share);
		out->receivers[n++] = l;
	}
	out->n_receivers = n;
}

void ratecontrol_receivers_free(Sluice__BatchStatsReply *out)
{
	sl_free(out->receivers);
	out->receivers = NULL;
	out->n_receivers = 0;
}

static void metric_sample(promtext *p, const char *name, const job *j, double v)
{
	promtext_sample(p, name, (const char *const[]){"job", j->name, NULL}, v);
}

void ratecontrol_metrics(job *const *jobs, size_t njobs, promtext *p)
{
	static const char *const names[] = {"sluice_job_rate_limit_records_per_second",
	                                    "sluice_job_rate_estimate_records_per_second",
	                                    "sluice_job_blocked_ratio"};
	static const char *const helps[] = {
	    "input rate limit the receivers and the Kafka clamp use (backpressure)",
	    "the PID estimators' rate (the limit is this x targetUtilization)",
	    "largest share of time one of the job's receivers was blocked"};
	for (size_t f = 0; f < 3; f++) {
		promtext_family(p, names[f], "gauge", helps[f]);
		for (size_t i = 0; i < njobs; i++) {
			const job *j = jobs[i];
			if (j->rc == NULL)
				continue;
			double rate, share;
			ratecontrol_status(j, &rate, &share);
			double v[] = {rate, estimate_sum(j), share};
			if (v[f] >= 0)
				metric_sample(p, names[f], j, v[f]);
		}
	}
	promtext_family(p, "sluice_job_backpressure_level", "gauge",
	                "1 for the job's blocked level (label level: OK, LOW, HIGH)");
	for (size_t i = 0; i < njobs; i++) {
		double rate, share;
		if (jobs[i]->rc == NULL)
			continue;
		ratecontrol_status(jobs[i], &rate, &share);
		const char *levels[] = {"OK", "LOW", "HIGH"};
		for (size_t k = 0; k < 3; k++)
			promtext_sample(p, "sluice_job_backpressure_level",
			                (const char *const[]){"job", jobs[i]->name,
			                                      "level", levels[k], NULL},
			                strcmp(levels[k], ratecontrol_level(share)) == 0);
	}
}
