/*
 * Alert incidents: see alertrule.h.
 */
#include "alertrule.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const state_names[] = {"PUBLISHED", "RUNNING", "PAUSED",
                                          "STOPPED",   "FAILED",  NULL};

const char *const *alertrule_state_names(void)
{
	return state_names;
}

static int state_index(const char *s, size_t len)
{
	for (int i = 0; state_names[i] != NULL; i++)
		if (strlen(state_names[i]) == len &&
		    strncasecmp(state_names[i], s, len) == 0)
			return i;
	return -1;
}

int alertrule_parse_states(const char *list, uint32_t *mask, char *err, size_t errlen)
{
	*mask = 0;
	const char *p = list ? list : "";
	while (*p) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		size_t n = 0;
		while (p[n] && p[n] != ',' && !isspace((unsigned char)p[n]))
			n++;
		if (n == 0)
			break;
		int i = state_index(p, n);
		if (i < 0) {
			snprintf(err, errlen,
			         "unknown job state '%.*s' (one of PUBLISHED, RUNNING, "
			         "PAUSED, "
			         "STOPPED, FAILED)",
			         (int)(n > 40 ? 40 : n), p);
			return -1;
		}
		*mask |= 1u << i;
		p += n;
	}
	return 0;
}

void alertrule_incidents_init(alert_incidents *inc)
{
	inc->state = -1;
	inc->lag_total = false;
	inc->lag_partition = false;
}

/* Fills an event; its summary is cut at sizeof(summary) (names from users
 * can be long, the summary is a one-line headline). */
__attribute__((format(printf, 4, 5))) static void
event(alert_event *e, alert_cond c, bool resolved, const char *fmt, ...)
{
	e->cond = c;
	e->resolved = resolved;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->summary, sizeof(e->summary), fmt, ap);
	va_end(ap);
}

size_t alertrule_on_state(const alert_rule *r, alert_incidents *inc, const char *job,
                          const char *state, alert_event out[2])
{
	int i = state_index(state, strlen(state));
	bool triggers = i >= 0 && (r->states & (1u << i));
	size_t n = 0;
	if (inc->state >= 0 && inc->state != i) {
		event(&out[n++], ALERT_STATE, true,
		      "RESOLVED: job %s is no longer %s (now %s)", job,
		      state_names[inc->state], state);
		inc->state = -1;
	}
	if (triggers && inc->state != i) {
		event(&out[n++], ALERT_STATE, false, "FIRING: job %s is %s", job, state);
		inc->state = i;
	}
	return n;
}

/* One lag incident: fire above limit, resolve at 90% of it or below. */
static size_t lag_edge(bool *open, int64_t limit, int64_t lag, alert_cond c,
                       const char *job, const char *what, alert_event *out)
{
	if (limit <= 0) {
		*open = false;
		return 0;
	}
	if (!*open && lag > limit) {
		*open = true;
		event(out, c, false, "FIRING: job %s Kafka lag %s %lld > %lld", job, what,
		      (long long)lag, (long long)limit);
		return 1;
	}
	if (*open && (double)lag <= 0.9 * (double)limit) {
		*open = false;
		event(out, c, true,
		      "RESOLVED: job %s Kafka lag %s back to %lld (threshold %lld)", job,
		      what, (long long)lag, (long long)limit);
		return 1;
	}
	return 0;
}

size_t alertrule_on_lag(const alert_rule *r, alert_incidents *inc, const char *job,
                        int64_t total, int64_t max_partition, const char *worst,
                        alert_event out[2])
{
	char what[200];
	snprintf(what, sizeof(what), "of partition %s", worst ? worst : "?");
	size_t n = lag_edge(&inc->lag_total, r->lag_total, total, ALERT_LAG_TOTAL, job,
	                    "total", &out[0]);
	n += lag_edge(&inc->lag_partition, r->lag_partition, max_partition,
	              ALERT_LAG_PARTITION, job, what, &out[n]);
	return n;
}
