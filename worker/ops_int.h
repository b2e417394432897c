/*
 * Internal contract between the two halves of task execution: worker/ops.c
 * (the operator chain, the narrow inputs and the non-shuffle sinks) and
 * worker/shuffle.c (the shuffle sink with its map-side combine, and the
 * reduce side that merges the buckets of a partition). Both work on one
 * task_run, owned by ops_run_task on the slot thread that runs the task;
 * nothing here is thread-safe or meant for other files.
 */
#ifndef SLUICE_WORKER_OPS_INT_H
#define SLUICE_WORKER_OPS_INT_H

#include "api.h"
#include "kvmap.h"
#include "sluice/err.h"
#include "wengine.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct task_run task_run;

/* What a shuffle sink puts in its buckets per record: the record combined
 * with the node's reduce, or a count of 1 under the record's key
 * (count_by_key), under the empty key (count_by_window) or under its value
 * (count_by_value_and_window). The final stage of a windowed count sums
 * the batches' counts as they are. */
typedef enum { SHK_AS_IS, SHK_COUNT_KEY, SHK_COUNT_ALL, SHK_COUNT_VALUE } shuffle_keying;

typedef struct {
	sl_emitter base;
	task_run *tr;
	const Sluice__Node *node;
	void *fn;
	sl_emitter *next;
} op_em;

struct task_run {
	wengine *we;
	wjob *j;
	const Sluice__TaskSpec *ts;
	const Sluice__JobGraph *g;
	Sluice__TaskStatus *st;
	api_task api;
	op_em *ops;
	sl_emitter *head;
	sl_emitter sink;
	/* shuffle sink */
	uint32_t nred;
	rbuf *buckets;
	kvmap **maps;
	struct spill_set **spills; /* per bucket, once its map has spilled */
	size_t spill_at;           /* bytes the maps may hold before spilling */
	size_t unchecked;          /* input bytes since the maps were measured */
	uint64_t nspills;
	sl_reduce_fn combine;
	bool sum_i64; /* combine is the built-in i64 sum (or a count) */
	Sluice__NodeKind shuffle_kind;
	shuffle_keying keying;
	uint64_t rr;
	/* print / save / foreach sinks */
	char **lines;
	size_t nlines;
	FILE *save;
	rbuf collect;
	int val_fmt;
	char *fmtbuf;
	size_t fmtcap;
	/* outcome */
	Sluice__TaskStatus__State state;
	char err[512];
	char missing[32];
	struct reduce_state *rs; /* reduce side of a shuffle input */
	kafka_out *kout;         /* kafka sink */
	bool kdone;              /* this batch's output was committed before */
};

/* ---- worker/ops.c ---- */

/* Marks the task failed with state and a message (the first failure wins);
 * returns SL_EUSER so that callers can return it up the pipeline. */
int ops_fail(task_run *tr, Sluice__TaskStatus__State state, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* ops_fail naming the user function of node n that returned rv. */
int ops_user_failed(task_run *tr, const Sluice__Node *n, int rv);
/* Pushes every record of an encoded record buffer into the chain. */
int ops_push_rbuf(task_run *tr, const uint8_t *data, size_t len);
/* Runs fn over block id, this worker's copy when wid is this worker, else
 * fetched from url. SL_EUSER when fn failed (tr says why), another error
 * with err set when the block could not be had. */
typedef int (*ops_block_fn)(task_run *tr, const uint8_t *data, size_t len);
int ops_with_block(task_run *tr, const char *id, const char *wid, const char *url,
                   ops_block_fn fn, char *err, size_t errlen);
/* An sl_iter's next over an rbuf_iter (it->arg). */
int ops_rbuf_iter_next(sl_iter *it, sl_record *r);

/* ---- worker/shuffle.c ---- */

/* Sets up the shuffle sink of tr (buckets, map-side combine maps). */
int shuffle_sink_open(task_run *tr);
/* Spills the map-side combine maps when they hold more than their share
 * (tr->spill_at). SL_OK, or SL_EUSER with the task failed when a spill
 * cannot be written. */
int shuffle_sink_check(task_run *tr);

/* Input bytes the maps take between two measurements: what they can grow
 * by unmeasured is bounded by the keys these bytes hold (at most a few
 * MiB, within the documented margin), and measuring after every word
 * count line cost ~2 % of its instructions. */
#define SHUFFLE_CHECK_BYTES (16 * 1024)

/* Notes that bytes of input went into the maps; measures them (and
 * spills) every SHUFFLE_CHECK_BYTES. Same results as shuffle_sink_check. */
static inline int shuffle_sink_note(task_run *tr, size_t bytes)
{
	tr->unchecked += bytes;
	if (tr->unchecked < SHUFFLE_CHECK_BYTES)
		return SL_OK;
	tr->unchecked = 0;
	return shuffle_sink_check(tr);
}
/* Stores the buckets as blocks and reports their sizes in tr->st. */
void shuffle_sink_close(task_run *tr);
/* Frees the shuffle sink's buckets and maps. */
void shuffle_sink_free(task_run *tr);
/* The reduce side: merges this partition's buckets of the parent map
 * stage (or joins two parents') and pushes the result into the chain. */
int shuffle_input_run(task_run *tr);

#endif
