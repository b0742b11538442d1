/* CSV: iterate every row with the default limits and with small ones; fields must be
 * valid UTF-8 without NUL, within the limits, and line numbers must increase. */
#include "core/str.h"
#include "http/csv.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x)) {                                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void fields_ok(const char *const *f, const size_t *len, size_t n,
                      const struct http_csv_limits *lim)
{
    CHECK(n >= 1 && n <= lim->max_fields);
    for (size_t i = 0; i < n; i++) {
        CHECK(strlen(f[i]) == len[i]);
        CHECK(len[i] <= lim->max_field);
        CHECK(utf8_valid((const uint8_t *)f[i], len[i], false));
    }
}

static void run(const uint8_t *data, size_t size, const struct http_csv_limits *lim)
{
    struct http_csv c;
    int rc = http_csv_init(&c, data, size, lim);
    if (rc == 0) {
        CHECK(c.sep == ',' || c.sep == ';' || c.sep == '\t');
        fields_ok(c.header, c.header_len, c.nheader, &c.lim);
        for (size_t i = 0; i < c.nheader; i++) {
            CHECK(http_csv_column(&c, c.header[i]) >= 0);
        }
        size_t last = 0;
        while ((rc = http_csv_next(&c)) == 1) {
            fields_ok(c.field, c.field_len, c.nfields, &c.lim);
            CHECK(c.line > last);
            last = c.line;
        }
        CHECK(rc == 0 || c.error[0] != 0);
        CHECK(http_csv_next(&c) == rc); /* the end and errors are sticky */
    } else {
        CHECK(c.error[0] != 0 || rc == -ENOMEM);
    }
    http_csv_cleanup(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1); /* exact size: overreads are caught */
    CHECK(copy != NULL);
    if (size) {
        memcpy(copy, data, size);
    }
    run(copy, size, NULL);
    struct http_csv_limits small = {.max_fields = 4, .max_field = 8, .max_line = 24};
    run(copy, size, &small);
    free(copy);
    return 0;
}
