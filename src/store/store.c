/* The store's generic part: migrations, the group-committing writer thread and the pool
 * of read connections. */
#define LOG_MODULE "store"
#include "store/store.h"

#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "store/driver.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct write_op {
    struct write_op *next;
    store_fn fn;
    void (*on_commit)(void *arg, int rc);
    void (*done)(void *arg, int rc); /* async completion; NULL for a waiting caller */
    void *arg;
    int rc;
    bool finished;
    pthread_cond_t *cond; /* the waiting caller's condition */
};

struct read_slot {
    struct read_slot *next;
    struct store_conn conn;
};

struct store {
    struct store_config cfg;
    char *path;
    const struct store_driver *driver;
    struct store_conn writer;
    int schema_version;

    pthread_t thread;
    pthread_mutex_t lock; /* guards queue, stopping, finished flags */
    pthread_cond_t wake;
    struct write_op *head, *tail;
    bool stopping;

    pthread_mutex_t read_lock;
    struct read_slot *free_reads;
    int open_reads;
    pthread_cond_t read_free;
};

void store_config_defaults(struct store_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->read_connections = 8;
    cfg->max_batch = 512;
    cfg->durable = true;
}

int store_exec(struct store_conn *c, const char *sql, const struct store_val *params,
               size_t nparams)
{
    return c->driver->exec(c->handle, sql, params, nparams);
}

int store_query(struct store_conn *c, const char *sql, const struct store_val *params,
                size_t nparams, int (*row)(const struct store_row *r, void *arg), void *arg)
{
    return c->driver->query(c->handle, sql, params, nparams, row, arg);
}

static int first_int_cb(const struct store_row *r, void *arg)
{
    *(int64_t *)arg = store_row_int(r, 0);
    return 1;
}

int store_query_int(struct store_conn *c, const char *sql, const struct store_val *params,
                    size_t nparams, int64_t *out)
{
    int64_t v = 0;
    int rc = store_query(c, sql, params, nparams, first_int_cb, &v);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        return -ENOENT;
    }
    *out = v;
    return 0;
}

int64_t store_row_int(const struct store_row *r, int col)
{
    return r->driver->row_int(r, col);
}

const char *store_row_text(const struct store_row *r, int col)
{
    return r->driver->row_text(r, col);
}

const void *store_row_blob(const struct store_row *r, int col, size_t *len)
{
    return r->driver->row_blob(r, col, len);
}

bool store_row_is_null(const struct store_row *r, int col)
{
    return r->driver->row_is_null(r, col);
}

char *store_row_strdup(const struct store_row *r, int col)
{
    const char *s = store_row_text(r, col);
    return strdup(s ? s : "");
}

static int migrate(struct store *s, char *err, size_t errlen)
{
    struct store_conn *c = &s->writer;
    const struct store_driver *d = s->driver;
    if (d->simple(c->handle, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                             " version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)") < 0) {
        snprintf(err, errlen, "cannot create the schema_migrations table");
        return CG_EDB;
    }
    int64_t have = 0;
    int rc = store_query_int(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", NULL, 0,
                             &have);
    if (rc < 0) {
        snprintf(err, errlen, "cannot read the schema version");
        return CG_EDB;
    }
    int known = 0;
    while (d->migrations[known] != NULL) {
        known++;
    }
    if (have > known) {
        snprintf(err, errlen,
                 "the database has schema version %lld but this certgate knows only %d: "
                 "it was written by a newer certgate",
                 (long long)have, known);
        return CG_EDB;
    }
    for (int v = (int)have + 1; v <= known; v++) {
        if (d->simple(c->handle, "BEGIN IMMEDIATE") < 0 ||
            d->simple(c->handle, d->migrations[v - 1]) < 0) {
            d->simple(c->handle, "ROLLBACK");
            snprintf(err, errlen, "schema migration %d failed (see the log)", v);
            return CG_EDB;
        }
        struct store_val p[] = {SV_INT(v), SV_INT(time_now_ms())};
        if (store_exec(c, "INSERT INTO schema_migrations(version, applied_ms) VALUES ($1, $2)", p,
                       2) < 0 ||
            d->simple(c->handle, "COMMIT") < 0) {
            d->simple(c->handle, "ROLLBACK");
            snprintf(err, errlen, "cannot record schema migration %d", v);
            return CG_EDB;
        }
        log_info("applied schema migration %d", v);
    }
    s->schema_version = known;
    return 0;
}

static void finish(struct store *s, struct write_op *op, int rc)
{
    if (rc >= 0 && op->on_commit != NULL) {
        op->on_commit(op->arg, rc);
    }
    if (op->done != NULL) {
        op->done(op->arg, rc);
        free(op);
        return;
    }
    pthread_mutex_lock(&s->lock);
    op->rc = rc;
    op->finished = true;
    pthread_cond_signal(op->cond);
    pthread_mutex_unlock(&s->lock);
}

/* Run one batch: every op in its own savepoint inside one transaction. */
static void run_batch(struct store *s, struct write_op *batch)
{
    const struct store_driver *d = s->driver;
    void *h = s->writer.handle;
    if (d->simple(h, "BEGIN IMMEDIATE") < 0) {
        for (struct write_op *op = batch, *next; op != NULL; op = next) {
            next = op->next;
            finish(s, op, CG_EDB);
        }
        return;
    }
    for (struct write_op *op = batch; op != NULL; op = op->next) {
        if (d->simple(h, "SAVEPOINT op") < 0) {
            op->rc = CG_EDB;
            continue;
        }
        op->rc = op->fn(&s->writer, op->arg);
        if (op->rc < 0) {
            d->simple(h, "ROLLBACK TO op");
        }
        d->simple(h, "RELEASE op");
    }
    bool committed = d->simple(h, "COMMIT") == 0;
    if (!committed) {
        d->simple(h, "ROLLBACK");
        log_error("commit of a batch of writes failed; every write in it is refused");
    }
    for (struct write_op *op = batch, *next; op != NULL; op = next) {
        next = op->next;
        int rc = op->rc;
        if (!committed && rc >= 0) {
            rc = CG_EDB;
        }
        finish(s, op, rc);
    }
}

static void *writer_main(void *arg)
{
    struct store *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (s->head == NULL && !s->stopping) {
            pthread_cond_wait(&s->wake, &s->lock);
        }
        if (s->head == NULL && s->stopping) {
            break;
        }
        /* Take up to max_batch queued operations. */
        struct write_op *batch = s->head;
        struct write_op *last = batch;
        int n = 1;
        while (last->next != NULL && n < s->cfg.max_batch) {
            last = last->next;
            n++;
        }
        s->head = last->next;
        if (s->head == NULL) {
            s->tail = NULL;
        }
        last->next = NULL;
        pthread_mutex_unlock(&s->lock);
        run_batch(s, batch);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

struct store *store_open(const struct store_config *cfg, char *err, size_t errlen)
{
    struct store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->path = strdup(cfg->path ? cfg->path : "");
    s->cfg.path = s->path;
    if (s->cfg.read_connections < 1) {
        s->cfg.read_connections = 1;
    }
    if (s->cfg.max_batch < 1) {
        s->cfg.max_batch = 1;
    }
    s->driver = &store_sqlite_driver;
    s->writer.driver = s->driver;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    pthread_mutex_init(&s->read_lock, NULL);
    pthread_cond_init(&s->read_free, NULL);
    if (s->path == NULL || s->driver->open(&s->cfg, true, &s->writer.handle, err, errlen) < 0) {
        goto fail;
    }
    if (migrate(s, err, errlen) < 0) {
        goto fail;
    }
    if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
        snprintf(err, errlen, "cannot start the database writer thread");
        goto fail;
    }
    return s;
fail:
    if (s->writer.handle != NULL) {
        s->driver->close(s->writer.handle);
    }
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->read_lock);
    pthread_cond_destroy(&s->read_free);
    free(s->path);
    free(s);
    return NULL;
}

void store_close(struct store *s)
{
    if (s == NULL) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    while (s->free_reads != NULL) {
        struct read_slot *r = s->free_reads;
        s->free_reads = r->next;
        s->driver->close(r->conn.handle);
        free(r);
    }
    s->driver->close(s->writer.handle);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->read_lock);
    pthread_cond_destroy(&s->read_free);
    free(s->path);
    free(s);
}

int store_schema_version(struct store *s)
{
    return s->schema_version;
}

static void enqueue(struct store *s, struct write_op *op)
{
    pthread_mutex_lock(&s->lock);
    if (s->tail != NULL) {
        s->tail->next = op;
    } else {
        s->head = op;
    }
    s->tail = op;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

int store_write(struct store *s, store_fn fn, void (*on_commit)(void *arg, int rc), void *arg)
{
    pthread_cond_t cond;
    pthread_cond_init(&cond, NULL);
    struct write_op op = {.fn = fn, .on_commit = on_commit, .arg = arg, .cond = &cond};
    enqueue(s, &op);
    pthread_mutex_lock(&s->lock);
    while (!op.finished) {
        pthread_cond_wait(&cond, &s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    pthread_cond_destroy(&cond);
    return op.rc;
}

int store_write_async(struct store *s, store_fn fn, void (*on_commit)(void *arg, int rc),
                      void (*done)(void *arg, int rc), void *arg)
{
    struct write_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        return -ENOMEM;
    }
    op->fn = fn;
    op->on_commit = on_commit;
    op->done = done;
    op->arg = arg;
    enqueue(s, op);
    return 0;
}

int store_read(struct store *s, store_fn fn, void *arg)
{
    struct read_slot *slot = NULL;
    pthread_mutex_lock(&s->read_lock);
    for (;;) {
        if (s->free_reads != NULL) {
            slot = s->free_reads;
            s->free_reads = slot->next;
            break;
        }
        if (s->open_reads < s->cfg.read_connections) {
            s->open_reads++;
            break;
        }
        pthread_cond_wait(&s->read_free, &s->read_lock);
    }
    pthread_mutex_unlock(&s->read_lock);
    if (slot == NULL) {
        char err[256];
        slot = calloc(1, sizeof(*slot));
        if (slot == NULL ||
            s->driver->open(&s->cfg, false, &slot->conn.handle, err, sizeof(err)) < 0) {
            if (slot != NULL) {
                log_error("%s", err);
            }
            free(slot);
            pthread_mutex_lock(&s->read_lock);
            s->open_reads--;
            pthread_cond_signal(&s->read_free);
            pthread_mutex_unlock(&s->read_lock);
            return CG_EDB;
        }
        slot->conn.driver = s->driver;
    }
    /* One snapshot for the whole function. */
    s->driver->simple(slot->conn.handle, "BEGIN");
    int rc = fn(&slot->conn, arg);
    s->driver->simple(slot->conn.handle, "COMMIT");
    pthread_mutex_lock(&s->read_lock);
    slot->next = s->free_reads;
    s->free_reads = slot;
    pthread_cond_signal(&s->read_free);
    pthread_mutex_unlock(&s->read_lock);
    return rc;
}
