/* The store: durable storage behind a small, backend-neutral interface.
 *
 * Domain code (the registry) speaks portable SQL through this interface; a backend (a
 * "driver": SQLite now, PostgreSQL later) executes it. Statements use numbered parameters
 * `$1, $2, ...`, which both SQLite and PostgreSQL accept, and stick to the SQL both
 * understand (INSERT ... ON CONFLICT, RETURNING, LIMIT/OFFSET). Schema migrations are
 * per backend (store/migrations.c).
 *
 * Writes: store_write() queues a function that runs inside a write transaction on the
 * store's single writer thread. The writer groups whatever is queued into one transaction
 * (one fsync for many callers: "group commit"), isolating each function in a savepoint so
 * one failure does not undo the others. When store_write() returns 0 the changes are
 * durable (SQLite: WAL with synchronous=FULL). Post-commit hooks run on the writer thread in
 * commit order, which is where in-memory indexes are updated so they never run ahead of, or
 * out of order with, the database.
 *
 * Reads: store_read() runs a function on the calling thread with a read connection taken
 * from a small pool; each call sees one consistent snapshot.
 *
 * Never call store_write() or store_read() from an event-loop thread: they block.
 */
#ifndef CERTGATE_STORE_STORE_H
#define CERTGATE_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;
struct store_conn;
struct store_row;

enum store_type {
    STORE_NULL = 0,
    STORE_INT,
    STORE_TEXT,
    STORE_BLOB,
};

/* A statement parameter. Text must be NUL-terminated; blobs are (ptr, len). */
struct store_val {
    enum store_type type;
    int64_t i;
    const char *s;
    const void *b;
    size_t len;
};

#define SV_NULL ((struct store_val){.type = STORE_NULL})
#define SV_INT(v) ((struct store_val){.type = STORE_INT, .i = (int64_t)(v)})
/* Text; a NULL pointer binds SQL NULL. */
static inline struct store_val store_val_text(const char *s)
{
    struct store_val v = {.type = s ? STORE_TEXT : STORE_NULL, .s = s};
    return v;
}
#define SV_TEXT(v) store_val_text(v)
#define SV_BLOB(p, n) ((struct store_val){.type = STORE_BLOB, .b = (p), .len = (n)})
#define SV_BOOL(v) SV_INT((v) ? 1 : 0)

struct store_config {
    const char *path;     /* SQLite database file */
    int read_connections; /* maximum pooled read connections (default 8) */
    int max_batch;        /* most write functions in one transaction (default 512) */
    bool durable;         /* synchronous=FULL (default true); false only for benchmarks */
};

/* store_config_defaults: fill the defaults above (path NULL). */
void store_config_defaults(struct store_config *cfg);

/* store_open: open (creating if needed) the database, apply pending migrations and start
 * the writer thread. On failure returns NULL and writes a sentence into err. Main thread. */
struct store *store_open(const struct store_config *cfg, char *err, size_t errlen);

/* store_close: stop the writer (after finishing queued writes) and close every
 * connection. NULL is a no-op. No store call may be in progress or follow. */
void store_close(struct store *s);

/* store_schema_version: the migration level of the open database. */
int store_schema_version(struct store *s);

typedef int (*store_fn)(struct store_conn *c, void *arg);

/* store_write: run fn(conn, arg) in a write transaction on the writer thread and wait for
 * the commit. fn returns >= 0 to keep its changes or < 0 to roll them back. If on_commit is
 * not NULL and fn succeeded, on_commit(arg, rc) runs on the writer thread right after the
 * commit (in commit order) and before this call returns.
 * Returns fn's result when committed, fn's negative result when it failed, or CG_EDB when
 * the transaction could not be committed (then nothing of fn persisted).
 * Any thread except an event-loop thread. */
int store_write(struct store *s, store_fn fn, void (*on_commit)(void *arg, int rc), void *arg);

/* store_write_async: like store_write without waiting: `done(arg, rc)` is called on the
 * writer thread after the commit (or failure) with the same rc store_write would return.
 * on_commit, if given, runs before done. 0 if queued, -ENOMEM otherwise. Any thread. */
int store_write_async(struct store *s, store_fn fn, void (*on_commit)(void *arg, int rc),
                      void (*done)(void *arg, int rc), void *arg);

/* store_read: run fn(conn, arg) with a read connection on the calling thread; returns fn's
 * result, or CG_EDB when no connection could be opened. Any non-loop thread. */
int store_read(struct store *s, store_fn fn, void *arg);

/* store_exec: run one statement. Returns the number of rows changed (>= 0), CG_ECONFLICT
 * for a uniqueness or primary-key violation, or CG_EDB. `sql` should be a string literal:
 * prepared statements are cached by its address. */
int store_exec(struct store_conn *c, const char *sql, const struct store_val *params,
               size_t nparams);

/* store_query: run a query and call row(r, arg) for each result row; a non-zero return
 * from row stops early and is returned. Returns the number of rows visited, or CG_EDB.
 * Row values are valid only during the callback. */
int store_query(struct store_conn *c, const char *sql, const struct store_val *params,
                size_t nparams, int (*row)(const struct store_row *r, void *arg), void *arg);

/* store_query_int: the first column of the first row as an integer into *out.
 * 0 when a row was found, -ENOENT when none, CG_EDB on failure. */
int store_query_int(struct store_conn *c, const char *sql, const struct store_val *params,
                    size_t nparams, int64_t *out);

/* Row accessors (column index from 0). Text is NUL-terminated; NULL for an SQL NULL. */
int64_t store_row_int(const struct store_row *r, int col);
const char *store_row_text(const struct store_row *r, int col);
const void *store_row_blob(const struct store_row *r, int col, size_t *len);
bool store_row_is_null(const struct store_row *r, int col);

/* store_row_strdup: a malloc'd copy of a text column ("" for NULL); NULL on ENOMEM. */
char *store_row_strdup(const struct store_row *r, int col);

#endif
