/*
 * Operations views of one job, shared by the REST API (rest.c) and so by
 * the CLI (summary, config export, config import; docs/openapi.yaml).
 *
 * Threading: called with the master's lock held; memory only, except
 * jobviews_import, which stores the new job as any submission does.
 */
#ifndef SLUICE_MASTER_JOBVIEWS_H
#define SLUICE_MASTER_JOBVIEWS_H

#include "engine_int.h"
#include "lifecycle.h"

#include <cjson/cJSON.h>

/* GET /api/v1/jobs/{job}/summary: total records and batches (the job's
 * counters since it was submitted), then records and batch aggregates
 * (count, failures, records/s, mean processing, largest total delay) per
 * minute and per hour over the finished batches the master keeps (the last
 * BATCH_HISTORY, since history_since_ms). */
cJSON *jobviews_summary(const job *j);

/* GET /api/v1/jobs/{job}/config: name, library hash, interval, every key,
 * and the graph (base64 of the JobGraph message) for jobviews_import. */
cJSON *jobviews_config(const job *j);

/* POST /api/v1/jobs (config import): publishes, or starts when start, a new
 * job from an export o (its name, library_hash, batch_interval_ms, conf,
 * graph), with the library of a job the master holds with that hash. SL_OK;
 * SL_EINVAL for a malformed export, SL_ENOTFOUND for an unknown library, or
 * the submission's error (a taken name, a bad key), with a message. */
int jobviews_import(master *m, const cJSON *o, bool start, const char *who, char *err,
                    size_t errlen);

/* Submits sj through the engine's SubmitJob handler, as a client's
 * submission by who (recorded with the transition) from `from` (for the
 * log): validated and stored the same way. Under the master's lock. SL_OK,
 * or the handler's error with its message in err. */
int jobviews_submit(master *m, const Sluice__SubmitJob *sj, const char *who,
                    const char *from, char *err, size_t errlen);

#endif
