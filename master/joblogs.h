/*
 * `sluice logs JOB` (GET /api/v1/jobs/{job}/logs): the job's log lines
 * gathered from the master and every alive worker (logq.h: the lines that
 * name the job, from each process's last LOG_KEEP_LINES lines), merged in
 * time order, each with where it comes from.
 *
 * joblogs_prepare runs under the master's lock (copies the job's name and
 * id and the workers' addresses); joblogs_gather runs after it is let go:
 * it calls each worker (MSG_LOG_QUERY, on a connection of its own, bounded
 * by sluice.rpc.timeout) and never holds the lock.
 */
#ifndef SLUICE_MASTER_JOBLOGS_H
#define SLUICE_MASTER_JOBLOGS_H

#include "engine_int.h"

#include <cjson/cJSON.h>

typedef struct joblogs_req joblogs_req;

/* Under the lock: a request for the lines of j since `since` (checked by
 * logq_since_ok), the latest `limit`. */
joblogs_req *joblogs_prepare(master *m, const job *j, const char *since, long limit);

/* Without the lock: {"job", "lines": [{"source", "line"}], "sources":
 * [{"source", "ok", "error"}]}; frees r. */
cJSON *joblogs_gather(master *m, joblogs_req *r);

#endif
