/*
 * The master's /metrics page (Prometheus text format 0.0.4, common/promtext):
 * workers and slots, jobs by state, and per job its batches, records,
 * the delays of its last finished batch and what it holds in flight. Names
 * follow Prometheus' conventions (sluice_ prefix, base units as suffixes,
 * _total for counters); docs/operations.md lists them.
 *
 * Called from an HTTP thread (rest.c) WITHOUT the master's lock: it takes
 * it while it renders (memory only, no I/O).
 */
#ifndef SLUICE_MASTER_MMETRICS_H
#define SLUICE_MASTER_MMETRICS_H

#include "httpd.h"
#include "master.h"

/* Fills res with the page (200, text/plain; version=0.0.4). */
void mmetrics_render(master *m, httpd_res *res);

#endif
