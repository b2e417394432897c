/*
 * Sending a state partition's blocks to its replica worker, and a full
 * checkpoint off the batch's critical path.
 *
 * A full checkpoint of a large partition (1M keys) costs hundreds of ms to
 * compress, checksum, send and store on the replica; done in the state task
 * it delayed every checkpoint batch by as much (docs/performance.md, "State
 * end to end"). The task instead copies the committed state into records
 * (a frozen copy: later batches change the partition, not the copy) and
 * hands them to a thread of their own, which encodes them and sends the
 * block while later batches run. The task of a later batch polls it: the
 * checkpoint counts (is reported to the master, which may then remove the
 * older one) only once the replica has acknowledged it, and no other full
 * checkpoint starts before that (stateops.c keeps the deltas that bridge
 * the gap).
 */
#ifndef SLUICE_WORKER_STATECKPT_H
#define SLUICE_WORKER_STATECKPT_H

#include "peers.h"
#include "record.h"

#include <stdint.h>

/* Sends b as block id to the replica at url (stored on its disk) and waits
 * for its answer: SL_OK or non-zero with err set. */
int state_put_replica(peer_pool *peers, const char *url, const char *id, const rbuf *b,
                      char *err, size_t errlen);

typedef struct state_ckpt state_ckpt;

/* Starts sending records (taken over: *records is left empty) as block id
 * of batch batch_ms to replica replica_id at url, on a thread of its own.
 * NULL with err set when it cannot start. */
state_ckpt *state_ckpt_start(peer_pool *peers, const char *url, const char *replica_id,
                             const char *id, int64_t batch_ms, rbuf *records, char *err,
                             size_t errlen);

/* 0 while in flight, 1 once the replica acknowledged the block, -1 when
 * sending it failed (the reason in err). */
int state_ckpt_poll(state_ckpt *c, char *err, size_t errlen);

/* The batch and replica the checkpoint is of. */
int64_t state_ckpt_batch(const state_ckpt *c);
const char *state_ckpt_replica(const state_ckpt *c);

/* Drops the caller's hold on c (void * for state_part_set_aux); a send in
 * flight finishes on its thread, which then frees what is left. */
void state_ckpt_release(void *c);

#endif
