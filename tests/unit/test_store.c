/*
 * Unit tests for the master's SQLite state store (master/store.c).
 *
 * They pin down the durability settings (WAL, synchronous=FULL), forward
 * migration from every older schema version with the data kept, refusal of
 * a database written by a newer build with both versions named, and the
 * meta key/value helpers. Every test also checks that it leaves no
 * allocation behind (alloc_live()).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "sluice/err.h"
#include "store.h"

#define ERRLEN 512

typedef struct {
	int64_t live; /* alloc_live() when the test started */
	char dir[64]; /* scratch directory for the database */
	char path[128];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/sluice-test-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	f->live = alloc_live();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;
	int64_t live = alloc_live();
	char p[160];
	const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
		unlink(p);
	}
	rmdir(f->dir);
	int leaked = live != f->live;
	if (leaked)
		fprintf(stderr, "leak: %lld allocations left\n",
		        (long long)(live - f->live));
	free(f);
	return leaked ? -1 : 0;
}

/* ---- helpers ----------------------------------------------------------- */

static store *open_ok(const char *path)
{
	store *s = NULL;
	char err[ERRLEN] = "";
	int rv = store_open(path, &s, err, sizeof(err));
	if (rv != SL_OK)
		fail_msg("store_open %s: %s (%s)", path, sl_errname(rv), err);
	assert_non_null(s);
	return s;
}

/* Runs a query returning one row, one column, as text into out. */
static void query_text(sqlite3 *db, const char *sql, char *out, size_t outlen)
{
	sqlite3_stmt *st;
	out[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const unsigned char *t = sqlite3_column_text(st, 0);
	snprintf(out, outlen, "%s", t ? (const char *)t : "");
	sqlite3_finalize(st);
}

static long long query_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	long long v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int table_exists(sqlite3 *db, const char *name)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "SELECT count(*) FROM sqlite_master WHERE "
	                                    "type = 'table' AND name = ?",
	                                    -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return n;
}

static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;
	assert_int_equal(
	    sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
	    SQLITE_OK);
	return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		char copy[ERRLEN];
		snprintf(copy, sizeof(copy), "%s", msg ? msg : "?");
		sqlite3_free(msg);
		fail_msg("%s: %s", sql, copy);
	}
}

/* ---- tests ------------------------------------------------------------- */

static void test_fresh_db(void **state)
{
	fixture *f = *state;
	char text[64];
	assert_true(store_latest_version() >= 2);
	store *s = open_ok(f->path);
	assert_int_equal(store_version(s), store_latest_version());
	sqlite3 *db = store_db(s);
	assert_int_equal(query_int(db, "PRAGMA user_version"), store_latest_version());
	const char *tables[] = {"meta", "workers", "libraries", "jobs", "batches"};
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		if (!table_exists(db, tables[i]))
			fail_msg("table %s missing", tables[i]);
	store_close(s);

	/* opening again is a no-op migration */
	s = open_ok(f->path);
	assert_int_equal(store_version(s), store_latest_version());
	query_text(store_db(s), "SELECT count(*) FROM workers", text, sizeof(text));
	assert_string_equal(text, "0");
	store_close(s);
	store_close(NULL);
}

static void test_durability_pragmas(void **state)
{
	fixture *f = *state;
	char mode[32];
	store *s = open_ok(f->path);
	sqlite3 *db = store_db(s);
	query_text(db, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	assert_int_equal(query_int(db, "PRAGMA synchronous"), 2); /* FULL */
	assert_int_equal(query_int(db, "PRAGMA foreign_keys"), 1);
	store_close(s);

	/* WAL is persistent in the file: a plain connection sees it too */
	sqlite3 *raw = raw_open(f->path);
	query_text(raw, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	sqlite3_close(raw);
}

static void test_migrate_from_v1(void **state)
{
	fixture *f = *state;
	char err[ERRLEN] = "", text[128];

	/* build a version-1 database the way an old build would have */
	sqlite3 *db = raw_open(f->path);
	assert_int_equal(store_migrate(db, 1, err, sizeof(err)), SL_OK);
	assert_int_equal(query_int(db, "PRAGMA user_version"), 1);
	assert_int_equal(table_exists(db, "workers"), 1);
	assert_int_equal(table_exists(db, "jobs"), 0);
	raw_exec(db, "INSERT INTO workers (id, host, rpc_url, slots, memory, state, "
	             "registered_ms, last_heartbeat_ms) VALUES ('worker-1', 'host-a', "
	             "'tcp://127.0.0.1:7078', 4, 1073741824, 'ALIVE', 1000, 2000);"
	             "INSERT INTO meta (key, value) VALUES ('next_worker', '2');");
	sqlite3_close(db);

	store *s = open_ok(f->path);
	assert_int_equal(store_version(s), store_latest_version());
	db = store_db(s);
	assert_int_equal(table_exists(db, "jobs"), 1);
	assert_int_equal(table_exists(db, "batches"), 1);
	assert_int_equal(query_int(db, "SELECT count(*) FROM workers"), 1);
	query_text(db,
	           "SELECT id || ' ' || host || ' ' || rpc_url || ' ' || slots || ' ' || "
	           "memory || ' ' || state || ' ' || registered_ms || ' ' || "
	           "last_heartbeat_ms FROM workers",
	           text, sizeof(text));
	assert_string_equal(
	    text, "worker-1 host-a tcp://127.0.0.1:7078 4 1073741824 ALIVE 1000 2000");
	long long v = 0;
	assert_int_equal(store_meta_get_int(s, "next_worker", 0, &v), SL_OK);
	assert_int_equal(v, 2);
	store_close(s);
}

/* Every intermediate version migrates to the latest. */
static void test_migrate_every_version(void **state)
{
	fixture *f = *state;
	char err[ERRLEN] = "";
	for (int from = 0; from <= store_latest_version(); from++) {
		unlink(f->path);
		sqlite3 *db = raw_open(f->path);
		assert_int_equal(store_migrate(db, from, err, sizeof(err)), SL_OK);
		assert_int_equal(query_int(db, "PRAGMA user_version"), from);
		sqlite3_close(db);
		store *s = open_ok(f->path);
		assert_int_equal(store_version(s), store_latest_version());
		store_close(s);
	}
}

static void test_newer_db_refused(void **state)
{
	fixture *f = *state;
	char err[ERRLEN] = "", sql[64], want[128];
	int newer = store_latest_version() + 1;

	sqlite3 *db = raw_open(f->path);
	raw_exec(db, "CREATE TABLE future (x INTEGER);");
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", newer);
	raw_exec(db, sql);
	sqlite3_close(db);

	store *s = NULL;
	assert_int_equal(store_open(f->path, &s, err, sizeof(err)), SL_EDB);
	assert_null(s);
	snprintf(want, sizeof(want),
	         "schema version %d is newer than this build supports (%d)", newer,
	         store_latest_version());
	if (strstr(err, want) == NULL)
		fail_msg("message '%s' does not contain '%s'", err, want);

	/* and it was left as it was */
	db = raw_open(f->path);
	assert_int_equal(query_int(db, "PRAGMA user_version"), newer);
	assert_int_equal(table_exists(db, "future"), 1);
	assert_int_equal(table_exists(db, "workers"), 0);
	sqlite3_close(db);
}

static void test_unopenable(void **state)
{
	fixture *f = *state;
	char err[ERRLEN] = "", path[160];
	store *s = NULL;
	snprintf(path, sizeof(path), "%s/no/such/dir/state.db", f->dir);
	assert_int_equal(store_open(path, &s, err, sizeof(err)), SL_EDB);
	assert_null(s);
	assert_non_null(strstr(err, path));

	/* a file that is not a database */
	FILE *fp = fopen(f->path, "wb");
	assert_non_null(fp);
	fputs(
	    "this is not an SQLite database, just some text long enough to matter....\n"
	    "this is not an SQLite database, just some text long enough to matter....\n",
	    fp);
	fclose(fp);
	assert_int_equal(store_open(f->path, &s, err, sizeof(err)), SL_EDB);
	assert_null(s);
	assert_true(strlen(err) > 0);
}

static void test_meta(void **state)
{
	fixture *f = *state;
	long long v = -1;
	store *s = open_ok(f->path);
	assert_int_equal(store_meta_get_int(s, "missing", 42, &v), SL_OK);
	assert_int_equal(v, 42);
	assert_int_equal(store_meta_set_int(s, "counter", 7), SL_OK);
	assert_int_equal(store_meta_get_int(s, "counter", 0, &v), SL_OK);
	assert_int_equal(v, 7);
	assert_int_equal(store_meta_set_int(s, "counter", -9000000000LL), SL_OK);
	assert_int_equal(store_meta_get_int(s, "counter", 0, &v), SL_OK);
	assert_true(v == -9000000000LL);
	assert_int_equal(store_meta_set_int(s, "other", 1), SL_OK);
	assert_int_equal(query_int(store_db(s), "SELECT count(*) FROM meta"), 2);

	/* inside a transaction: rolled back, the old value stays */
	assert_int_equal(store_begin(s), SL_OK);
	assert_int_equal(store_meta_set_int(s, "counter", 1), SL_OK);
	store_rollback(s);
	assert_int_equal(store_meta_get_int(s, "counter", 0, &v), SL_OK);
	assert_true(v == -9000000000LL);
	/* committed: kept across a reopen */
	assert_int_equal(store_begin(s), SL_OK);
	assert_int_equal(store_meta_set_int(s, "counter", 123), SL_OK);
	assert_int_equal(store_commit(s), SL_OK);
	store_close(s);

	s = open_ok(f->path);
	assert_int_equal(store_meta_get_int(s, "counter", 0, &v), SL_OK);
	assert_int_equal(v, 123);
	assert_int_equal(store_meta_get_int(s, "other", 0, &v), SL_OK);
	assert_int_equal(v, 1);
	store_close(s);
}

static void test_exec_error(void **state)
{
	fixture *f = *state;
	char err[ERRLEN] = "";
	store *s = open_ok(f->path);
	assert_int_equal(
	    store_exec(s, "INSERT INTO no_such_table VALUES (1)", err, sizeof(err)),
	    SL_EDB);
	assert_non_null(strstr(err, "state store"));
	assert_non_null(strstr(err, "no_such_table"));
	assert_int_equal(store_exec(s, "CREATE TABLE t (x)", err, sizeof(err)), SL_OK);
	store_close(s);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_fresh_db),
	    T(test_durability_pragmas),
	    T(test_migrate_from_v1),
	    T(test_migrate_every_version),
	    T(test_newer_db_refused),
	    T(test_unopenable),
	    T(test_meta),
	    T(test_exec_error),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
