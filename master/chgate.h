/*
 * The channel gate (docs/operations.md "Channels and system jobs"): which
 * jobs are a channel's system jobs, which jobs read a channel, and the rule
 * that a job reading a channel starts only while both system jobs run.
 *
 * Kept apart from channels.c (which creates and deletes channels through
 * the engine) so that the start check, called from the engine's submit and
 * from lifecycle.c through runconf_check_start, calls nothing back: it only
 * reads jobs. Called with the master's lock held; memory only.
 */
#ifndef SLUICE_MASTER_CHGATE_H
#define SLUICE_MASTER_CHGATE_H

#include "engine_int.h"

/* The job's sluice.channel.role ("write", "read") and sluice.channel.name;
 * NULL for a user job. */
const char *chgate_role(const job *j);
const char *chgate_channel(const job *j);

/* The system job of channel name with role ("write" or "read"), or NULL. */
job *chgate_system_job(struct engine *e, const char *name, const char *role);

/* Whether one of j's Kafka sources names topic. */
bool chgate_reads_topic(const job *j, const char *topic);

/* Whether user job j reads the channel whose data read job is r: a Kafka
 * source names the channel's topic, or (directory channel DIR) a
 * text_file_stream names DIR/data. */
bool chgate_reads_channel(const job *j, const job *r);

/* SL_OK when every channel j reads has both system jobs RUNNING (or j is a
 * system job); else SL_ESTATE with a message naming the job, the channel
 * and the system job that is not running, with its state. */
int chgate_check_start(const job *j, char *err, size_t errlen);

#endif
