/*
 * Channels (SPEC §8, docs/operations.md "Channels and system jobs"): a named
 * data path between the outside world and user jobs, kept in a Kafka topic
 * (or, for a directory channel DIR, in DIR/landing and DIR/data: write
 * saves the source under DIR/landing, read copies each finished batch to
 * DIR/data, which user jobs read with text_file_stream).
 * Creating channel C with topic T creates its two system jobs, ordinary jobs
 * of the engine built by the master from built-in nodes only:
 *
 *   C.write (data write)  the channel's source (a Kafka topic, a line server,
 *                          a directory) -> Kafka topic T.in (the landing)
 *   C.read  (data read)   T.in -> T, exactly once: what user jobs read
 *
 * A user job whose Kafka sources name T (directory channel: whose
 * text_file_stream names DIR/data) reads the channel; it cannot start
 * while either system job is not RUNNING (chgate.h, called by
 * runconf_check_start). A channel has no table of its own: it is the pair
 * of system jobs, marked by their sluice.channel.* keys, so it is persisted,
 * checkpointed and restored exactly as they are.
 *
 * Threading: every function is called with the master's lock held, except
 * channels_purge, which runs after it is let go (it writes the store).
 */
#ifndef SLUICE_MASTER_CHANNELS_H
#define SLUICE_MASTER_CHANNELS_H

#include "engine_int.h"
#include "httpd.h"

/* Jobs removed from the engine by a channel deletion, whose rows are
 * deleted from the state store by channels_purge once the lock is let go. */
typedef struct {
	uint64_t ids[2];
	size_t n;
} channels_gc;

/* /api/v1/channels[/{name}]: sub is the path after "channels" ("" or
 * "/NAME"); who names the caller for the transitions ("rest:operator"). */
void channels_route(master *m, const char *sub, const httpd_req *req, const char *who,
                    httpd_res *res, channels_gc *gc);

/* Deletes the rows of the jobs in gc from the state store on a connection
 * of its own (no master lock held). Errors are logged: the jobs are gone
 * from memory, and rows left behind come back as stopped system jobs after
 * a restart, when the deletion can be repeated. */
void channels_purge(master *m, const channels_gc *gc);

#endif
