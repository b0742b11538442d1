/* HTTP/1.1 request parser: an incremental state machine over the bytes received so far.
 *
 * Model (picohttpparser-like, but every byte is looked at once): the caller keeps the bytes
 * of the current request in its own buffer, starting at the first byte of the request, and
 * calls http_parser_feed() with the whole buffer each time more bytes arrived. The parser
 * remembers how far it got (an offset, not a pointer), so the caller may move or grow the
 * buffer between calls, as long as the bytes already fed are unchanged and still first.
 * Feeding the same bytes in any number of pieces gives the same result as feeding them at
 * once (the fuzz target checks this).
 *
 * Lifetimes: the spans in `struct http_request` (method, target, header names and values,
 * a Content-Length body) point into the caller's buffer passed to the last feed call and
 * are valid while that buffer is unchanged. The header array and a chunked body belong to
 * the parser and are valid until the next http_parser_feed/reset/cleanup.
 *
 * One request at a time: after HTTP_PARSE_DONE, `req.consumed` bytes belong to the request;
 * the rest of the buffer is the start of the next (pipelined) request. The caller drops the
 * consumed bytes, calls http_parser_reset() and feeds the remainder.
 *
 * After an error the parser is stuck on that error; the caller answers with
 * http_parser_status() and closes the connection (the framing is lost).
 *
 * A parser is not thread-safe: it belongs to one connection. See docs/design/http.md.
 */
#ifndef CERTGATE_HTTP_REQUEST_H
#define CERTGATE_HTTP_REQUEST_H

#include "core/buf.h"
#include "http/span.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_DEFAULT_MAX_HEADERS 100
#define HTTP_DEFAULT_MAX_HEAD (16 * 1024)
#define HTTP_DEFAULT_MAX_URI (8 * 1024)
#define HTTP_DEFAULT_MAX_BODY (10 * 1024 * 1024)
#define HTTP_MAX_METHOD 32                    /* a longer method token is answered with 501 */
#define HTTP_MAX_CHUNK_LINE 256               /* chunk-size plus extensions, without the CRLF */
#define HTTP_MAX_BODY_LIMIT ((size_t)1 << 30) /* largest max_body accepted by init */

struct http_limits {
    size_t max_headers; /* header fields per request (431 beyond) */
    size_t max_head;    /* request line + header fields + blank line, bytes (431 beyond) */
    size_t max_uri;     /* request-target, bytes (414 beyond) */
    size_t max_body;    /* body after chunked decoding, bytes (413 beyond) */
};

enum http_method {
    HTTP_METHOD_OTHER = 0, /* a valid token we do not know */
    HTTP_METHOD_GET,
    HTTP_METHOD_HEAD,
    HTTP_METHOD_POST,
    HTTP_METHOD_PUT,
    HTTP_METHOD_DELETE,
    HTTP_METHOD_PATCH,
    HTTP_METHOD_OPTIONS,
};

struct http_header {
    struct http_span name;  /* as received (compare case-insensitively) */
    struct http_span value; /* leading and trailing OWS removed; may be empty */
};

struct http_request {
    struct http_span method;
    enum http_method method_id;
    struct http_span target; /* the raw request-target, origin form, starts with '/' */
    struct http_span path;   /* target up to '?', still percent-encoded (see route.h) */
    struct http_span query;  /* after the '?', raw; empty when absent */
    bool has_query;          /* target contained a '?' */
    int minor_version;       /* 0 (HTTP/1.0) or 1 (HTTP/1.1 and later 1.x) */
    const struct http_header *headers;
    size_t nheaders;
    const uint8_t *body; /* NULL until HTTP_PARSE_DONE or when there is no body */
    size_t body_len;
    int64_t content_length; /* the Content-Length value, or -1 when absent */
    bool chunked;           /* Transfer-Encoding: chunked */
    bool keep_alive;        /* the connection may carry another request afterwards */
    bool expect_continue;   /* HTTP/1.1 "Expect: 100-continue" */
    size_t head_len;        /* bytes of request line and header section (with the CRLF CRLF) */
    size_t consumed;        /* bytes of the whole request, valid at HTTP_PARSE_DONE */
};

/* Results of http_parser_feed (errors are negative). */
enum http_parse_result {
    HTTP_PARSE_MORE = 0, /* the header section is not complete yet */
    HTTP_PARSE_HEAD = 1, /* header section complete, body not yet: req has all but the body */
    HTTP_PARSE_DONE = 2, /* the whole request is there */
};

struct http_hdr_off; /* internal */

struct http_parser {
    /* Everything below is private to request.c. */
    struct http_limits lim;
    int state;
    int status;        /* HTTP status to answer after an error, 0 otherwise */
    const char *error; /* static text for the log after an error */
    int rc;            /* the sticky error code */
    size_t pos;        /* input bytes processed */
    size_t method_off, method_len, target_off, target_len, version_off, version_len;
    size_t name_off, name_len, value_off, value_end;
    size_t nheaders;
    struct http_hdr_off *hoff;   /* max_headers entries, allocated on first use */
    struct http_header *headers; /* max_headers entries, filled when the head completes */
    size_t head_len;
    int minor_version;
    int64_t content_length;
    bool chunked, keep_alive, expect_continue;
    uint64_t chunk_left;
    size_t line_len; /* chunk-size line or trailer section bytes so far */
    size_t consumed;
    struct buf body; /* decoded chunked body */
};

/* http_limits_default: fill `lim` with the HTTP_DEFAULT_* values. */
void http_limits_default(struct http_limits *lim);

/* http_parser_init: a parser for one connection. `lim` NULL means the defaults; zero
 * fields take their default too. Allocates nothing yet. 0, or -EINVAL when a limit is out
 * of range (max_body above HTTP_MAX_BODY_LIMIT, max_uri or max_head below 16). */
int http_parser_init(struct http_parser *p, const struct http_limits *lim);

/* http_parser_cleanup: free the parser's memory (the decoded body is zeroed). */
void http_parser_cleanup(struct http_parser *p);

/* http_parser_reset: forget the current request, keep the allocations, ready for the next
 * request (whose first byte must be the first byte of the next feed). */
void http_parser_reset(struct http_parser *p);

/* http_parser_feed: parse data[0..len), the bytes of the current request received so far.
 * Returns HTTP_PARSE_MORE, HTTP_PARSE_HEAD (req filled except the body; the caller may
 * answer "100 Continue" when req->expect_continue, or refuse early), HTTP_PARSE_DONE (req
 * complete), or a negative error: CG_EPARSE (malformed), CG_ELIMIT (a limit), -ENOMEM;
 * then http_parser_status() is the HTTP status to answer: 400, 413, 414, 431, 500
 * (out of memory), 501 (unsupported method length or transfer coding) or 505.
 * `req` is written on HTTP_PARSE_HEAD and HTTP_PARSE_DONE only. Calling again after DONE
 * or an error returns the same result. */
int http_parser_feed(struct http_parser *p, const uint8_t *data, size_t len,
                     struct http_request *req);

/* http_parser_status: the HTTP status to answer after an error (0 when none). */
int http_parser_status(const struct http_parser *p);

/* http_parser_error: a static English text describing the error, for logs ("" if none). */
const char *http_parser_error(const struct http_parser *p);

/* http_request_header: the first header named `name` (case-insensitive) at or after index
 * `*idx` (start with *idx = 0). Sets *idx past the match and returns its value, or returns
 * NULL when there is none. Lets the caller walk repeated fields. */
const struct http_span *http_request_header(const struct http_request *req, const char *name,
                                            size_t *idx);

/* http_request_header_value: the value of the only header named `name`. 0; -ENOENT when
 * absent; CG_EPARSE when the field occurs more than once (ambiguous). */
int http_request_header_value(const struct http_request *req, const char *name,
                              struct http_span *value);

/* http_method_parse: the enum for a method token (case-sensitive), HTTP_METHOD_OTHER when
 * unknown. */
enum http_method http_method_parse(const char *s, size_t n);

/* http_method_name: "GET" etc., NULL for HTTP_METHOD_OTHER. */
const char *http_method_name(enum http_method m);

#endif
