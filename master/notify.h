/*
 * Alert delivery: email (SMTP), webhook (HTTP POST of JSON) and exec (a
 * command, for SMS gateways and the like), SPEC §8.
 *
 * The master's alert evaluator decides *that* an alert is due (alertrule.h);
 * this module only delivers it, off every lock the master holds: alerts are
 * queued (never blocking the caller) and sent by one delivery thread, each
 * attempt bounded by sluice.alerts.timeout, failures retried with exponential
 * backoff (sluice.alerts.backoff, doubled per attempt, at most
 * sluice.alerts.retries retries). The outcome of every alert (sent, or failed
 * for good with the last error) is reported once through the done callback,
 * so the caller can record it.
 *
 * Channels are ops structs (notify_channel_ops), one per kind; SMTP goes
 * through libcurl (the one packaged SMTP client with STARTTLS), webhooks
 * through nng's HTTP client, commands through posix_spawn with the alert's
 * JSON on standard input.
 */
#ifndef SLUICE_MASTER_NOTIFY_H
#define SLUICE_MASTER_NOTIFY_H

#include "config.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { NOTIFY_EMAIL, NOTIFY_WEBHOOK, NOTIFY_EXEC } notify_kind;

/* One alert to one channel. Strings are copied by notify_send. */
typedef struct {
	uint64_t alert_id;
	notify_kind kind;
	/* email: unused (server from sluice.alerts.smtp.*); webhook: the URL
	 * (http:// or https://); exec: absolute path of the command */
	const char *target;
	/* email: addresses; exec: one run per recipient, passed as argv[1];
	 * webhook: unused */
	const char *const *recipients;
	size_t nrecipients;
	const char *subject; /* one line; control characters are replaced */
	const char *json;    /* the alert as a JSON object (webhook body, stdin) */
} notify_msg;

typedef struct notifier notifier;

/* Called once per alert on the delivery thread: rv SL_OK when delivered
 * (attempts tells how many tries it took), else the last error in err. */
typedef void (*notify_done_fn)(void *arg, uint64_t alert_id, notify_kind kind, int rv,
                               int attempts, const char *err);

/* Reads sluice.alerts.* from conf (copied) and starts the delivery thread. */
int notifier_new(notifier **out, const sl_conf *conf, notify_done_fn done, void *arg,
                 char *err, size_t errlen);

/* Queues m; never blocks on delivery. Returns SL_OK, SL_EBUSY when the queue
 * is full (the alert is dropped and done is NOT called; log it), or SL_EINVAL
 * with a message for an unusable message (no recipients, bad URL or
 * command). */
int notify_send(notifier *n, const notify_msg *m, char *err, size_t errlen);

/* Stops the thread; alerts still queued are reported failed ("stopping").
 * Waits for an attempt in progress (at most sluice.alerts.timeout). */
void notifier_free(notifier *n);

/* The kind's name ("email", "webhook", "exec") and the reverse (-1 when
 * unknown). */
const char *notify_kind_name(notify_kind k);
int notify_kind_parse(const char *s);

#endif
