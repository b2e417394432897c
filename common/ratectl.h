/*
 * Rate-control arithmetic (SPEC §5 and §6): the rate limit that applies to an
 * input stream for its next batch, the per-partition clamp of the Kafka
 * direct stream, and the share of a receiver-based stream's rate that each of
 * its receivers enforces with its token bucket.
 *
 * Pure functions, no state and no locks, so that the master's Kafka planner
 * and rate controller can call them from any thread and the unit tests can
 * check them against hand-computed figures. The PID estimator that produces
 * the published rate is in pid.h.
 */
#ifndef SLUICE_RATECTL_H
#define SLUICE_RATECTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How many times the largest input rate a stream has carried in a
 * completed batch the rate used may be (see ratectl_stream_rate). */
#define RATECTL_GROWTH 2.0

/* The stream-wide rate limit (records/s) for the next batch, or -1 for none:
 * with backpressure on, the estimator's last published rate times
 * utilization (sluice.backpressure.targetUtilization, in (0, 1]), at most
 * RATECTL_GROWTH x seen_rate (the largest records / interval of a completed
 * batch of the stream; <= 0 = none yet); or, until the estimator has
 * published, spark.streaming.backpressure.initialRate when that is set
 * (> 0), as is: the user chose it. This is what Spark's direct Kafka stream
 * failed to apply to its first batch (SPARK-18580). Without backpressure
 * there is no stream-wide rate; only the fixed per-partition and
 * per-receiver caps apply.
 *
 * Why the factor: the estimator's error is zero when its rate equals the
 * rate batches are processed at, whatever was fed to them, so feeding
 * utilization x that rate leaves the estimate where it is and makes each
 * batch take utilization x the interval: the total delay settles below the
 * interval instead of at it.
 *
 * Why the growth bound: an estimate is what one batch measured, and a batch
 * far smaller than the rate it yields (a few ms of processing, data the
 * Kafka consumers had prefetched) measures fixed costs and noise; without
 * the bound a 52,243-record batch processed in 75 ms gave an estimate of
 * 690,000/s and the next batch took 586,164 records at once (1 s to
 * process). With it the rate may double per batch, as in TCP's slow start
 * (docs/backpressure.md). */
double ratectl_stream_rate(bool backpressure, double published, int64_t initial_rate,
                           double utilization, double seen_rate);

/* One Kafka partition of a batch plan: from = first offset to read,
 * latest = the partition's end offset; until is computed. */
typedef struct {
	int64_t from;
	int64_t latest;
	int64_t until;
} ratectl_part;

/* Clamps each partition's range for a batch of batch_ms (SPEC §5):
 *   lag_p = max(latest_p - from_p, 0)
 *   with rate R >= 0 (see ratectl_stream_rate; -1 = none):
 *       rate_p = R * lag_p / sum(lag), then min(rate_p, max_pp) if max_pp > 0
 *   without R: rate_p = max_pp (0 = unlimited: until_p = latest_p)
 *   rate_p = max(rate_p, min_pp)
 *   until_p = min(from_p + max(floor(rate_p * batch_s), 1), latest_p)
 * A partition with no lag gets until = from. The "at least one record" rule
 * keeps a partition with lag moving when rate_p * batch_s < 1 (very short
 * intervals with a low rate); min_pp defaults to 1 record/s as in Spark. */
void ratectl_clamp(ratectl_part *parts, size_t n, double rate, int64_t max_pp,
                   int64_t min_pp, int64_t batch_ms);

/* The rate (records/s, 0 = unlimited) each of nreceivers receivers of one
 * stream enforces: the stream rate (-1 = none) split evenly, capped by
 * spark.streaming.receiver.maxRate (0 = no cap). */
double ratectl_receiver_rate(double stream_rate, int64_t receiver_max_rate,
                             size_t nreceivers);

#endif
