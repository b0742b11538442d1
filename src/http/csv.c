#include "http/csv.h"

#include "core/err.h"
#include "core/str.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Windows-1252 0x80..0x9F; the five undefined bytes map to the C1 code points, as the
 * WHATWG encoding standard does. 0xA0..0xFF are ISO-8859-1 (code point = byte). */
static const uint16_t cp1252_high[32] = {
    0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

static int csv_fail(struct http_csv *c, int rc, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int csv_fail(struct http_csv *c, int rc, size_t line, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(c->error, sizeof(c->error), "line %zu: ", line);
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(c->error)) {
        vsnprintf(c->error + n, sizeof(c->error) - (size_t)n, fmt, ap);
    }
    va_end(ap);
    c->err = rc;
    return rc;
}

static int oom(struct http_csv *c)
{
    snprintf(c->error, sizeof(c->error), "out of memory");
    c->err = -ENOMEM;
    return -ENOMEM;
}

static bool at_line_end(const struct http_csv *c, size_t i)
{
    return i >= c->len || c->data[i] == '\n' || c->data[i] == '\r';
}

/* Skip one line terminator (CRLF, LF or CR) at i, if any. */
static size_t skip_eol(const struct http_csv *c, size_t i)
{
    if (i < c->len && c->data[i] == '\r') {
        i++;
        if (i < c->len && c->data[i] == '\n') {
            i++;
        }
    } else if (i < c->len && c->data[i] == '\n') {
        i++;
    }
    return i;
}

/* Skip blank lines at c->pos, counting them. */
static void skip_blank(struct http_csv *c)
{
    for (;;) {
        size_t i = c->pos;
        while (i < c->len && (c->data[i] == ' ' || (c->data[i] == '\t' && c->sep != '\t'))) {
            i++;
        }
        if (i == c->len) {
            c->pos = i;
            return;
        }
        if (c->data[i] != '\n' && c->data[i] != '\r') {
            return;
        }
        c->pos = skip_eol(c, i);
        c->next_line++;
    }
}

/* Append scratch to the row as UTF-8 (converted when it is not), NUL-terminated. */
static int emit_field(struct http_csv *c, size_t line, bool *converted)
{
    const uint8_t *s = buf_data(&c->scratch);
    size_t n = c->scratch.len;
    int rc;
    if (memchr(s, 0, n) != NULL) {
        return csv_fail(c, CG_EPARSE, line, "NUL byte in field %zu", c->nfields + 1);
    }
    if (utf8_valid(s, n, false)) {
        rc = buf_append(&c->row, s, n);
    } else {
        size_t out = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t cp = s[i] >= 0x80 && s[i] < 0xa0 ? cp1252_high[s[i] - 0x80] : s[i];
            out += cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
        }
        if (out > c->lim.max_field) {
            return csv_fail(c, CG_ELIMIT, line, "field %zu longer than %zu bytes", c->nfields + 1,
                            c->lim.max_field);
        }
        if ((rc = buf_reserve(&c->row, out + 1)) < 0) {
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            uint32_t cp = s[i] >= 0x80 && s[i] < 0xa0 ? cp1252_high[s[i] - 0x80] : s[i];
            uint8_t u[3];
            size_t k;
            if (cp < 0x80) {
                u[0] = (uint8_t)cp;
                k = 1;
            } else if (cp < 0x800) {
                u[0] = (uint8_t)(0xc0 | cp >> 6);
                u[1] = (uint8_t)(0x80 | (cp & 0x3f));
                k = 2;
            } else {
                u[0] = (uint8_t)(0xe0 | cp >> 12);
                u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
                u[2] = (uint8_t)(0x80 | (cp & 0x3f));
                k = 3;
            }
            buf_append(&c->row, u, k); /* cannot fail: reserved above */
        }
        *converted = true;
        rc = 0;
    }
    if (rc == 0) {
        rc = buf_append(&c->row, "", 1);
    }
fail:
    if (rc < 0) {
        return rc == -ENOMEM ? oom(c) : csv_fail(c, rc, line, "row too long");
    }
    return 0;
}

/* Append raw field bytes to the scratch buffer (capped at max_field). */
static int field_append(struct http_csv *c, const uint8_t *p, size_t n, size_t line)
{
    int rc = buf_append(&c->scratch, p, n);
    if (rc == -ENOMEM) {
        return oom(c);
    }
    if (rc < 0) {
        return csv_fail(c, rc, line, "field %zu longer than %zu bytes", c->nfields + 1,
                        c->lim.max_field);
    }
    return 0;
}

/* Parse one row at c->pos (not blank) into c->row; offsets in c->off. */
static int read_row(struct http_csv *c)
{
    size_t row_start = c->pos;
    size_t line = c->next_line;
    bool converted = false;
    int rc;

    buf_reset(&c->row);
    c->nfields = 0;
    for (;;) {
        size_t field_line = c->next_line;
        buf_reset(&c->scratch);
        if (c->nfields >= c->lim.max_fields) {
            return csv_fail(c, CG_ELIMIT, line, "more than %zu fields", c->lim.max_fields);
        }
        if (c->pos < c->len && c->data[c->pos] == '"') {
            c->pos++;
            for (;;) {
                /* Copy the run up to the next quote in one go. */
                size_t start = c->pos;
                const uint8_t *q = memchr(c->data + start, '"', c->len - start);
                size_t end = q ? (size_t)(q - c->data) : c->len;
                for (size_t i = start; i < end; i++) {
                    /* Count the physical lines a quoted line break spans. */
                    if (c->data[i] == '\n' ||
                        (c->data[i] == '\r' && (i + 1 >= c->len || c->data[i + 1] != '\n'))) {
                        c->next_line++;
                    }
                }
                c->pos = end;
                if (c->pos - row_start > c->lim.max_line) {
                    return csv_fail(c, CG_ELIMIT, line, "row longer than %zu bytes",
                                    c->lim.max_line);
                }
                if ((rc = field_append(c, c->data + start, end - start, field_line)) < 0) {
                    return rc;
                }
                if (q == NULL) {
                    return csv_fail(c, CG_EPARSE, field_line, "unterminated quoted field");
                }
                if (end + 1 < c->len && c->data[end + 1] == '"') {
                    if ((rc = field_append(c, q, 1, field_line)) < 0) {
                        return rc;
                    }
                    c->pos = end + 2;
                    continue;
                }
                c->pos = end + 1;
                break;
            }
            if (!at_line_end(c, c->pos) && c->data[c->pos] != (uint8_t)c->sep) {
                return csv_fail(c, CG_EPARSE, c->next_line,
                                "unexpected character after the closing quote of field %zu",
                                c->nfields + 1);
            }
        } else {
            size_t start = c->pos;
            while (!at_line_end(c, c->pos) && c->data[c->pos] != (uint8_t)c->sep) {
                c->pos++;
            }
            if ((rc = field_append(c, c->data + start, c->pos - start, field_line)) < 0) {
                return rc;
            }
        }
        if (c->pos - row_start > c->lim.max_line) {
            return csv_fail(c, CG_ELIMIT, line, "row longer than %zu bytes", c->lim.max_line);
        }
        c->off[c->nfields] = c->row.len;
        if ((rc = emit_field(c, field_line, &converted)) < 0) {
            return rc;
        }
        c->nfields++;
        if (c->pos < c->len && c->data[c->pos] == (uint8_t)c->sep) {
            c->pos++;
            continue;
        }
        /* End of the row. */
        if (c->pos < c->len) {
            c->pos = skip_eol(c, c->pos);
            c->next_line++;
        }
        break;
    }
    c->line = line;
    c->converted = converted;
    return 1;
}

static void point_fields(struct http_csv *c, const struct buf *b, const char **field, size_t *flen)
{
    const char *base = (const char *)buf_data(b);
    for (size_t i = 0; i < c->nfields; i++) {
        field[i] = base + c->off[i];
        flen[i] = strlen(field[i]);
    }
}

/* The separator from the first line (outside quotes): tab, else ';', else ','. */
static char detect_sep(const struct http_csv *c)
{
    bool tab = false, semi = false;
    bool quoted = false;
    for (size_t i = c->pos; i < c->len; i++) {
        uint8_t ch = c->data[i];
        if (ch == '"') {
            quoted = !quoted;
        } else if (!quoted && (ch == '\n' || ch == '\r')) {
            break;
        } else if (!quoted && ch == '\t') {
            tab = true;
        } else if (!quoted && ch == ';') {
            semi = true;
        }
    }
    return tab ? '\t' : semi ? ';' : ',';
}

int http_csv_init(struct http_csv *c, const uint8_t *data, size_t len,
                  const struct http_csv_limits *lim)
{
    int rc;
    memset(c, 0, sizeof(*c));
    c->lim.max_fields = HTTP_CSV_MAX_FIELDS;
    c->lim.max_field = HTTP_CSV_DEFAULT_MAX_FIELD;
    c->lim.max_line = HTTP_CSV_DEFAULT_MAX_LINE;
    if (lim != NULL) {
        if (lim->max_fields) {
            c->lim.max_fields = lim->max_fields;
        }
        if (lim->max_field) {
            c->lim.max_field = lim->max_field;
        }
        if (lim->max_line) {
            c->lim.max_line = lim->max_line;
        }
    }
    if (c->lim.max_fields > HTTP_CSV_MAX_FIELDS || c->lim.max_line > ((size_t)1 << 28) ||
        c->lim.max_field > ((size_t)1 << 28)) {
        c->err = -EINVAL;
        return -EINVAL;
    }
    buf_init(&c->scratch, c->lim.max_field);
    /* Output is at most 3 bytes per input byte, plus a NUL per field. */
    buf_init(&c->row, 3 * c->lim.max_line + HTTP_CSV_MAX_FIELDS + 8);
    buf_init(&c->hdr, 3 * c->lim.max_line + HTTP_CSV_MAX_FIELDS + 8);
    c->data = data;
    c->len = len;
    c->next_line = 1;
    c->sep = ',';
    if (len >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf) {
        c->pos = 3;
    }
    /* Blank lines before the header: spaces and tabs only (the separator is not known). */
    c->sep = ',';
    skip_blank(c);
    if (c->pos >= c->len) {
        return csv_fail(c, CG_EPARSE, c->next_line, "no header row");
    }
    c->sep = detect_sep(c);
    if ((rc = read_row(c)) < 0) {
        return rc;
    }
    if ((rc = buf_append(&c->hdr, buf_data(&c->row), c->row.len)) < 0) {
        return oom(c);
    }
    c->nheader = c->nfields;
    point_fields(c, &c->hdr, c->header, c->header_len);
    c->nfields = 0;
    return 0;
}

int http_csv_next(struct http_csv *c)
{
    if (c->err < 0) {
        return c->err;
    }
    skip_blank(c);
    if (c->pos >= c->len) {
        c->nfields = 0;
        return 0;
    }
    int rc = read_row(c);
    if (rc < 0) {
        return rc;
    }
    point_fields(c, &c->row, c->field, c->field_len);
    return 1;
}

int http_csv_column(const struct http_csv *c, const char *name)
{
    size_t n = strlen(name);
    while (n > 0 && *name == ' ') {
        name++;
        n--;
    }
    while (n > 0 && name[n - 1] == ' ') {
        n--;
    }
    for (size_t i = 0; i < c->nheader; i++) {
        const char *h = c->header[i];
        size_t hl = c->header_len[i];
        while (hl > 0 && *h == ' ') {
            h++;
            hl--;
        }
        while (hl > 0 && h[hl - 1] == ' ') {
            hl--;
        }
        if (hl == n && strncasecmp(h, name, n) == 0) {
            return (int)i;
        }
    }
    return -ENOENT;
}

void http_csv_cleanup(struct http_csv *c)
{
    buf_cleanup(&c->row);
    buf_cleanup(&c->hdr);
    buf_cleanup(&c->scratch);
}
