/*
 * The master's rate controller (SPEC §6, Spark's RateController): one PID
 * estimator per rate-controlled input stream of a job (socket receivers and
 * Kafka direct streams), fed at every completed batch with the batch's end
 * time, the stream's records in it, its processing and scheduling delay.
 *
 * The rate used is the estimate times sluice.backpressure.targetUtilization,
 * at most twice the largest batch rate the stream has completed (the growth
 * bound; both in ratectl_stream_rate). A new rate is published at once to
 * every receiver of the stream (MSG_SET_RATE, the stream's rate split evenly
 * and capped by spark.streaming.receiver.maxRate: ratectl_receiver_rate) and
 * read by the Kafka planner when it plans the next batch (ratectl_clamp).
 * Until the estimator has published, spark.streaming.backpressure.initialRate
 * bounds every batch. Its state (estimators and growth bounds) goes into the
 * job's checkpoint as a string, so a restarted master carries on from the
 * rate it had instead of starting over from initialRate.
 *
 * It also keeps the last report of each receiver's blocked share (time spent
 * on the rate limiter or a full block buffer), for `sluice monitor` and the
 * master's /metrics.
 *
 * Calls go one way: jobgen.c, jobs.c, recovery.c and mmetrics.c call in;
 * this file only reads the job's receivers and the
 * cluster, and sends messages. Everything runs under the master's lock.
 */
#ifndef SLUICE_MASTER_RATECONTROL_H
#define SLUICE_MASTER_RATECONTROL_H

#include "model.h"
#include "promtext.h"

#include <stddef.h>
#include <stdint.h>

/* Share levels of SPEC §6. */
#define RATECONTROL_OK_MAX  0.10
#define RATECONTROL_LOW_MAX 0.5

/* Sets up the job's controller from its configuration (j->conf, interval):
 * one estimator per socket and Kafka source node. SL_EINVAL with the
 * offending key in err if the PID parameters are invalid. Replaces any
 * controller the job had. */
int ratecontrol_init(job *j, char *err, size_t errlen);
void ratecontrol_free(job *j);

/* A batch of j completed successfully: feeds every stream's estimator and
 * publishes new rates to the stream's receivers. */
void ratecontrol_batch_done(job *j, const batch *b);

/* The stream-wide rate limit of node for its next batch (records/s), or -1
 * for none (backpressure off, or no estimate and no initialRate). */
double ratecontrol_stream_rate(const job *j, uint32_t node);
/* The rate one receiver of node enforces (records/s, 0 = unlimited). */
double ratecontrol_receiver_rate(const job *j, uint32_t node);

/* spark.streaming.receiver.maxRate changed (run configuration, live):
 * every started receiver of j is sent its new rate at once. */
void ratecontrol_set_receiver_max(job *j, int64_t receiver_max);

/* A receiver reported its blocked share and current rate (AddBlock). */
void ratecontrol_note_receiver(job *j, uint32_t receiver_id, double blocked_share,
                               double rate);
/* For `sluice monitor`: the sum of the streams' rate limits (-1 if none has
 * one) and the largest blocked share among the job's receivers. */
void ratecontrol_status(const job *j, double *rate, double *blocked_share);
/* "OK", "LOW" or "HIGH" for a blocked share. */
const char *ratecontrol_level(double blocked_share);

/* For `sluice monitor`: fills out->receivers (one row per started receiver
 * of j: worker, rate, blocked share and level) and out->rate_estimate (the
 * estimators' rates summed, -1 if none has one). The rows are allocated;
 * release them with ratecontrol_receivers_free once out is packed. */
void ratecontrol_receivers(const job *j, Sluice__BatchStatsReply *out);
void ratecontrol_receivers_free(Sluice__BatchStatsReply *out);

/* The master's /metrics, per job with a rate controller: its rate limit
 * and estimate (records/s, when it has one), its largest receiver blocked
 * share and its level as a state set. Under the master's lock. */
void ratecontrol_metrics(job *const *jobs, size_t njobs, promtext *p);

/* The controller's state as a checkpoint string (owned by the caller), and
 * its restoration after a restart (ignores streams the job no longer has;
 * a malformed string leaves the estimators fresh and logs why). */
char *ratecontrol_snapshot(const job *j);
void ratecontrol_restore(job *j, const char *state);

#endif
