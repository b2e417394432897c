/*
 * The worker's HTTP endpoint: GET /metrics in Prometheus text format.
 *
 * Served on sluice.worker.host : sluice.worker.http.port (0 = any free port,
 * logged at start) with common/httpd.c. Read-only and unauthenticated, as
 * Prometheus scrapes it: it shows counts and sizes, never job data or
 * configuration values. Every other path is a JSON 404 and every other
 * method on /metrics a 405.
 */
#ifndef SLUICE_WORKER_METRICS_H
#define SLUICE_WORKER_METRICS_H

#include "worker.h"

#include <stddef.h>

typedef struct wmetrics wmetrics;

/* Starts the endpoint for w (its engine must exist). Returns SL_OK or an
 * error naming the address in err. */
int wmetrics_start(worker *w, wmetrics **out, char *err, size_t errlen);
/* The bound port. */
int wmetrics_port(const wmetrics *m);
/* Stops serving (process shutdown only). NULL is ignored. */
void wmetrics_stop(wmetrics *m);

#endif
