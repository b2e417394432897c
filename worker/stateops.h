/*
 * The reduce side of update_state_by_key and map_with_state: one state task
 * applies one batch's records of one state partition to the partition's
 * in-memory state (statestore.h) and emits the batch's output into the
 * task's chain.
 *
 * The master plans a stateful node as a shuffle by key into the node's
 * fixed partitions and always sends partition p's tasks to the worker that
 * holds its state (master/stateplan.h), one batch after the other. A batch
 * is a transaction: a failing user function or a failing downstream emit
 * aborts it (the state is as before the batch), and a task run again for
 * the batch the state last committed (a retry after a later failure of the
 * task, or a batch re-run after a master restart) first rolls that batch
 * back, so no batch is counted twice.
 *
 * After each batch the partition is copied to the replica worker the
 * master names (a full checkpoint every checkpoint interval, else the
 * batch's delta), and a worker taking a partition over rebuilds it from
 * the copies it holds (stateops.c, top).
 */
#ifndef SLUICE_WORKER_STATEOPS_H
#define SLUICE_WORKER_STATEOPS_H

#include "record.h"
#include "wengine.h"

/* Applies records (the partition's shuffled (key, value) records of batch
 * ts->batch_ms) to state partition ts->input->reduce_partition of node n of
 * job j and emits the node's output into out: update_state_by_key every
 * key's new state, map_with_state the mapped records (and those of the keys
 * timing out), event_time_window the windows the batch's watermark
 * (ts->input->event_watermark_ms) closes (evwindow.h), an incremental
 * reduce_by_key_and_window every key's value in the window: its previous
 * value (none with ts->input->window_recompute) merged with records, the
 * reduced batches that entered it, and leaving (NULL: none), those that
 * left it (winmerge.h). A new, empty
 * partition is first seeded from the node's initial-state function. Blocks
 * while another task holds the partition. A partition this worker takes
 * over is first rebuilt. Sets in st: state_ckpt_ms to the batch when a full
 * checkpoint was replicated with it, state_keys and state_bytes to the
 * partition's size after the task (for the master's views), and for an
 * event-time window max_event_time_ms and late_records of the batch.
 * Returns SL_OK, or non-zero with err set (the batch is then undone, unless
 * only its replication failed: a retry rolls it back): SL_ESTATE when the
 * state has already seen a later batch or cannot be rebuilt. */
int stateops_apply(wengine *we, wjob *j, const Sluice__TaskSpec *ts,
                   const Sluice__Node *n, const rbuf *records, const rbuf *leaving,
                   sl_emitter *out, Sluice__TaskStatus *st, char *err, size_t errlen);

#endif
