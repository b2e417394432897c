/*
 * The engine's internal interface for the files that drive it from the top
 * (jobs.c, recovery.c, main.c) and for the operations layer (lifecycle.c,
 * rest.c, mmetrics.c, ratecontrol.c, ...): the data model and every engine
 * component's header, plus the job registry's own calls.
 *
 * The engine's layers call one way (docs/architecture.md, checked by
 * tests/check_engine_layers.sh): registry (jobs.c) -> job generator
 * (jobgen.h) -> planner (plan.h) -> receiver tracker (rtracker.h) and
 * Kafka planner (kafka_src.h) -> task scheduler (tasksched.h); the checkpointer
 * (checkpoint.h) beside. Files below the registry include model.h and the
 * headers below them, never this one.
 */
#ifndef SLUICE_MASTER_ENGINE_INT_H
#define SLUICE_MASTER_ENGINE_INT_H

#include "engine.h"
#include "jobgen.h"
#include "kafka_src.h"
#include "model.h"
#include "plan.h"
#include "rtracker.h"

/* jobs.c */
/* Sets up the job's receiver tracker from its graph and configuration. */
void job_rtracker_init(job *j);
/* Creates the job's Kafka sources from its graph and configuration. */
int job_kafka_init(job *j, char *err, size_t errlen);
job *jobs_find(struct engine *e, const char *name_or_id);
void job_fail(job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Applies the definition's configuration to the job; errors name the key. */
int job_conf_apply(job *j, char *err, size_t errlen);
void job_free(job *j);
/* recovery.c: rebuilds every stored job; resumes the RUNNING ones. */
int jobs_recover(struct engine *e, int64_t grace_ms, char *err, size_t errlen);
/* recovery.c: makes a job loaded as STOPPED/FAILED runnable from its last
 * checkpoint (receivers, Kafka sources, unfinished and halted batches). */
int job_resume(job *j, int64_t grace_ms, char *err, size_t errlen);

/* lifecycle.c (lifecycle.h has the actions) */
const char *job_state_name(job_state s);
/* Sets the state and records the transition (checkpointed with the job). */
void job_transition_to(job *j, job_state to, const char *who, const char *why);

/* jobs.c: starts output jobs, schedules tasks and retires finished batches
 * without generating new batches (safe from any handler). */
void engine_kick(struct engine *e);
/* jobs.c: tells every alive worker to remove the shuffle buckets starting
 * with prefix and the listed blocks (sched_remove_data). */
void sched_broadcast_remove(struct engine *e, const char *prefix, rblock **blocks,
                            size_t n);

#endif
