/*
 * The master's state store: one SQLite database in the state directory.
 *
 * Opened in WAL mode with synchronous=FULL so that a committed transaction
 * survives power loss (SPEC §7). The schema is versioned with
 * PRAGMA user_version and migrated forward step by step at open; a database
 * written by a newer Sluice (higher version) is refused with a message naming
 * both versions rather than guessed at.
 *
 * The store is used by the master under its state lock; it is not
 * thread-safe by itself.
 */
#ifndef SLUICE_MASTER_STORE_H
#define SLUICE_MASTER_STORE_H

#include <sqlite3.h>
#include <stddef.h>

typedef struct store store;

/* Opens (creating if needed) path and migrates it to the latest schema. */
int store_open(const char *path, store **out, char *err, size_t errlen);
void store_close(store *s);
sqlite3 *store_db(store *s);

/* Schema version the database is at, and the one this build writes. */
int store_version(store *s);
int store_latest_version(void);

/* Migrates to exactly `target` (<= latest); used by tests to build an old
 * database. store_open migrates to the latest. */
int store_migrate(sqlite3 *db, int target, char *err, size_t errlen);

/* Runs SQL with no result rows; SL_EDB with sqlite's message in err. */
int store_exec(store *s, const char *sql, char *err, size_t errlen);
int store_begin(store *s);
int store_commit(store *s);
void store_rollback(store *s);

/* meta key/value helpers (a small table for counters and flags). */
int store_meta_get_int(store *s, const char *key, long long def, long long *out);
int store_meta_set_int(store *s, const char *key, long long v);

#endif
