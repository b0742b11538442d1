/* The SQLite backend: WAL journal, synchronous=FULL for durable commits, prepared
 * statements cached per connection by the address of their SQL text. */
#define LOG_MODULE "store"
#include "store/driver.h"

#include "core/err.h"
#include "core/hmap.h"
#include "core/log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sqlite_conn {
    sqlite3 *db;
    struct hmap *stmts; /* key: address of the SQL text -> sqlite3_stmt* */
};

static int stmt_free_cb(const void *key, size_t klen, void *value, void *arg)
{
    sqlite3_finalize(value);
    return 0;
}

static void sq_close(void *handle)
{
    struct sqlite_conn *c = handle;
    if (c == NULL) {
        return;
    }
    if (c->stmts != NULL) {
        hmap_iter(c->stmts, stmt_free_cb, NULL);
        hmap_free(c->stmts);
    }
    sqlite3_close_v2(c->db);
    free(c);
}

static int sq_simple(void *handle, const char *sql)
{
    struct sqlite_conn *c = handle;
    char *msg = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        log_error("%s: %s", sql, msg ? msg : sqlite3_errmsg(c->db));
        sqlite3_free(msg);
        return CG_EDB;
    }
    return 0;
}

static int sq_open(const struct store_config *cfg, bool writer, void **out, char *err,
                   size_t errlen)
{
    struct sqlite_conn *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->stmts = hmap_new()) == NULL) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (writer ? SQLITE_OPEN_CREATE : 0);
    int rc = sqlite3_open_v2(cfg->path, &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", cfg->path,
                 c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sq_close(c);
        return CG_EDB;
    }
    sqlite3_busy_timeout(c->db, 10000);
    sqlite3_extended_result_codes(c->db, 1);
    const char *setup = writer ? (cfg->durable ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                                                 "PRAGMA foreign_keys=ON;"
                                               : "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
                                                 "PRAGMA foreign_keys=ON;")
                               : "PRAGMA foreign_keys=ON; PRAGMA query_only=ON;";
    if (sq_simple(c, setup) < 0) {
        snprintf(err, errlen, "cannot configure database %s: %s", cfg->path, sqlite3_errmsg(c->db));
        sq_close(c);
        return CG_EDB;
    }
    *out = c;
    return 0;
}

static sqlite3_stmt *prepare(struct sqlite_conn *c, const char *sql)
{
    sqlite3_stmt *st = hmap_get(c->stmts, &sql, sizeof(sql));
    if (st != NULL) {
        return st;
    }
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
        log_error("prepare failed: %s: %s", sqlite3_errmsg(c->db), sql);
        return NULL;
    }
    if (hmap_put(c->stmts, &sql, sizeof(sql), st, NULL) < 0) {
        sqlite3_finalize(st);
        return NULL;
    }
    return st;
}

static int bind(struct sqlite_conn *c, sqlite3_stmt *st, const struct store_val *p, size_t n)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    for (size_t i = 0; i < n; i++) {
        char name[24];
        snprintf(name, sizeof(name), "$%zu", i + 1);
        int idx = sqlite3_bind_parameter_index(st, name);
        if (idx == 0) {
            continue; /* parameter not used by this statement */
        }
        int rc;
        switch (p[i].type) {
        case STORE_NULL:
            rc = sqlite3_bind_null(st, idx);
            break;
        case STORE_INT:
            rc = sqlite3_bind_int64(st, idx, p[i].i);
            break;
        case STORE_TEXT:
            rc = sqlite3_bind_text(st, idx, p[i].s, -1, SQLITE_STATIC);
            break;
        case STORE_BLOB:
            rc = sqlite3_bind_blob64(st, idx, p[i].b, p[i].len, SQLITE_STATIC);
            break;
        default:
            rc = SQLITE_MISUSE;
        }
        if (rc != SQLITE_OK) {
            log_error("bind $%zu failed: %s", i + 1, sqlite3_errmsg(c->db));
            return CG_EDB;
        }
    }
    return 0;
}

static int map_error(struct sqlite_conn *c, int rc, const char *sql)
{
    int primary = rc & 0xff;
    if (primary == SQLITE_CONSTRAINT &&
        (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)) {
        return CG_ECONFLICT;
    }
    log_error("statement failed (%d): %s: %.200s", rc, sqlite3_errmsg(c->db), sql);
    return CG_EDB;
}

static int sq_exec(void *handle, const char *sql, const struct store_val *p, size_t n)
{
    struct sqlite_conn *c = handle;
    sqlite3_stmt *st = prepare(c, sql);
    if (st == NULL) {
        return CG_EDB;
    }
    int rc = bind(c, st, p, n);
    if (rc < 0) {
        return rc;
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        /* statements with RETURNING produce rows; they are not needed here */
    }
    if (step != SQLITE_DONE) {
        rc = map_error(c, sqlite3_extended_errcode(c->db), sql);
        sqlite3_reset(st);
        return rc;
    }
    rc = sqlite3_changes(c->db);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sq_query(void *handle, const char *sql, const struct store_val *p, size_t n,
                    int (*row)(const struct store_row *r, void *arg), void *arg)
{
    struct sqlite_conn *c = handle;
    sqlite3_stmt *st = prepare(c, sql);
    if (st == NULL) {
        return CG_EDB;
    }
    int rc = bind(c, st, p, n);
    if (rc < 0) {
        return rc;
    }
    struct store_row r = {.driver = &store_sqlite_driver, .impl = st};
    int count = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        count++;
        if (row != NULL) {
            int stop = row(&r, arg);
            if (stop != 0) {
                sqlite3_reset(st);
                sqlite3_clear_bindings(st);
                return stop;
            }
        }
    }
    if (step != SQLITE_DONE) {
        rc = map_error(c, sqlite3_extended_errcode(c->db), sql);
        sqlite3_reset(st);
        return rc;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return count;
}

static int64_t sq_row_int(const struct store_row *r, int col)
{
    return sqlite3_column_int64((sqlite3_stmt *)r->impl, col);
}

static const char *sq_row_text(const struct store_row *r, int col)
{
    if (sqlite3_column_type((sqlite3_stmt *)r->impl, col) == SQLITE_NULL) {
        return NULL;
    }
    return (const char *)sqlite3_column_text((sqlite3_stmt *)r->impl, col);
}

static const void *sq_row_blob(const struct store_row *r, int col, size_t *len)
{
    const void *p = sqlite3_column_blob((sqlite3_stmt *)r->impl, col);
    *len = (size_t)sqlite3_column_bytes((sqlite3_stmt *)r->impl, col);
    return p;
}

static bool sq_row_is_null(const struct store_row *r, int col)
{
    return sqlite3_column_type((sqlite3_stmt *)r->impl, col) == SQLITE_NULL;
}

extern const char *const store_sqlite_migrations[];
extern const struct store_driver store_sqlite_driver;

const struct store_driver store_sqlite_driver = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .exec = sq_exec,
    .query = sq_query,
    .simple = sq_simple,
    .row_int = sq_row_int,
    .row_text = sq_row_text,
    .row_blob = sq_row_blob,
    .row_is_null = sq_row_is_null,
    .migrations = store_sqlite_migrations,
};
