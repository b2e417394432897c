/*
 * A job's log lines (sluice logs, docs/operations.md "Logs"): which of a
 * process's kept log lines (log_recent) are about a job, and the worker's
 * answer to the master's MSG_LOG_QUERY. A line is about a job when it names
 * it: its name as a whole word, or "job ID" / "(id ID" with its numeric id.
 */
#ifndef SLUICE_LOGQ_H
#define SLUICE_LOGQ_H

#include "envelope.h"
#include "rpc.h"

#include <stdbool.h>
#include <stdint.h>

/* Most lines one process answers with. */
#define LOGQ_MAX_LINES 2000

/* Whether line names the job (name, id). */
bool logq_line_matches(const char *line, const char *name, uint64_t id);

/* This process's kept lines about the job since `since` ("" = all), the
 * latest `limit` (at most LOGQ_MAX_LINES), oldest first, into out (malloc'd
 * strings: free them). Returns how many. */
size_t logq_collect(const char *name, uint64_t id, const char *since, size_t limit,
                    char **out);

/* Whether s is a usable `since`: "" or a prefix of "YYYY-MM-DDTHH:MM:SS.mmmZ"
 * made of digits, '-', 'T', ':', '.' and 'Z'. */
bool logq_since_ok(const char *s);

/* MSG_LOG_QUERY (a worker, from the master): answers the lines. */
int logq_handle(const envelope *req, rpc_reply *rep);

#endif
