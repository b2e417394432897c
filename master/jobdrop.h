/*
 * Cleaning up after a stopped job: once a STOPPED job has no batch left to
 * run or retire, every live worker is told to drop everything of it
 * (MSG_DROP_JOB: its receivers, receiver blocks, shuffle buckets and WAL
 * segments), so a stopped job leaves nothing on the workers' disks but its
 * state: the workers the placement names for its state partitions or their
 * replicas (stateplan.h) keep them, in memory and as replica copies, so a
 * start continues with the state (as a Spark job restarted from its
 * checkpoint); every other worker is told to drop the job's state too
 * (DropJob.state), leftovers of a placement that moved.
 *
 * Called under the master's lock from batches_retire, which runs after every
 * durable checkpoint of the job (a stop itself checkpoints the job, so a
 * job stopped with nothing running is cleaned at once). Fire and forget: a
 * worker that misses it (down or unreachable at the time) is told again when
 * it registers (jobdrop_worker_back), and so is every worker after a master
 * restart: the "dropped" flag is not stored, a drop is idempotent (a worker
 * with nothing of the job deletes nothing), so a stopped job is dropped again
 * on each worker that registers rather than remembered as dropped.
 */
#ifndef SLUICE_MASTER_JOBDROP_H
#define SLUICE_MASTER_JOBDROP_H

#include "model.h"

/* Sends MSG_DROP_JOB to every live worker once j is STOPPED with no batch
 * queued, running or retiring; does nothing otherwise or when sent since the
 * job last ran (a job started again is cleaned again at its next stop). */
void jobdrop_maybe(job *j);

/* Worker w has just registered (first time, again after being lost, or with
 * a restarted master): if j is STOPPED with no batch queued, running or
 * retiring, sends MSG_DROP_JOB for j to w alone. Under the master's lock;
 * asynchronous, never blocks. */
void jobdrop_worker_back(job *j, worker_entry *w);

#endif
