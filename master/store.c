/*
 * SQLite state store: see store.h.
 *
 * Migrations are an ordered list of SQL scripts; migration i takes the
 * database from version i to i+1 inside one transaction, so a crash mid-way
 * leaves the previous version intact. Never edit a shipped migration: add a
 * new one.
 */
#include "store.h"
#include "alloc.h"
#include "log.h"
#include "sluice/err.h"

#include <stdio.h>
#include <string.h>

struct store {
	sqlite3 *db;
};

static const char *const store_migrations[] = {
    /* 0 -> 1: cluster membership */
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE workers ("
    "  id TEXT PRIMARY KEY, host TEXT NOT NULL, rpc_url TEXT NOT NULL,"
    "  slots INTEGER NOT NULL, memory INTEGER NOT NULL, state TEXT NOT NULL,"
    "  registered_ms INTEGER NOT NULL, last_heartbeat_ms INTEGER NOT NULL);",
    /* 1 -> 2: jobs, libraries, batches (the engine's checkpoint) */
    "CREATE TABLE libraries (hash TEXT PRIMARY KEY, size INTEGER NOT NULL,"
    "  data BLOB NOT NULL, stored_ms INTEGER NOT NULL);"
    "CREATE TABLE jobs ("
    "  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, state TEXT NOT NULL,"
    "  library_hash TEXT NOT NULL REFERENCES libraries(hash), graph BLOB NOT NULL,"
    "  conf TEXT NOT NULL, batch_interval_ms INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL, start_ms INTEGER NOT NULL DEFAULT 0,"
    "  last_batch_ms INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE batches ("
    "  job_id INTEGER NOT NULL, batch_ms INTEGER NOT NULL, state TEXT NOT NULL,"
    "  input_records INTEGER NOT NULL DEFAULT 0, submit_ms INTEGER NOT NULL DEFAULT 0,"
    "  start_ms INTEGER NOT NULL DEFAULT 0, end_ms INTEGER NOT NULL DEFAULT 0,"
    "  blocks BLOB, offsets BLOB, PRIMARY KEY (job_id, batch_ms));",
    /* 2 -> 3: worker process identity (a restarted worker is a lost one) */
    "ALTER TABLE workers ADD COLUMN boot_id INTEGER NOT NULL DEFAULT 0;",
    /* 3 -> 4: the driver checkpoint (checkpoint.h) */
    "ALTER TABLE jobs ADD COLUMN next_batch_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN rate_state TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE batches ADD COLUMN outputs_done INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE batches ADD COLUMN error TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE kafka_ranges (job_id INTEGER NOT NULL, batch_ms INTEGER NOT NULL,"
    "  node INTEGER NOT NULL, topic TEXT NOT NULL, partition INTEGER NOT NULL,"
    "  from_offset INTEGER NOT NULL, until_offset INTEGER NOT NULL,"
    "  PRIMARY KEY (job_id, batch_ms, node, topic, partition));"
    "CREATE TABLE kafka_offsets (job_id INTEGER NOT NULL, node INTEGER NOT NULL,"
    "  topic TEXT NOT NULL, partition INTEGER NOT NULL, next_offset INTEGER NOT NULL,"
    "  PRIMARY KEY (job_id, node, topic, partition));"
    "CREATE TABLE blocks (job_id INTEGER NOT NULL, block_id TEXT NOT NULL,"
    "  node INTEGER NOT NULL, batch_ms INTEGER NOT NULL, records INTEGER NOT NULL,"
    "  bytes INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
    "  holder1_id TEXT NOT NULL, holder1_url TEXT NOT NULL,"
    "  holder2_id TEXT NOT NULL, holder2_url TEXT NOT NULL, wal TEXT NOT NULL,"
    "  PRIMARY KEY (job_id, block_id));"
    "CREATE TABLE receivers (job_id INTEGER NOT NULL, receiver_id INTEGER NOT NULL,"
    "  worker_id TEXT NOT NULL, PRIMARY KEY (job_id, receiver_id));",
    /* 4 -> 5: job lifecycle transitions (who asked, why; lifecycle.c) and
     * every alert sent or failed (alerts.c) */
    "CREATE TABLE job_transitions (job_id INTEGER NOT NULL, seq INTEGER NOT NULL,"
    "  at_ms INTEGER NOT NULL, from_state TEXT NOT NULL, to_state TEXT NOT NULL,"
    "  who TEXT NOT NULL, why TEXT NOT NULL, PRIMARY KEY (job_id, seq));"
    "CREATE TABLE alert_history (id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL,"
    "  job TEXT NOT NULL, at_ms INTEGER NOT NULL, channel TEXT NOT NULL,"
    "  target TEXT NOT NULL, event TEXT NOT NULL, summary TEXT NOT NULL,"
    "  outcome TEXT NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL);",
    /* 5 -> 6: each job's open alert incidents (alerts.c), so a restarted
     * master does not alert twice for one incident */
    "CREATE TABLE alert_incidents (job_id INTEGER PRIMARY KEY, seq INTEGER NOT NULL,"
    "  state INTEGER NOT NULL, lag_total INTEGER NOT NULL,"
    "  lag_partition INTEGER NOT NULL);",
    /* 6 -> 7: a job's totals (records, batches done and failed), so that
     * `sluice jobs`, the REST API and /metrics keep counting across a master
     * restart */
    "ALTER TABLE jobs ADD COLUMN records INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN batches_done INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN batches_failed INTEGER NOT NULL DEFAULT 0;",
    /* 7 -> 8: where each state partition of update_state_by_key /
     * map_with_state lives (stateplan.c), so a restarted master sends a
     * partition's tasks to the worker that holds its state */
    "CREATE TABLE state_parts (job_id INTEGER NOT NULL, node INTEGER NOT NULL,"
    "  part INTEGER NOT NULL, nparts INTEGER NOT NULL, worker_id TEXT NOT NULL,"
    "  replica_id TEXT NOT NULL, ckpt_ms INTEGER NOT NULL,"
    "  PRIMARY KEY (job_id, node, part));",
    /* 8 -> 9: an event-time window's partitions keep the largest event
     * time and late records seen (stateplan.c), so the watermark survives
     * a master restart; no such node existed before */
    "ALTER TABLE state_parts ADD COLUMN ev_max INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE state_parts ADD COLUMN ev_batch INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE state_parts ADD COLUMN ev_bmax INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE state_parts ADD COLUMN ev_late INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE state_parts ADD COLUMN ev_blate INTEGER NOT NULL DEFAULT 0;",
    /* 9 -> 10: the files text_file_stream took (batch_ms 0) and the files
     * of the batches not yet retired (jobgen.c), so a restarted master
     * neither reads a file twice nor loses an unfinished batch's files */
    "CREATE TABLE taken_files (job_id INTEGER NOT NULL,"
    "  batch_ms INTEGER NOT NULL, path TEXT NOT NULL,"
    "  PRIMARY KEY (job_id, batch_ms, path));",
};

#define STORE_LATEST ((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

int store_latest_version(void)
{
	return STORE_LATEST;
}

static int db_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int db_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return SL_OK;
	snprintf(err, errlen, "state store: %s", msg ? msg : sqlite3_errmsg(db));
	sqlite3_free(msg);
	return SL_EDB;
}

int store_migrate(sqlite3 *db, int target, char *err, size_t errlen)
{
	int v = db_version(db);
	if (v < 0) {
		snprintf(err, errlen, "state store: cannot read schema version: %s",
		         sqlite3_errmsg(db));
		return SL_EDB;
	}
	if (v > STORE_LATEST) {
		snprintf(err, errlen,
		         "state store schema version %d is newer than this build "
		         "supports (%d): refusing to open it",
		         v, STORE_LATEST);
		return SL_EDB;
	}
	for (; v < target; v++) {
		char sql[64];
		if (db_exec(db, "BEGIN IMMEDIATE", err, errlen) != SL_OK)
			return SL_EDB;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (db_exec(db, store_migrations[v], err, errlen) != SL_OK ||
		    db_exec(db, sql, err, errlen) != SL_OK) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return SL_EDB;
		}
		if (db_exec(db, "COMMIT", err, errlen) != SL_OK)
			return SL_EDB;
		log_info("state store migrated to schema version %d", v + 1);
	}
	return SL_OK;
}

int store_open(const char *path, store **out, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
	                    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open state store %s: %s", path,
		         db ? sqlite3_errmsg(db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(db, 5000);
	if (db_exec(db,
	            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
	            "PRAGMA foreign_keys=ON;",
	            err, errlen) != SL_OK ||
	    store_migrate(db, STORE_LATEST, err, errlen) != SL_OK)
		goto fail;
	store *s = sl_calloc(1, sizeof(*s));
	s->db = db;
	*out = s;
	return SL_OK;
fail:
	sqlite3_close(db);
	return SL_EDB;
}

void store_close(store *s)
{
	if (s == NULL)
		return;
	sqlite3_close(s->db);
	sl_free(s);
}

sqlite3 *store_db(store *s)
{
	return s->db;
}

int store_version(store *s)
{
	return db_version(s->db);
}

int store_exec(store *s, const char *sql, char *err, size_t errlen)
{
	return db_exec(s->db, sql, err, errlen);
}

int store_begin(store *s)
{
	char err[256];
	return db_exec(s->db, "BEGIN IMMEDIATE", err, sizeof(err));
}

int store_commit(store *s)
{
	char err[256];
	int rv = db_exec(s->db, "COMMIT", err, sizeof(err));
	if (rv != SL_OK)
		log_error("%s", err);
	return rv;
}

void store_rollback(store *s)
{
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int store_meta_get_int(store *s, const char *key, long long def, long long *out)
{
	sqlite3_stmt *st;
	*out = def;
	if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?", -1, &st,
	                       NULL) != SQLITE_OK)
		return SL_EDB;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return SL_OK;
}

int store_meta_set_int(store *s, const char *key, long long v)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db,
	                       "INSERT INTO meta(key, value) VALUES (?, ?) "
	                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
	                       -1, &st, NULL) != SQLITE_OK)
		return SL_EDB;
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, v);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? SL_OK : SL_EDB;
}
