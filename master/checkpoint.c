/*
 * The driver checkpoint: see checkpoint.h.
 *
 * Tables (store.c, schema version 8): jobs (generator clock, state, rate
 * state), batches (progress and committed outputs), kafka_ranges (ranges of
 * the batches not yet retired), kafka_offsets (next offset per partition),
 * blocks (receiver blocks still needed), receivers (placement), state_parts
 * (where each state partition lives). A checkpoint replaces the job's rows
 * in the last five and updates the first two, all
 * in one BEGIN IMMEDIATE ... COMMIT; a failure anywhere rolls it back.
 *
 * The writer steps every statement through ck_step, which is where the
 * fault-injection hook fires, so a test can stop a checkpoint between any
 * two statements.
 */
#include "checkpoint.h"
#include "alloc.h"
#include "clock.h"
#include "log.h"
#include "sluice/err.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---- snapshot building ------------------------------------------------- */

/* Grows v before appending its element n: capacity doubles at powers of 2. */
#define GROW(v, n)                                                                       \
	do {                                                                             \
		if (((n) & ((n)-1)) == 0)                                                \
			(v) = sl_realloc((v), ((n) ? (n)*2 : 1) * sizeof(*(v)));         \
	} while (0)

ckpt_batch *ckpt_add_batch(ckpt_job *c)
{
	GROW(c->batches, c->nbatches);
	ckpt_batch *b = &c->batches[c->nbatches++];
	memset(b, 0, sizeof(*b));
	return b;
}

ckpt_range *ckpt_add_range(ckpt_range **v, size_t *n)
{
	GROW(*v, *n);
	ckpt_range *r = &(*v)[(*n)++];
	memset(r, 0, sizeof(*r));
	return r;
}

ckpt_block *ckpt_add_block(ckpt_job *c)
{
	GROW(c->blocks, c->nblocks);
	ckpt_block *b = &c->blocks[c->nblocks++];
	memset(b, 0, sizeof(*b));
	return b;
}

void ckpt_add_file(ckpt_job *c, int64_t batch_ms, const char *path)
{
	GROW(c->files, c->nfiles);
	c->files[c->nfiles++] =
	    (ckpt_file){.batch_ms = batch_ms, .path = sl_strdup(path)};
}

static void ranges_free(ckpt_range *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sl_free(v[i].topic);
	sl_free(v);
}

void ckpt_job_free(ckpt_job *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nbatches; i++)
		sl_free(c->batches[i].error);
	for (size_t i = 0; i < c->nkept; i++)
		sl_free(c->kept[i].error);
	sl_free(c->kept);
	for (size_t i = 0; i < c->nblocks; i++) {
		ckpt_block *b = &c->blocks[i];
		sl_free(b->id);
		sl_free(b->wal);
		for (int h = 0; h < CKPT_HOLDERS; h++) {
			sl_free(b->holder_id[h]);
			sl_free(b->holder_url[h]);
		}
	}
	ranges_free(c->ranges, c->nranges);
	ranges_free(c->offsets, c->noffsets);
	sl_free(c->batches);
	sl_free(c->blocks);
	sl_free(c->receivers);
	sl_free(c->stparts);
	for (size_t i = 0; i < c->nfiles; i++)
		sl_free(c->files[i].path);
	sl_free(c->files);
	for (size_t i = 0; i < c->ntransitions; i++) {
		sl_free(c->transitions[i].who);
		sl_free(c->transitions[i].why);
	}
	sl_free(c->transitions);
	sl_free(c->error);
	sl_free(c->rate_state);
	sl_free(c);
}

/* ---- writing ----------------------------------------------------------- */

static int (*ck_fault_fn)(void *, int);
static void *ck_fault_arg;

void checkpoint_set_fault(int (*fn)(void *arg, int stmt), void *arg)
{
	ck_fault_fn = fn;
	ck_fault_arg = arg;
}

typedef struct {
	sqlite3 *db;
	int stmt; /* statements stepped so far (fault-injection index) */
	char *err;
	size_t errlen;
} ck_writer;

/* Steps a statement to completion and resets it for the next use. */
static int ck_step(ck_writer *w, sqlite3_stmt *st)
{
	if (ck_fault_fn != NULL && ck_fault_fn(ck_fault_arg, w->stmt) != 0) {
		snprintf(w->err, w->errlen,
		         "checkpoint: injected failure at statement %d", w->stmt);
		sqlite3_reset(st);
		return SL_EDB;
	}
	w->stmt++;
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		snprintf(w->err, w->errlen, "checkpoint: %s", sqlite3_errmsg(w->db));
		return SL_EDB;
	}
	return SL_OK;
}

static int ck_exec(ck_writer *w, const char *sql, uint64_t job_id)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(w->db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(w->err, w->errlen, "checkpoint: %s", sqlite3_errmsg(w->db));
		return SL_EDB;
	}
	sqlite3_bind_int64(st, 1, (sqlite3_int64)job_id);
	int rv = ck_step(w, st);
	sqlite3_finalize(st);
	return rv;
}

static sqlite3_stmt *ck_prepare(ck_writer *w, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(w->db, sql, -1, &st, NULL) != SQLITE_OK)
		snprintf(w->err, w->errlen, "checkpoint: %s", sqlite3_errmsg(w->db));
	return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	sqlite3_bind_text(st, i, s ? s : "", -1, SQLITE_STATIC);
}

static int write_job(ck_writer *w, const ckpt_job *c)
{
	/* MAX(): the generator clock never goes backwards, whatever the order
	 * in which snapshots were made. */
	sqlite3_stmt *st = ck_prepare(
	    w, "UPDATE jobs SET state = ?, error = ?, next_batch_ms = "
	       "MAX(next_batch_ms, ?), last_batch_ms = ?, rate_state = ?, records = ?, "
	       "batches_done = ?, batches_failed = ? WHERE id = ?");
	if (st == NULL)
		return SL_EDB;
	bind_text(st, 1, c->state);
	bind_text(st, 2, c->error);
	sqlite3_bind_int64(st, 3, c->next_batch_ms);
	sqlite3_bind_int64(st, 4, c->last_batch_ms);
	bind_text(st, 5, c->rate_state);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)c->records);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)c->batches_done);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)c->batches_failed);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)c->job_id);
	int rv = ck_step(w, st);
	sqlite3_finalize(st);
	return rv;
}

static int write_transitions(ck_writer *w, const ckpt_job *c)
{
	if (c->ntransitions == 0)
		return SL_OK;
	sqlite3_stmt *st = ck_prepare(
	    w, "INSERT OR IGNORE INTO job_transitions(job_id, seq, at_ms, from_state, "
	       "to_state, who, why) VALUES (?,?,?,?,?,?,?)");
	if (st == NULL)
		return SL_EDB;
	int rv = SL_OK;
	for (size_t i = 0; i < c->ntransitions && rv == SL_OK; i++) {
		const ckpt_transition *t = &c->transitions[i];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)c->job_id);
		sqlite3_bind_int64(st, 2, t->seq);
		sqlite3_bind_int64(st, 3, t->at_ms);
		bind_text(st, 4, t->from);
		bind_text(st, 5, t->to);
		bind_text(st, 6, t->who);
		bind_text(st, 7, t->why);
		rv = ck_step(w, st);
	}
	sqlite3_finalize(st);
	return rv;
}

static int write_batches(ck_writer *w, const ckpt_job *c)
{
	sqlite3_stmt *st = ck_prepare(
	    w, "INSERT INTO batches(job_id, batch_ms, state, input_records, submit_ms, "
	       "start_ms, end_ms, outputs_done, error) VALUES (?,?,?,?,?,?,?,?,?) "
	       "ON CONFLICT(job_id, batch_ms) DO UPDATE SET state=excluded.state, "
	       "input_records=excluded.input_records, start_ms=excluded.start_ms, "
	       "end_ms=excluded.end_ms, outputs_done=excluded.outputs_done, "
	       "error=excluded.error");
	int rv = st ? SL_OK : SL_EDB;
	for (size_t i = 0; i < c->nbatches && rv == SL_OK; i++) {
		const ckpt_batch *b = &c->batches[i];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)c->job_id);
		sqlite3_bind_int64(st, 2, b->time_ms);
		bind_text(st, 3, b->state);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)b->input_records);
		sqlite3_bind_int64(st, 5, b->time_ms);
		sqlite3_bind_int64(st, 6, b->start_ms);
		sqlite3_bind_int64(st, 7, b->end_ms);
		sqlite3_bind_int64(st, 8, (sqlite3_int64)b->outputs_done);
		bind_text(st, 9, b->error);
		rv = ck_step(w, st);
	}
	sqlite3_finalize(st);
	return rv;
}

static int write_ranges(ck_writer *w, const ckpt_job *c)
{
	int rv = ck_exec(w, "DELETE FROM kafka_ranges WHERE job_id = ?", c->job_id);
	sqlite3_stmt *st = ck_prepare(
	    w, "INSERT INTO kafka_ranges(job_id, batch_ms, node, topic, partition, "
	       "from_offset, until_offset) VALUES (?,?,?,?,?,?,?)");
	rv = rv == SL_OK && st ? SL_OK : SL_EDB;
	for (size_t i = 0; i < c->nranges && rv == SL_OK; i++) {
		const ckpt_range *r = &c->ranges[i];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)c->job_id);
		sqlite3_bind_int64(st, 2, r->batch_ms);
		sqlite3_bind_int(st, 3, (int)r->node);
		bind_text(st, 4, r->topic);
		sqlite3_bind_int(st, 5, r->partition);
		sqlite3_bind_int64(st, 6, r->from);
		sqlite3_bind_int64(st, 7, r->until);
		rv = ck_step(w, st);
	}
	sqlite3_finalize(st);
	return rv;
}

static int write_offsets(ck_writer *w, const ckpt_job *c)
{
	sqlite3_stmt *st = ck_prepare(
	    w, "INSERT INTO kafka_offsets(job_id, node, topic, partition, next_offset) "
	       "VALUES (?,?,?,?,?) ON CONFLICT(job_id, node, topic, partition) DO "
	       "UPDATE SET next_offset = MAX(next_offset, excluded.next_offset)");
	int rv = st ? SL_OK : SL_EDB;
	for (size_t i = 0; i < c->noffsets && rv == SL_OK; i++) {
		const ckpt_range *r = &c->offsets[i];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)c->job_id);
		sqlite3_bind_int(st, 2, (int)r->node);
		bind_text(st, 3, r->topic);
		sqlite3_bind_int(st, 4, r->partition);
		sqlite3_bind_int64(st, 5, r->until);
		rv = ck_step(w, st);
	}
	sqlite3_finalize(st);
	return rv;
}

static int write_blocks(ck_writer *w, const ckpt_job *c)
{
	int rv = ck_exec(w, "DELETE FROM blocks WHERE job_id = ?", c->job_id);
	sqlite3_stmt *st = ck_prepare(
	    w, "INSERT INTO blocks(job_id, block_id, node, batch_ms, records, bytes, "
	       "created_ms, holder1_id, holder1_url, holder2_id, holder2_url, wal) "
	       "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
	rv = rv == SL_OK && st ? SL_OK : SL_EDB;
	for (size_t i = 0; i < c->nblocks && rv == SL_OK; i++) {
		const ckpt_block *b = &c->blocks[i];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)c->job_id);
		bind_text(st, 2, b->id);
		sqlite3_bind_int(st, 3, (int)b->node);
		sqlite3_bind_int64(st, 4, b->batch_ms);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)b->records);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)b->bytes);
		sqlite3_bind_int64(st, 7, b->created_ms);
		for (int h = 0; h < CKPT_HOLDERS; h++) {
			bind_text(st, 8 + 2 * h, h < b->nholders ? b->holder_id[h] : "");
			bind_text(st, 9 + 2 * h, h < b->nholders ? b->holder_url[h] : "");
		}
		bind_text(st, 12, b->wal);
		rv = ck_step(w, st);
	}
	sqlite3_finalize(st);
	return rv;
}

static int write_receivers(ck_writer *w, const ckpt_job *c)
{
	int rv = ck_exec(w, "DELETE FROM receivers WHERE job_id = ?", c->job_id);
	sqlite3_stmt *st =
	    ck_prepare(w, "INSERT INTO receivers(job_id, receiver_id, worker_id) "
	                  "VALUES (?,?,?)");
	rv = rv == SL_OK && st ? SL_OK : SL_EDB;
	for (size_t i = 0; i < c->nreceivers && rv == SL_OK; i++) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)c->job_id);
		sqlite3_bind_int(st, 2, (int)c->receivers[i].receiver_id);
		bind_text(st, 3, c->receivers[i].worker);
		rv = ck_step(w, st);
	}
	sqlite3_finalize(st);
	return rv;
}

static int write_stparts(ck_writer *w, const ckpt_job *c)
{
	int rv = ck_exec(w, "DELETE FROM state_parts WHERE job_id = ?", c->job_id);
	sqlite3_stmt *st = ck_prepare(w, "INSERT INTO state_parts(job_id, node, part, "
	                                 "nparts, worker_id, replica_id, ckpt_ms, "
	                                 "ev_max, ev_batch, ev_bmax, ev_late, ev_blate) "
	                                 "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
	rv = rv == SL_OK && st ? SL_OK : SL_EDB;
	for (size_t i = 0; i < c->nstparts && rv == SL_OK; i++) {
		const ckpt_statepart *p = &c->stparts[i];
		sqlite3_bind_int64(st, 1, (sqlite3_int64)c->job_id);
		sqlite3_bind_int(st, 2, (int)p->node);
		sqlite3_bind_int(st, 3, (int)p->part);
		sqlite3_bind_int(st, 4, (int)p->nparts);
		bind_text(st, 5, p->worker);
		bind_text(st, 6, p->replica);
		sqlite3_bind_int64(st, 7, p->ckpt_ms);
		sqlite3_bind_int64(st, 8, p->ev_max);
		sqlite3_bind_int64(st, 9, p->ev_batch);
		sqlite3_bind_int64(st, 10, p->ev_bmax);
		sqlite3_bind_int64(st, 11, (sqlite3_int64)p->ev_late);
		sqlite3_bind_int64(st, 12, (sqlite3_int64)p->ev_blate);
		rv = ck_step(w, st);
	}
	sqlite3_finalize(st);
	return rv;
}

static int write_files(ck_writer *w, const ckpt_job *c)
{
	int rv = ck_exec(w, "DELETE FROM taken_files WHERE job_id = ?", c->job_id);
	sqlite3_stmt *st = ck_prepare(w, "INSERT OR IGNORE INTO taken_files(job_id, "
	                                 "batch_ms, path) VALUES (?,?,?)");
	rv = rv == SL_OK && st ? SL_OK : SL_EDB;
	for (size_t i = 0; i < c->nfiles && rv == SL_OK; i++) {
		sqlite3_bind_int64(st, 1, (sqlite3_int64)c->job_id);
		sqlite3_bind_int64(st, 2, c->files[i].batch_ms);
		bind_text(st, 3, c->files[i].path);
		rv = ck_step(w, st);
	}
	sqlite3_finalize(st);
	return rv;
}

int checkpoint_write(sqlite3 *db, const ckpt_job *c, char *err, size_t errlen)
{
	ck_writer w = {.db = db, .err = err, .errlen = errlen};
	char *msg = NULL;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "checkpoint: %s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return SL_EDB;
	}
	int rv = write_job(&w, c);
	if (rv == SL_OK)
		rv = write_batches(&w, c);
	if (rv == SL_OK)
		rv = write_ranges(&w, c);
	if (rv == SL_OK)
		rv = write_offsets(&w, c);
	if (rv == SL_OK)
		rv = write_blocks(&w, c);
	if (rv == SL_OK)
		rv = write_receivers(&w, c);
	if (rv == SL_OK)
		rv = write_transitions(&w, c);
	if (rv == SL_OK)
		rv = write_stparts(&w, c);
	if (rv == SL_OK)
		rv = write_files(&w, c);
	if (rv == SL_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "checkpoint commit: %s",
		         msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		rv = SL_EDB;
	}
	if (rv != SL_OK)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rv;
}

/* ---- loading ----------------------------------------------------------- */

static char *col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return sl_strdup(s ? (const char *)s : "");
}

static sqlite3_stmt *load_prepare(sqlite3 *db, const char *sql, uint64_t job_id)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK)
		sqlite3_bind_int64(st, 1, (sqlite3_int64)job_id);
	return st;
}

static int load_job(sqlite3 *db, ckpt_job *c)
{
	sqlite3_stmt *st =
	    load_prepare(db,
	                 "SELECT state, error, next_batch_ms, last_batch_ms, rate_state, "
	                 "records, batches_done, batches_failed FROM jobs WHERE id = ?",
	                 c->job_id);
	if (st == NULL)
		return SL_EDB;
	int rv = SL_ENOTFOUND;
	if (sqlite3_step(st) == SQLITE_ROW) {
		snprintf(c->state, sizeof(c->state), "%s", sqlite3_column_text(st, 0));
		c->error = col_str(st, 1);
		c->next_batch_ms = sqlite3_column_int64(st, 2);
		c->last_batch_ms = sqlite3_column_int64(st, 3);
		c->rate_state = col_str(st, 4);
		c->records = (uint64_t)sqlite3_column_int64(st, 5);
		c->batches_done = (uint64_t)sqlite3_column_int64(st, 6);
		c->batches_failed = (uint64_t)sqlite3_column_int64(st, 7);
		rv = SL_OK;
	}
	sqlite3_finalize(st);
	return rv;
}

static void read_batch_row(sqlite3_stmt *st, ckpt_batch *b)
{
	b->time_ms = sqlite3_column_int64(st, 0);
	snprintf(b->state, sizeof(b->state), "%s", sqlite3_column_text(st, 1));
	b->outputs_done = (uint64_t)sqlite3_column_int64(st, 2);
	b->input_records = (uint64_t)sqlite3_column_int64(st, 3);
	b->start_ms = sqlite3_column_int64(st, 4);
	b->end_ms = sqlite3_column_int64(st, 5);
	b->error = col_str(st, 6);
}

static int load_batches(sqlite3 *db, ckpt_job *c)
{
	sqlite3_stmt *st = load_prepare(
	    db,
	    "SELECT batch_ms, state, outputs_done, input_records, start_ms, end_ms, "
	    "error FROM batches WHERE job_id = ? AND state IN ('QUEUED', 'RUNNING', "
	    "'HALTED') "
	    "ORDER BY batch_ms",
	    c->job_id);
	if (st == NULL)
		return SL_EDB;
	while (sqlite3_step(st) == SQLITE_ROW)
		read_batch_row(st, ckpt_add_batch(c));
	sqlite3_finalize(st);
	return SL_OK;
}

int checkpoint_load_kept(sqlite3 *db, ckpt_job *c, int64_t since_ms, char *err,
                         size_t errlen)
{
	sqlite3_stmt *st = load_prepare(
	    db,
	    "SELECT batch_ms, state, outputs_done, input_records, start_ms, end_ms, "
	    "error FROM batches WHERE job_id = ? AND batch_ms >= ? AND state IN "
	    "('DONE', 'FAILED') ORDER BY batch_ms",
	    c->job_id);
	if (st == NULL) {
		snprintf(err, errlen, "loading the kept batches of job %llu: %s",
		         (unsigned long long)c->job_id, sqlite3_errmsg(db));
		return SL_EDB;
	}
	sqlite3_bind_int64(st, 2, since_ms);
	while (sqlite3_step(st) == SQLITE_ROW) {
		c->kept = sl_realloc(c->kept, (c->nkept + 1) * sizeof(*c->kept));
		memset(&c->kept[c->nkept], 0, sizeof(*c->kept));
		read_batch_row(st, &c->kept[c->nkept++]);
	}
	sqlite3_finalize(st);
	return SL_OK;
}

static int load_ranges(sqlite3 *db, const char *sql, uint64_t job_id, ckpt_range **v,
                       size_t *n)
{
	sqlite3_stmt *st = load_prepare(db, sql, job_id);
	if (st == NULL)
		return SL_EDB;
	while (sqlite3_step(st) == SQLITE_ROW) {
		ckpt_range *r = ckpt_add_range(v, n);
		r->batch_ms = sqlite3_column_int64(st, 0);
		r->node = (uint32_t)sqlite3_column_int(st, 1);
		r->topic = col_str(st, 2);
		r->partition = sqlite3_column_int(st, 3);
		r->from = sqlite3_column_int64(st, 4);
		r->until = sqlite3_column_int64(st, 5);
	}
	sqlite3_finalize(st);
	return SL_OK;
}

static int load_blocks(sqlite3 *db, ckpt_job *c)
{
	sqlite3_stmt *st = load_prepare(
	    db,
	    "SELECT block_id, node, batch_ms, records, bytes, created_ms, holder1_id, "
	    "holder1_url, holder2_id, holder2_url, wal FROM blocks WHERE job_id = ? "
	    "ORDER BY batch_ms, created_ms, block_id",
	    c->job_id);
	if (st == NULL)
		return SL_EDB;
	while (sqlite3_step(st) == SQLITE_ROW) {
		ckpt_block *b = ckpt_add_block(c);
		b->id = col_str(st, 0);
		b->node = (uint32_t)sqlite3_column_int(st, 1);
		b->batch_ms = sqlite3_column_int64(st, 2);
		b->records = (uint64_t)sqlite3_column_int64(st, 3);
		b->bytes = (uint64_t)sqlite3_column_int64(st, 4);
		b->created_ms = sqlite3_column_int64(st, 5);
		for (int h = 0; h < CKPT_HOLDERS; h++) {
			const unsigned char *id = sqlite3_column_text(st, 6 + 2 * h);
			if (id == NULL || id[0] == '\0')
				continue;
			b->holder_id[b->nholders] = sl_strdup((const char *)id);
			b->holder_url[b->nholders++] = col_str(st, 7 + 2 * h);
		}
		b->wal = col_str(st, 10);
	}
	sqlite3_finalize(st);
	return SL_OK;
}

static int load_receivers(sqlite3 *db, ckpt_job *c)
{
	sqlite3_stmt *st =
	    load_prepare(db,
	                 "SELECT receiver_id, worker_id FROM receivers WHERE job_id = ? "
	                 "ORDER BY receiver_id",
	                 c->job_id);
	if (st == NULL)
		return SL_EDB;
	while (sqlite3_step(st) == SQLITE_ROW) {
		GROW(c->receivers, c->nreceivers);
		ckpt_receiver *r = &c->receivers[c->nreceivers++];
		r->receiver_id = (uint32_t)sqlite3_column_int(st, 0);
		snprintf(r->worker, sizeof(r->worker), "%s", sqlite3_column_text(st, 1));
	}
	sqlite3_finalize(st);
	return SL_OK;
}

static int load_stparts(sqlite3 *db, ckpt_job *c)
{
	sqlite3_stmt *st =
	    load_prepare(db,
	                 "SELECT node, part, nparts, worker_id, replica_id, ckpt_ms, "
	                 "ev_max, ev_batch, ev_bmax, ev_late, ev_blate "
	                 "FROM state_parts WHERE job_id = ? ORDER BY node, part",
	                 c->job_id);
	if (st == NULL)
		return SL_EDB;
	while (sqlite3_step(st) == SQLITE_ROW) {
		GROW(c->stparts, c->nstparts);
		ckpt_statepart *p = &c->stparts[c->nstparts++];
		p->node = (uint32_t)sqlite3_column_int(st, 0);
		p->part = (uint32_t)sqlite3_column_int(st, 1);
		p->nparts = (uint32_t)sqlite3_column_int(st, 2);
		snprintf(p->worker, sizeof(p->worker), "%s", sqlite3_column_text(st, 3));
		snprintf(p->replica, sizeof(p->replica), "%s",
		         sqlite3_column_text(st, 4));
		p->ckpt_ms = sqlite3_column_int64(st, 5);
		p->ev_max = sqlite3_column_int64(st, 6);
		p->ev_batch = sqlite3_column_int64(st, 7);
		p->ev_bmax = sqlite3_column_int64(st, 8);
		p->ev_late = (uint64_t)sqlite3_column_int64(st, 9);
		p->ev_blate = (uint64_t)sqlite3_column_int64(st, 10);
	}
	sqlite3_finalize(st);
	return SL_OK;
}

static int load_files(sqlite3 *db, ckpt_job *c)
{
	sqlite3_stmt *st = load_prepare(db,
	                                "SELECT batch_ms, path FROM taken_files WHERE "
	                                "job_id = ? ORDER BY batch_ms, path",
	                                c->job_id);
	if (st == NULL)
		return SL_EDB;
	while (sqlite3_step(st) == SQLITE_ROW)
		ckpt_add_file(c, sqlite3_column_int64(st, 0),
		              (const char *)sqlite3_column_text(st, 1));
	sqlite3_finalize(st);
	return SL_OK;
}

int checkpoint_load(sqlite3 *db, uint64_t job_id, ckpt_job **out, char *err,
                    size_t errlen)
{
	ckpt_job *c = sl_calloc(1, sizeof(*c));
	c->job_id = job_id;
	/* One read transaction: every table as of the same commit. */
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	int rv = load_job(db, c);
	if (rv == SL_OK)
		rv = load_batches(db, c);
	if (rv == SL_OK)
		rv = load_ranges(
		    db,
		    "SELECT batch_ms, node, topic, partition, from_offset, "
		    "until_offset FROM kafka_ranges WHERE job_id = ? ORDER BY "
		    "batch_ms, node, topic, partition",
		    job_id, &c->ranges, &c->nranges);
	if (rv == SL_OK)
		rv = load_ranges(
		    db,
		    "SELECT 0, node, topic, partition, next_offset, "
		    "next_offset FROM kafka_offsets WHERE job_id = ? ORDER BY "
		    "node, topic, partition",
		    job_id, &c->offsets, &c->noffsets);
	if (rv == SL_OK)
		rv = load_blocks(db, c);
	if (rv == SL_OK)
		rv = load_receivers(db, c);
	if (rv == SL_OK)
		rv = load_stparts(db, c);
	if (rv == SL_OK)
		rv = load_files(db, c);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rv != SL_OK) {
		snprintf(err, errlen, "loading the checkpoint of job %llu: %s",
		         (unsigned long long)job_id,
		         rv == SL_ENOTFOUND ? "no such job" : sqlite3_errmsg(db));
		ckpt_job_free(c);
		return rv;
	}
	*out = c;
	return SL_OK;
}

/* ---- the checkpointer thread -------------------------------------------- */

typedef struct ck_item {
	ckpt_job *c;
	uint64_t seq;
	struct ck_item *next;
} ck_item;

struct checkpointer {
	sqlite3 *db;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	ck_item *head, *tail;
	bool stopping;
	checkpoint_done_fn done;
	void *arg;
};

/* Whether a later snapshot of the same job is queued (under mu): each one
 * holds the job's whole state, so the later one supersedes it. */
static bool ck_superseded(const ck_item *it)
{
	for (const ck_item *o = it->next; o != NULL; o = o->next)
		if (o->c->job_id == it->c->job_id)
			return true;
	return false;
}

static void *ck_main(void *arg)
{
	checkpointer *cp = arg;
	char err[512];
	pthread_mutex_lock(&cp->mu);
	while (cp->head != NULL || !cp->stopping) {
		ck_item *it = cp->head;
		if (it == NULL) {
			pthread_cond_wait(&cp->cond, &cp->mu);
			continue;
		}
		cp->head = it->next;
		if (cp->head == NULL)
			cp->tail = NULL;
		if (ck_superseded(it)) {
			/* a disk slower than the changes: write only the latest */
			ckpt_job_free(it->c);
			sl_free(it);
			continue;
		}
		pthread_mutex_unlock(&cp->mu);
		err[0] = '\0';
		int64_t t0 = clock_mono_ns();
		int rv = checkpoint_write(cp->db, it->c, err, sizeof(err));
		/* bench/recovery_bench.py reads these (checkpoint cost) */
		log_debug("checkpoint %llu of job %llu written in %lld us (%zu batches, "
		          "%zu blocks, %zu ranges)",
		          (unsigned long long)it->seq, (unsigned long long)it->c->job_id,
		          (long long)((clock_mono_ns() - t0) / 1000), it->c->nbatches,
		          it->c->nblocks, it->c->nranges);
		cp->done(cp->arg, it->c->job_id, it->seq, rv, err);
		ckpt_job_free(it->c);
		sl_free(it);
		pthread_mutex_lock(&cp->mu);
	}
	pthread_mutex_unlock(&cp->mu);
	return NULL;
}

int checkpointer_start(const char *path, checkpoint_done_fn done, void *arg,
                       checkpointer **out, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL,
	                 NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "checkpointer: cannot open %s: %s", path,
		         db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return SL_EDB;
	}
	sqlite3_busy_timeout(db, 10000);
	checkpointer *cp = sl_calloc(1, sizeof(*cp));
	cp->db = db;
	cp->done = done;
	cp->arg = arg;
	pthread_mutex_init(&cp->mu, NULL);
	pthread_cond_init(&cp->cond, NULL);
	pthread_create(&cp->thread, NULL, ck_main, cp);
	*out = cp;
	return SL_OK;
}

void checkpointer_submit(checkpointer *cp, ckpt_job *c, uint64_t seq)
{
	ck_item *it = sl_calloc(1, sizeof(*it));
	it->c = c;
	it->seq = seq;
	pthread_mutex_lock(&cp->mu);
	if (cp->tail)
		cp->tail->next = it;
	else
		cp->head = it;
	cp->tail = it;
	pthread_cond_signal(&cp->cond);
	pthread_mutex_unlock(&cp->mu);
}

void checkpointer_stop(checkpointer *cp)
{
	if (cp == NULL)
		return;
	pthread_mutex_lock(&cp->mu);
	cp->stopping = true;
	pthread_cond_signal(&cp->cond);
	pthread_mutex_unlock(&cp->mu);
	pthread_join(cp->thread, NULL);
	sqlite3_close(cp->db);
	pthread_mutex_destroy(&cp->mu);
	pthread_cond_destroy(&cp->cond);
	sl_free(cp);
}
