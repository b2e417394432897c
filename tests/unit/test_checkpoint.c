/*
 * Unit tests for the driver checkpoint (master/checkpoint.c).
 *
 * The property that matters: whatever moment the master dies at, the state
 * it recovers is one that a checkpoint committed, never a mixture. The tests
 * write a checkpoint A, then a different checkpoint B that is stopped
 * before each of its statements in turn, two ways:
 *   - the statement fails (as an I/O error or a full disk would): the write
 *     reports the error and rolls back;
 *   - a forked child writing B is killed with SIGKILL there (kill -9 of the
 *     master mid-checkpoint): no rollback runs at all;
 * and after each, a fresh connection must load exactly A. Written in full,
 * B loads back exactly. Also: the generator clock never goes backwards, the
 * checkpointer thread commits in order and reports each commit, and nothing
 * leaks (alloc_live()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc.h"
#include "checkpoint.h"
#include "sluice/err.h"
#include "store.h"

#define ERRLEN 512

typedef struct {
	int64_t live;
	char dir[64];
	char path[128];
	store *s;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	char err[ERRLEN];
	snprintf(f->dir, sizeof(f->dir), "/tmp/sluice-test-ckpt-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/master.db", f->dir);
	f->live = alloc_live();
	if (store_open(f->path, &f->s, err, sizeof(err)) != SL_OK)
		return -1;
	/* a job row for the checkpoints to update (and its library) */
	if (store_exec(f->s,
	               "INSERT INTO libraries VALUES ('h', 1, x'00', 0);"
	               "INSERT INTO jobs(id, name, state, library_hash, graph, conf, "
	               "batch_interval_ms, created_ms) VALUES (7, 'j', 'RUNNING', 'h', "
	               "x'', '{}', 1000, 0);",
	               err, sizeof(err)) != SL_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	char p[160];
	store_close(f->s);
	const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
		unlink(p);
	}
	rmdir(f->dir);
	int64_t leaked = alloc_live() - f->live;
	free(f);
	assert_int_equal(leaked, 0);
	return 0;
}

/* A snapshot whose content depends on gen: batches, ranges, offsets and
 * blocks all differ between generations. */
static ckpt_job *snapshot(int gen)
{
	ckpt_job *c = sl_calloc(1, sizeof(*c));
	c->job_id = 7;
	snprintf(c->state, sizeof(c->state), "RUNNING");
	c->error = sl_strdup("");
	c->rate_state = sl_asprintf("rate=%d", 100 * gen);
	c->next_batch_ms = 10000 + 1000 * gen;
	c->last_batch_ms = 8000 + 1000 * gen;
	for (int b = 0; b < 2 + gen; b++) {
		ckpt_batch *cb = ckpt_add_batch(c);
		cb->time_ms = 1000 * (gen + b);
		snprintf(cb->state, sizeof(cb->state), b == 0 ? "RUNNING" : "QUEUED");
		cb->outputs_done = (uint64_t)gen;
		cb->input_records = (uint64_t)(10 * gen + b);
		cb->error = sl_strdup("");
		ckpt_range *r = ckpt_add_range(&c->ranges, &c->nranges);
		r->batch_ms = cb->time_ms;
		r->node = 1;
		r->topic = sl_strdup("in");
		r->partition = b;
		r->from = 100 * gen;
		r->until = 100 * gen + 50;
	}
	for (int p = 0; p < 3; p++) {
		ckpt_range *o = ckpt_add_range(&c->offsets, &c->noffsets);
		o->node = 1;
		o->topic = sl_strdup("in");
		o->partition = p;
		o->until = 1000 * gen + p;
	}
	for (int k = 0; k < 1 + gen; k++) {
		ckpt_block *bl = ckpt_add_block(c);
		bl->id = sl_asprintf("input-7-0-%d-%d", gen, k);
		bl->node = 2;
		bl->batch_ms = k == 0 ? 0 : 1000 * gen;
		bl->records = (uint64_t)(k + 1);
		bl->bytes = 64;
		bl->nholders = 2;
		for (int h = 0; h < 2; h++) {
			bl->holder_id[h] = sl_asprintf("worker-%d", h + 1);
			bl->holder_url[h] = sl_asprintf("tcp://127.0.0.1:%d", 7000 + h);
		}
		bl->wal = sl_asprintf("worker-1:wal-%d:%d", gen, k);
	}
	c->receivers = sl_calloc(1, sizeof(*c->receivers));
	c->nreceivers = 1;
	snprintf(c->receivers[0].worker, sizeof(c->receivers[0].worker), "worker-%d",
	         gen + 1);
	c->stparts = sl_calloc(2, sizeof(*c->stparts));
	c->nstparts = 2;
	for (uint32_t p = 0; p < 2; p++) {
		c->stparts[p] = (ckpt_statepart){.node = 5, .part = p, .nparts = 2};
		snprintf(c->stparts[p].worker, sizeof(c->stparts[p].worker), "worker-%d",
		         gen + (int)p);
	}
	/* text_file_stream: taken files (batch 0) and one file of batch 1000 */
	char *taken = sl_asprintf("/in/file-%d.txt", gen);
	ckpt_add_file(c, 0, taken);
	ckpt_add_file(c, 0, "/in/a.txt");
	ckpt_add_file(c, 1000, taken);
	sl_free(taken);
	return c;
}

/* The loaded checkpoint as one canonical string (malloc'ed). */
static char *render(sqlite3 *db)
{
	char err[ERRLEN];
	ckpt_job *c = NULL;
	assert_int_equal(checkpoint_load(db, 7, &c, err, sizeof(err)), SL_OK);
	size_t cap = 1 << 16, n = 0;
	char *s = malloc(cap);
#define OUT(...) n += (size_t)snprintf(s + n, cap - n, __VA_ARGS__)
	OUT("job %s next %lld last %lld rate %s\n", c->state, (long long)c->next_batch_ms,
	    (long long)c->last_batch_ms, c->rate_state);
	for (size_t i = 0; i < c->nbatches; i++)
		OUT("batch %lld %s %llu %llu\n", (long long)c->batches[i].time_ms,
		    c->batches[i].state, (unsigned long long)c->batches[i].outputs_done,
		    (unsigned long long)c->batches[i].input_records);
	for (size_t i = 0; i < c->nranges; i++)
		OUT("range %lld %u %s %d %lld %lld\n", (long long)c->ranges[i].batch_ms,
		    c->ranges[i].node, c->ranges[i].topic, c->ranges[i].partition,
		    (long long)c->ranges[i].from, (long long)c->ranges[i].until);
	for (size_t i = 0; i < c->noffsets; i++)
		OUT("next %u %s %d %lld\n", c->offsets[i].node, c->offsets[i].topic,
		    c->offsets[i].partition, (long long)c->offsets[i].until);
	for (size_t i = 0; i < c->nblocks; i++) {
		ckpt_block *b = &c->blocks[i];
		OUT("block %s %lld %llu %d %s %s %s\n", b->id, (long long)b->batch_ms,
		    (unsigned long long)b->records, b->nholders, b->holder_id[0],
		    b->holder_url[1], b->wal);
	}
	for (size_t i = 0; i < c->nreceivers; i++)
		OUT("receiver %u %s\n", c->receivers[i].receiver_id,
		    c->receivers[i].worker);
	for (size_t i = 0; i < c->nstparts; i++)
		OUT("state %u %u/%u %s\n", c->stparts[i].node, c->stparts[i].part,
		    c->stparts[i].nparts, c->stparts[i].worker);
	for (size_t i = 0; i < c->nfiles; i++)
		OUT("file %lld %s\n", (long long)c->files[i].batch_ms, c->files[i].path);
#undef OUT
	ckpt_job_free(c);
	return s;
}

static char *render_fresh(const char *path)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL),
	                 SQLITE_OK);
	char *s = render(db);
	sqlite3_close(db);
	return s;
}

static void write_ok(sqlite3 *db, int gen)
{
	char err[ERRLEN] = "";
	ckpt_job *c = snapshot(gen);
	int rv = checkpoint_write(db, c, err, sizeof(err));
	if (rv != SL_OK)
		fail_msg("checkpoint %d: %s", gen, err);
	ckpt_job_free(c);
}

static int count_stmt(void *arg, int stmt)
{
	int *max = arg;
	if (stmt + 1 > *max)
		*max = stmt + 1;
	return 0;
}

static int fail_at(void *arg, int stmt)
{
	return stmt == *(int *)arg;
}

static int kill_at(void *arg, int stmt)
{
	if (stmt == *(int *)arg)
		raise(SIGKILL);
	return 0;
}

/* How many statements writing snapshot(2) steps, counted on a scratch
 * database so that the fixture's keeps only what the test wrote. */
static int count_statements(fixture *f)
{
	char path[160], err[ERRLEN], p[200];
	store *s;
	int n = 0;
	snprintf(path, sizeof(path), "%s/count.db", f->dir);
	assert_int_equal(store_open(path, &s, err, sizeof(err)), SL_OK);
	assert_int_equal(store_exec(s,
	                            "INSERT INTO libraries VALUES ('h', 1, x'00', 0);"
	                            "INSERT INTO jobs(id, name, state, library_hash, "
	                            "graph, conf, batch_interval_ms, created_ms) VALUES "
	                            "(7, 'j', 'RUNNING', 'h', x'', '{}', 1000, 0);",
	                            err, sizeof(err)),
	                 SL_OK);
	checkpoint_set_fault(count_stmt, &n);
	write_ok(store_db(s), 2);
	checkpoint_set_fault(NULL, NULL);
	store_close(s);
	const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
		unlink(p);
	}
	return n;
}

/* Written checkpoints load back as written. */
static void test_roundtrip(void **state)
{
	fixture *f = *state;
	write_ok(store_db(f->s), 1);
	char *s = render_fresh(f->path);
	assert_non_null(strstr(s, "job RUNNING next 11000 last 9000 rate rate=100\n"));
	assert_non_null(strstr(s, "batch 1000 RUNNING 1 10\nbatch 2000 QUEUED 1 11\n"));
	assert_non_null(strstr(s, "range 3000 1 in 2 100 150\n"));
	assert_non_null(strstr(s, "next 1 in 2 1002\n"));
	assert_non_null(strstr(s,
	                       "block input-7-0-1-0 0 1 2 worker-1 tcp://127.0.0.1:7001 "
	                       "worker-1:wal-1:0\n"));
	assert_non_null(strstr(s, "block input-7-0-1-1 1000 2 2"));
	assert_non_null(strstr(s, "receiver 0 worker-2\n"));
	assert_non_null(strstr(s, "state 5 0/2 worker-1\nstate 5 1/2 worker-2\n"));
	assert_non_null(strstr(
	    s, "file 0 /in/a.txt\nfile 0 /in/file-1.txt\nfile 1000 /in/file-1.txt\n"));
	free(s);
}

/* A failing statement anywhere leaves the previous checkpoint. */
static void test_fail_between_statements(void **state)
{
	fixture *f = *state;
	sqlite3 *db = store_db(f->s);
	int nstmt = count_statements(f);
	assert_true(nstmt > 10);
	write_ok(db, 1);
	char *a = render_fresh(f->path);
	for (int k = 0; k < nstmt; k++) {
		char err[ERRLEN] = "";
		ckpt_job *c = snapshot(2);
		checkpoint_set_fault(fail_at, &k);
		assert_int_equal(checkpoint_write(db, c, err, sizeof(err)), SL_EDB);
		checkpoint_set_fault(NULL, NULL);
		assert_non_null(strstr(err, "injected failure"));
		ckpt_job_free(c);
		char *got = render_fresh(f->path);
		if (strcmp(got, a) != 0)
			fail_msg("failure at statement %d of %d left:\n%s\nnot:\n%s", k,
			         nstmt, got, a);
		free(got);
	}
	write_ok(db, 2);
	char *b = render_fresh(f->path);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

/* kill -9 of the writer between any two statements: still A, and the
 * database is intact. */
static void test_kill_between_statements(void **state)
{
	fixture *f = *state;
	int nstmt = count_statements(f);
	write_ok(store_db(f->s), 1);
	char *a = render_fresh(f->path);
	for (int k = 0; k < nstmt; k++) {
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			sqlite3 *cdb;
			char err[ERRLEN];
			if (sqlite3_open_v2(f->path, &cdb, SQLITE_OPEN_READWRITE, NULL) !=
			    SQLITE_OK)
				_exit(3);
			checkpoint_set_fault(kill_at, &k);
			ckpt_job *c = snapshot(2);
			checkpoint_write(cdb, c, err, sizeof(err));
			_exit(4); /* not reached: killed at statement k */
		}
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		char *got = render_fresh(f->path);
		if (strcmp(got, a) != 0)
			fail_msg("kill at statement %d of %d left:\n%s\nnot:\n%s", k,
			         nstmt, got, a);
		free(got);
	}
	sqlite3_stmt *st;
	assert_int_equal(
	    sqlite3_prepare_v2(store_db(f->s), "PRAGMA integrity_check", -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	free(a);
}

/* next_batch_ms only moves forward, whatever order snapshots commit in. */
static void test_clock_never_backwards(void **state)
{
	fixture *f = *state;
	write_ok(store_db(f->s), 3);
	write_ok(store_db(f->s), 1);
	char *s = render_fresh(f->path);
	assert_non_null(strstr(s, "next 13000 "));
	free(s);
}

typedef struct {
	pthread_mutex_t mu;
	uint64_t seqs[8];
	int n, fails;
} done_log;

static void on_done(void *arg, uint64_t job_id, uint64_t seq, int rv, const char *err)
{
	done_log *d = arg;
	(void)err;
	assert_int_equal(job_id, 7);
	pthread_mutex_lock(&d->mu);
	d->seqs[d->n++] = seq;
	d->fails += rv != SL_OK;
	pthread_mutex_unlock(&d->mu);
}

/* The thread commits queued snapshots in order before stopping: the last
 * one always, earlier ones unless a later one of the job superseded them
 * while queued; done calls come in increasing seq order. */
static void test_checkpointer_thread(void **state)
{
	fixture *f = *state;
	char err[ERRLEN];
	done_log d = {.mu = PTHREAD_MUTEX_INITIALIZER};
	checkpointer *cp;
	assert_int_equal(checkpointer_start(f->path, on_done, &d, &cp, err, sizeof(err)),
	                 SL_OK);
	for (int g = 1; g <= 4; g++)
		checkpointer_submit(cp, snapshot(g), (uint64_t)g);
	checkpointer_stop(cp);
	assert_true(d.n >= 1 && d.n <= 4);
	assert_int_equal(d.fails, 0);
	for (int i = 1; i < d.n; i++)
		assert_true(d.seqs[i] > d.seqs[i - 1]);
	assert_int_equal(d.seqs[d.n - 1], 4);
	char *s = render_fresh(f->path);
	assert_non_null(strstr(s, "next 14000 last 12000 rate rate=400\n"));
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fail_between_statements, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_kill_between_statements, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_clock_never_backwards, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checkpointer_thread, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
