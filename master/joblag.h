/*
 * A job's Kafka lag (SPEC §8 monitoring and alerts): per partition, the
 * producers' end offset (the high watermark the Kafka planner saw at its
 * last plan) against the job's next offset (where its batches have taken
 * the partition to); lag = end - next. The growth of the end offsets is the
 * producer rate, that of the records processed the consumer rate (both as
 * counters on /metrics, series for the console).
 *
 * joblag_tick evaluates the job's lag alert thresholds
 * (sluice.alerts.lag.total, sluice.alerts.lag.partition) every
 * sluice.alerts.interval through alerts.h.
 *
 * Called under the master's lock, memory only.
 */
#ifndef SLUICE_MASTER_JOBLAG_H
#define SLUICE_MASTER_JOBLAG_H

#include "engine_int.h"

typedef struct {
	const char *topic; /* valid while the lock is held */
	int32_t partition;
	int64_t end, next, lag; /* end -1: not known yet (lag 0) */
} joblag_row;

/* Fills up to cap rows of j's partitions; returns how many there are. */
size_t joblag_rows(job *j, joblag_row *out, size_t cap);

/* From the cron tick: every sluice.alerts.interval, feeds the job's lag to
 * its alert rule. */
void joblag_tick(job *j, int64_t now_mono);

#endif
