/*
 * A job's lifecycle (SPEC §8): the states a user sees, the actions that move
 * a job between them, and the record of every transition.
 *
 *   PUBLISHED --start--> RUNNING <--pause/resume--> PAUSED
 *   RUNNING/PAUSED --stop--> STOPPED --start--> RUNNING
 *   any --(a batch fails for good, or the job cannot be resumed)--> FAILED
 *
 * PAUSED stops the JobGenerator only: no batch is generated and no Kafka
 * range planned, while receivers go on receiving into blocks that wait for
 * the next batch, state and Kafka positions stay as they are, and batches
 * already generated finish. Resume generates the next batch at the next
 * multiple of the interval from now (the batches of the paused time are not
 * generated one by one: their input is all in the first batch after it). A
 * pause longer than sluice.pause.maxDuration becomes a stop.
 *
 * STOPPED stops the receivers and drops the blocks they received that no
 * batch took; a later start restarts the receivers and Kafka reading goes on
 * from the next offset of the last planned batch (the offsets batches
 * commit). A graceful stop (spark.streaming.stopGracefullyOnShutdown) first
 * processes what was received.
 *
 * Every transition (time, from, to, who asked, why) is kept on the job and
 * written to the job_transitions table with the job's next checkpoint, so it
 * is durable exactly when the state it leads to is; a restarted master
 * reads them back (and the time the current state began, for the pause
 * limit).
 *
 * Threading: every function here is called with the master's lock held.
 */
#ifndef SLUICE_MASTER_LIFECYCLE_H
#define SLUICE_MASTER_LIFECYCLE_H

#include "engine_int.h"

#include <sqlite3.h>

/* The state as shown to users: a job stopping gracefully is "STOPPING". */
const char *job_shown_state(const job *j);

/* Applies action ("start", "pause", "resume", "stop") asked by who (a client
 * identity) for why. SL_OK, SL_ESTATE with a message naming the job, its
 * state and the action when the action is not allowed in that state, or
 * SL_EINVAL for an unknown action. */
int lifecycle_control(job *j, const char *action, bool graceful, const char *who,
                      const char *why, char *err, size_t errlen);

/* From the cron tick: ends a graceful stop once drained, and turns a pause
 * older than the job's limit into a stop. */
void lifecycle_tick(job *j, int64_t now_wall);

/* Stops the job now (receivers told to stop, unallocated blocks dropped). */
void lifecycle_stop(job *j, const char *who, const char *why);

/* Adds the transitions not yet durable to a checkpoint snapshot. */
void lifecycle_snapshot(const job *j, ckpt_job *c);

/* After a restart: reads the job's transitions back; state_since_ms is the
 * time of the last one (the job's creation when there is none). */
int lifecycle_load(job *j, sqlite3 *db, char *err, size_t errlen);

/* Frees the transitions (job_free). */
void lifecycle_free(job *j);

#endif
