/* HTTP/1.1 response writer: status line, header fields and body into a `struct buf`.
 *
 * The writer always sends Date and (except where RFC 9110 forbids it: 1xx, 204, 304)
 * Content-Length, never Transfer-Encoding. Header values are checked so a value taken from
 * a request or the database can never inject a header or split the response. Pure
 * functions apart from reading the clock when no date is given; thread-safe.
 */
#ifndef CERTGATE_HTTP_RESPONSE_H
#define CERTGATE_HTTP_RESPONSE_H

#include "core/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_DATE_LEN 30 /* "Sun, 06 Nov 1994 08:49:37 GMT" plus NUL */

struct http_field {
    const char *name;  /* a token, e.g. "Location" */
    const char *value; /* no CR, LF, NUL or other control byte except HTAB */
};

struct http_response {
    int status;               /* 100..599 */
    const char *content_type; /* NULL: no Content-Type field */
    const void *body;         /* may be NULL when body_len is 0, or for HEAD (see below) */
    size_t body_len;
    bool head;                       /* answering HEAD: Content-Length says body_len, no body */
    bool close;                      /* add "Connection: close" (the caller then closes) */
    int64_t date_ms;                 /* the Date field's time; <= 0 means now */
    const struct http_field *fields; /* extra fields, written in order */
    size_t nfields;
};

/* http_status_reason: the reason phrase for a status ("Not Found"); "Unknown" for codes we
 * do not list. Static string. */
const char *http_status_reason(int status);

/* http_date_format: IMF-fixdate (RFC 9110 §5.6.7) of `ms` since the epoch into out. */
void http_date_format(int64_t ms, char out[HTTP_DATE_LEN]);

/* http_field_value_valid: whether `v` may be sent as a field value: only HTAB, SP, VCHAR
 * and obs-text bytes, no leading or trailing whitespace. */
bool http_field_value_valid(const char *v);

/* http_response_write: append the whole response to `out`. Returns 0; -EINVAL when the
 * response is invalid (status out of range; a field name that is not a token; a value
 * with CR/LF/controls; an extra field the writer owns: Content-Length, Transfer-Encoding,
 * Date, Connection or Content-Type; a body with 1xx/204/304; body NULL with a length
 * outside HEAD); CG_ELIMIT or -ENOMEM from the buffer. On failure `out` is unchanged. */
int http_response_write(struct buf *out, const struct http_response *r);

/* http_response_write_continue: append "HTTP/1.1 100 Continue" and the blank line.
 * 0, CG_ELIMIT or -ENOMEM. */
int http_response_write_continue(struct buf *out);

#endif
