/*
 * When to alert (SPEC §8): the incident logic of one job's alert rule, apart
 * from how alerts are delivered (notify.h) and where rules are stored.
 *
 * A rule names the job states that trigger (any of PUBLISHED, RUNNING,
 * PAUSED, STOPPED, FAILED) and Kafka lag thresholds (total over all
 * partitions, and per partition). Each condition is an incident with two
 * edges: it *fires* once when the condition starts to hold and *resolves*
 * once when it stops, so a job stuck in FAILED or a lag that stays high
 * gives one alert, not one per evaluation. A lag incident resolves only once
 * the lag is back to 90% of its threshold or less (hysteresis), so a lag
 * hovering at the threshold does not flap.
 *
 * Pure functions over caller-owned structs: the caller (the master's alert
 * evaluator) keeps one alert_incidents per job and persists it with the
 * job, so a restarted master neither repeats nor forgets an open incident.
 */
#ifndef SLUICE_MASTER_ALERTRULE_H
#define SLUICE_MASTER_ALERTRULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
	uint32_t states;       /* bit i set: state alertrule_state_names()[i] fires */
	int64_t lag_total;     /* > 0: fire when the summed lag exceeds it */
	int64_t lag_partition; /* > 0: fire when one partition's lag exceeds it */
} alert_rule;

typedef struct {
	int state;          /* index of the state that fired, -1 when none open */
	bool lag_total;     /* total-lag incident open */
	bool lag_partition; /* per-partition-lag incident open */
} alert_incidents;

typedef enum { ALERT_STATE, ALERT_LAG_TOTAL, ALERT_LAG_PARTITION } alert_cond;

typedef struct {
	alert_cond cond;
	bool resolved; /* false: firing */
	char summary[256];
} alert_event;

/* NULL-terminated: "PUBLISHED", "RUNNING", "PAUSED", "STOPPED", "FAILED". */
const char *const *alertrule_state_names(void);

/* Parses "FAILED,STOPPED" (case-insensitive, commas, spaces) into a state
 * mask. Returns 0, or -1 with the unknown name in err. */
int alertrule_parse_states(const char *list, uint32_t *mask, char *err, size_t errlen);

void alertrule_incidents_init(alert_incidents *inc);

/* The job is now in state (a name above). Writes at most 2 events (the old
 * incident resolving, a new one firing) to out and returns how many. */
size_t alertrule_on_state(const alert_rule *r, alert_incidents *inc, const char *job,
                          const char *state, alert_event out[2]);

/* Lag now: total over partitions, the largest one and its name
 * ("topic-partition"). Writes at most 2 events and returns how many. */
size_t alertrule_on_lag(const alert_rule *r, alert_incidents *inc, const char *job,
                        int64_t total, int64_t max_partition, const char *worst,
                        alert_event out[2]);

#endif
