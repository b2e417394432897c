/*
 * The master's alert evaluator for job states (SPEC §8): joins a job's alert
 * configuration (its sluice.alerts.* job keys: recipients per channel and
 * the states that trigger), the incident logic (alertrule.h: one alert per
 * incident, one "resolved" when it clears) and delivery (notify.h), and
 * records every alert sent or failed in the alert_history table, listable
 * per job.
 *
 * Threading: alerts_job_state is called under the master's lock and never
 * blocks (it only queues to the notifier). Outcomes arrive on the
 * notifier's thread and are written with the module's own SQLite
 * connection under its own mutex, never the master's lock; the history is
 * read the same way.
 */
#ifndef SLUICE_MASTER_ALERTS_H
#define SLUICE_MASTER_ALERTS_H

#include "config.h"

#include <stdint.h>

typedef struct alerts alerts;

/* Opens STATE/master.db a second time and starts the notifier with the
 * master's sluice.alerts.* keys. */
int alerts_new(const char *db_path, const sl_conf *master_conf, alerts **out, char *err,
               size_t errlen);
/* Stops delivery (queued alerts are recorded failed) and frees. */
void alerts_free(alerts *a);

/* Job job_id (named job, configured by job_conf) entered state (why: the
 * transition's reason). Under the master's lock; never blocks. */
void alerts_job_state(alerts *a, uint64_t job_id, const char *job,
                      const sl_conf *job_conf, const char *state, const char *why);

/* The job's Kafka lag now: summed over partitions, the largest one and its
 * name ("topic-partition"), against sluice.alerts.lag.total / .partition.
 * Under the master's lock; never blocks. */
void alerts_job_lag(alerts *a, uint64_t job_id, const char *job, const sl_conf *job_conf,
                    int64_t total, int64_t max_partition, const char *worst);

/* The job's recorded alerts, oldest first, as a JSON array (sl_free it);
 * without the master's lock. */
char *alerts_history_json(alerts *a, uint64_t job_id);

#endif
