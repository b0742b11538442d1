/* Internal: the interface a storage backend implements. Not for use outside src/store. */
#ifndef CERTGATE_STORE_DRIVER_H
#define CERTGATE_STORE_DRIVER_H

#include "store/store.h"

struct store_driver {
    const char *name;
    /* open a connection; `writer` selects the write-tuned settings. */
    int (*open)(const struct store_config *cfg, bool writer, void **conn, char *err, size_t errlen);
    void (*close)(void *conn);
    int (*exec)(void *conn, const char *sql, const struct store_val *p, size_t n);
    int (*query)(void *conn, const char *sql, const struct store_val *p, size_t n,
                 int (*row)(const struct store_row *r, void *arg), void *arg);
    /* run a statement that takes no parameters and returns nothing (BEGIN, SAVEPOINT...). */
    int (*simple)(void *conn, const char *sql);
    /* accessors for rows produced by this driver */
    int64_t (*row_int)(const struct store_row *r, int col);
    const char *(*row_text)(const struct store_row *r, int col);
    const void *(*row_blob)(const struct store_row *r, int col, size_t *len);
    bool (*row_is_null)(const struct store_row *r, int col);
    /* the ordered list of schema migrations, NULL-terminated */
    const char *const *migrations;
};

/* A result row: the driver that made it and the driver's own cursor. */
struct store_row {
    const struct store_driver *driver;
    void *impl;
};

struct store_conn {
    const struct store_driver *driver;
    void *handle;
};

extern const struct store_driver store_sqlite_driver;

#endif
