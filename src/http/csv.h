/* CSV reader for the bulk registration and CRL upload files (reference §4.3, §8).
 *
 * Dialect (docs/design/http.md):
 * - An optional UTF-8 BOM is skipped. The first non-blank line is the header row.
 * - Separator: detected on the header line, outside quotes: tab if it occurs, else ';' if it
 *   occurs, else ','. (Header names never contain tabs, and ';' is what "ANSI" exports from
 *   a locale with a decimal comma use, so this order resolves files that mix them.)
 * - RFC 4180 quoting: a field that starts with '"' is quoted; inside it "" is a quote, and
 *   separators and line breaks are data. After the closing quote only a separator or the
 *   end of the line may follow. A '"' inside an unquoted field is kept as data.
 * - Lines end with CRLF, LF or a lone CR. Lines that are empty or hold only spaces (and
 *   tabs, unless tab is the separator) are skipped. Fields are not trimmed.
 * - Each field is UTF-8 on output: a field that is not valid UTF-8 is taken as Windows-1252
 *   ("ANSI", a superset of the printable ISO-8859-1 range) and converted. NUL is refused.
 * - Limits: fields per row, bytes per field (after conversion), raw bytes per row.
 *
 * Iterator: http_csv_init reads the header; each http_csv_next makes the next data row
 * available in a reusable per-row buffer, so memory does not grow with the file. Not
 * thread-safe; one reader per file.
 */
#ifndef CERTGATE_HTTP_CSV_H
#define CERTGATE_HTTP_CSV_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_CSV_MAX_FIELDS 64          /* hard maximum of fields per row */
#define HTTP_CSV_DEFAULT_MAX_FIELD 4096 /* bytes per field */
#define HTTP_CSV_DEFAULT_MAX_LINE 65536 /* raw bytes per row (quoted line breaks included) */

struct http_csv_limits {
    size_t max_fields; /* 1..HTTP_CSV_MAX_FIELDS, 0 = HTTP_CSV_MAX_FIELDS */
    size_t max_field;  /* 0 = default */
    size_t max_line;   /* 0 = default */
};

struct http_csv {
    /* The current row, valid after http_csv_next returned 1 until the next call. */
    size_t line;                            /* 1-based physical line on which the row starts */
    size_t nfields;                         /* >= 1 */
    const char *field[HTTP_CSV_MAX_FIELDS]; /* UTF-8, NUL-terminated */
    size_t field_len[HTTP_CSV_MAX_FIELDS];
    bool converted; /* some field of the row was converted from Windows-1252 */
    /* The header row, valid until http_csv_cleanup. */
    size_t nheader;
    const char *header[HTTP_CSV_MAX_FIELDS];
    size_t header_len[HTTP_CSV_MAX_FIELDS];
    char sep;        /* '\t', ';' or ',' */
    char error[160]; /* after an error: "line 12: field longer than 4096 bytes" */

    /* Private to csv.c. */
    struct http_csv_limits lim;
    const uint8_t *data;
    size_t len, pos, next_line;
    int err; /* sticky error code, 0 while fine */
    struct buf row, hdr, scratch;
    size_t off[HTTP_CSV_MAX_FIELDS];
};

/* http_csv_init: start reading data[len] (which must outlive the reader): skip the BOM,
 * detect the separator and read the header row. `lim` NULL means defaults.
 * 0; CG_EPARSE (no header row, malformed header) or CG_ELIMIT, with c->error set; -EINVAL
 * for bad limits; -ENOMEM. Call http_csv_cleanup in every case. */
int http_csv_init(struct http_csv *c, const uint8_t *data, size_t len,
                  const struct http_csv_limits *lim);

/* http_csv_next: advance to the next data row. 1 when a row is available (c->field,
 * c->nfields, c->line), 0 at the end, CG_EPARSE or CG_ELIMIT with c->error naming the
 * line, or -ENOMEM. After an error every further call returns the same error. */
int http_csv_next(struct http_csv *c);

/* http_csv_column: index of the first header column named `name` (ASCII case-insensitive,
 * spaces around the header name and around `name` ignored), or -ENOENT. */
int http_csv_column(const struct http_csv *c, const char *name);

/* http_csv_cleanup: free the buffers (zeroed: rows may hold credentials). */
void http_csv_cleanup(struct http_csv *c);

#endif
