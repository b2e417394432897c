/*
 * PID rate estimator for backpressure (SPEC §6), after Spark Streaming's
 * PIDRateEstimator.
 *
 * After every completed batch the master's rate controller feeds the batch's
 * end time, record count, processing delay and scheduling delay into one of
 * these per input stream. The estimator compares the rate it last published
 * with the rate the batch was actually processed at and returns a new rate
 * for the receivers' token buckets and the Kafka clamp. The first usable
 * batch only seeds the estimator (nothing is published, as in Spark): until
 * the first rate exists, spark.streaming.backpressure.initialRate bounds the
 * input.
 *
 * The state is plain data (pid_state) so that the checkpointer can store it
 * and a restarted master carries on from the rate it had.
 *
 * Not thread-safe: each estimator is owned by one rate controller, which is
 * driven by one thread at a time.
 */
#ifndef SLUICE_PID_H
#define SLUICE_PID_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Gains and bounds; all times in milliseconds, rates in records per second. */
typedef struct {
	int64_t batch_interval_ms; /* > 0 */
	double proportional;       /* >= 0 */
	double integral;           /* >= 0 */
	double derivative;         /* >= 0 */
	double min_rate;           /* > 0 */
} pid_params;

/* What a restarted estimator needs to continue; checkpointed as is. */
typedef struct {
	bool first_run;      /* no batch has been used yet */
	int64_t latest_time; /* ms; -1 before the first batch */
	double latest_rate;  /* -1 before the first batch */
	double latest_error; /* -1 before the first batch */
	double published;    /* last rate returned by pid_compute; -1 = none */
} pid_state;

typedef struct {
	pid_params p;
	pid_state s;
} pid_estimator;

/* Fills p from the spark.streaming.backpressure.pid.* keys of conf and the
 * batch interval. Returns SL_OK, or SL_EINVAL with a message naming the
 * offending key in err when a gain is negative, minRate is not positive or
 * the interval is not positive (the configuration bounds already refuse
 * these at submit; this guards callers that build params by hand). */
int pid_params_from_conf(pid_params *p, const sl_conf *conf, int64_t batch_interval_ms,
                         char *err, size_t errlen);

/* Starts an estimator with no history. params must be valid (see above). */
void pid_init(pid_estimator *e, const pid_params *params);

/* Feeds one completed batch: time = batch end time (ms), records processed,
 * processing delay and scheduling delay (ms). Returns true and sets *rate
 * when a new rate is to be published. Returns false (publish nothing) on the
 * first usable batch, when time does not advance past the last one, when the
 * batch had no records, or when its processing delay is not positive. */
bool pid_compute(pid_estimator *e, int64_t time, int64_t records,
                 int64_t processing_delay, int64_t scheduling_delay, double *rate);

/* The last rate pid_compute returned, or -1 when it has returned none yet. */
double pid_latest_rate(const pid_estimator *e);

#endif
