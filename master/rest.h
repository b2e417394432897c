/*
 * The master's HTTP front: the REST API of docs/openapi.yaml under /api/v1
 * and the Prometheus page /metrics (mmetrics.h), on common/httpd.
 *
 * Authentication (docs/security.md): every /api/v1 call needs a bearer token
 * that auth_token_role maps to the operator role (any call) or the reader
 * role (GET only). A call without a valid token is answered 401, a POST with
 * the reader token 403; both are logged with the method and path. /metrics is
 * read-only and open, as the workers' is.
 *
 * Threading: requests run on nng's HTTP threads. Each takes the master's
 * lock only to read the engine or apply a lifecycle action (no I/O under it:
 * the state change is written by the checkpointer), builds its JSON after
 * copying under the lock, and answers.
 */
#ifndef SLUICE_MASTER_REST_H
#define SLUICE_MASTER_REST_H

#include "master.h"
#include "rpc.h"

typedef struct rest rest;

/* Serves http://<sluice.master.host>:<sluice.http.port>; writes the bound
 * URL to STATE/master.http. SL_OK, or an error naming the address. */
int rest_start(master *m, rest **out, char *err, size_t errlen);

/* MSG_JOB_QUERY (the CLI's read views): answers with the status and JSON
 * body the API gives for GET /api/v1/jobs/{job}/{what}. Called WITHOUT the
 * master's lock (it takes it; the alert history is read without it); the
 * RPC layer has already checked the sender may read. */
int rest_query(master *m, const envelope *req, rpc_reply *rep);

/* MSG_API_CALL (the CLI's channels, logs, summary, run-config and config
 * import): runs the REST operation it names (method, path, query, JSON
 * body) and answers with the API's status and JSON body. Called WITHOUT the
 * master's lock. GET needs a reader or operator credential (the RPC layer
 * checked one); anything else needs the operator's, or is answered 403. */
int rest_call(master *m, const envelope *req, rpc_reply *rep);

/* Stops serving (waits for running requests) and frees; NULL is ignored.
 * Call before the engine is freed. */
void rest_stop(rest *r);

#endif
