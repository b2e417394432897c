/*
 * Job submission, shared by `sluice submit` and `sluice standalone`: loads a
 * job library locally, runs its sluice_job_define, checks the graph
 * (structure, output operations, every named function exported), and sends
 * graph + library bytes + configuration to the master.
 */
#ifndef SLUICE_CLIENT_SUBMIT_H
#define SLUICE_CLIENT_SUBMIT_H

#include "client.h"

#include <stdbool.h>
#include <stdint.h>

/* Builds and checks the job; on success sends it and prints the job id.
 * job_conf holds the job's --conf keys (CONF_APP_KEYS); start: the job runs
 * at once, otherwise it is PUBLISHED until `sluice start`. Returns EXIT_OK,
 * or EXIT_ERR with a message on stderr naming what is wrong. */
int submit_job(client *c, const char *lib_path, const char *name, int64_t batch_ms,
               sl_conf *job_conf, bool start);

#endif
