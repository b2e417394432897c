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

/* Whether j's CUs fit the free capacity of the alive workers now (their
 * CUs minus those of the other RUNNING and PAUSED jobs). SL_OK, or
 * SL_ESTATE with a message giving the numbers. */
int runconf_check_start(job *j, char *err, size_t errlen);

#endif
