/*
 * A job's run configuration (SPEC §8): mode (sluice.run.mode: standalone =
 * all its compute units on one worker, cluster = anywhere) and resources in
 * compute units (sluice.run.cus). 1 CU = 1 task slot + sluice.cu.memory of
 * worker memory (the master's key, default 512 MiB), so a worker offers
 * min(slots, memory / sluice.cu.memory) CUs. The other run parameters are
 * the job's spark.* keys with their Spark meaning (input rate:
 * spark.streaming.receiver.maxRate and spark.streaming.kafka.
 * maxRatePerPartition), validated with the rest of its configuration.
 *
 * Called under the master's lock, memory only.
 */
#ifndef SLUICE_MASTER_RUNCONF_H
#define SLUICE_MASTER_RUNCONF_H

#include "engine_int.h"

#include <cjson/cJSON.h>

/* Whether j's CUs fit the free capacity of the alive workers now (their
 * CUs minus those of the other RUNNING and PAUSED jobs). SL_OK, or
 * SL_ESTATE with a message giving the numbers. */
int runconf_check_start(job *j, char *err, size_t errlen);

/* sluice.run.mode=standalone: the one worker all of j's tasks and
 * receivers go to — chosen when it starts (the alive worker with the most
 * CUs not taken by other standalone jobs) and again only if that worker is
 * lost; NULL for a cluster job (or no alive worker). The scheduler and the
 * receiver tracker place on it only. */
worker_entry *runconf_worker(job *j);

/* GET /api/v1/jobs/{job}/run-config: mode, CUs, input rate, and the job's
 * run keys (spark.*, sluice.run.*) as configured. */
cJSON *runconf_json(const job *j);

/* POST run-config {"set": {key: value}}: checks every key (a run key, a
 * valid value: the message names the key) and stores them in the job's
 * definition; for a RUNNING or PAUSED job the input rate keys
 * (spark.streaming.receiver.maxRate, spark.streaming.kafka.
 * maxRatePerPartition) take effect at once, the others at the next start
 * (runconf_reload). Adds key -> "live" / "next start" to applied. SL_OK, or
 * SL_EINVAL with nothing changed. */
int runconf_set(job *j, const cJSON *set, cJSON *applied, char *err, size_t errlen);

/* WITHOUT the master's lock: writes the job's configuration (JSON, from
 * jobdef_conf_json) to the state store on a connection of its own; a
 * failure is logged (the change holds until the master restarts). */
void runconf_persist(master *m, uint64_t job_id, const char *conf_json);

#endif
