/*
 * A job's definition (model.h: jobdef): the library, its hash, the
 * graph and the full configuration, owned by the job rather than kept as the
 * SubmitJob wire message, so that it can be rebuilt from the state store
 * after a master restart.
 *
 * The configuration is stored in the jobs table as a JSON object of strings
 * (cJSON), the graph as its packed protobuf, the library in the libraries
 * table under its SHA-256. A stored library whose bytes no longer hash to
 * the name it is stored under is refused, naming both hashes.
 *
 * Called under the master's lock; no I/O but the state store.
 */
#ifndef SLUICE_MASTER_JOBDEF_H
#define SLUICE_MASTER_JOBDEF_H

#include "model.h"

#include <sqlite3.h>

/* Takes a copy of what s defines (s stays the caller's). */
void jobdef_from_submit(jobdef *d, const Sluice__SubmitJob *s);
void jobdef_free(jobdef *d);

/* SHA-256 of data as 64 hex digits. */
void jobdef_sha256_hex(const uint8_t *data, size_t len, char out[65]);

/* The configuration as a JSON object; caller frees with sl_free. */
char *jobdef_conf_json(const jobdef *d);

/* Rebuilds a definition from a jobs row's parts and the stored library.
 * SL_EJOB with a message naming the problem (unreadable graph or conf,
 * missing library, or a library whose hash does not match: both named). */
int jobdef_load(jobdef *d, sqlite3 *db, const char *lib_hash, const void *graph,
                size_t graph_len, const char *conf_json, char *err, size_t errlen);

/* The configuration as FetchLibraryReply entries; free with
 * jobdef_conf_entries_free. */
Sluice__FetchLibraryReply__ConfEntry **jobdef_conf_entries(const jobdef *d);
void jobdef_conf_entries_free(Sluice__FetchLibraryReply__ConfEntry **e, size_t n);

#endif
