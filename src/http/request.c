#include "http/request.h"

#include "core/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_hdr_off {
    size_t name_off, name_len, value_off, value_len;
};

/* States; the order matters only for "still in the header section" (< S_BODY). */
enum {
    S_START = 0,    /* before the request line; empty lines are skipped */
    S_START_LF,     /* CR of an empty line seen */
    S_METHOD,       /* inside the method token */
    S_TARGET_START, /* first byte of the request-target */
    S_TARGET,       /* inside the request-target */
    S_VERSION,      /* inside HTTP-version */
    S_LINE_LF,      /* CR after the request line seen */
    S_FIELD_START,  /* first byte of a header line */
    S_FIELD_NAME,   /* inside a field name */
    S_FIELD_OWS,    /* after the colon, before the value */
    S_FIELD_VALUE,  /* inside the value */
    S_FIELD_LF,     /* CR after a field line seen */
    S_HEAD_LF,      /* CR of the blank line seen */
    S_BODY,         /* Content-Length body */
    S_CHUNK_SIZE_START,
    S_CHUNK_SIZE,
    S_CHUNK_BWS,
    S_CHUNK_EXT,
    S_CHUNK_SIZE_LF,
    S_CHUNK_DATA,
    S_CHUNK_DATA_CR,
    S_CHUNK_DATA_LF,
    S_TRAILER_START,
    S_TRAILER_NAME,
    S_TRAILER_VALUE,
    S_TRAILER_LF,
    S_TRAILER_END_LF,
    S_DONE,
    S_ERROR,
};

void http_limits_default(struct http_limits *lim)
{
    lim->max_headers = HTTP_DEFAULT_MAX_HEADERS;
    lim->max_head = HTTP_DEFAULT_MAX_HEAD;
    lim->max_uri = HTTP_DEFAULT_MAX_URI;
    lim->max_body = HTTP_DEFAULT_MAX_BODY;
}

int http_parser_init(struct http_parser *p, const struct http_limits *lim)
{
    struct http_limits l;
    http_limits_default(&l);
    if (lim != NULL) {
        if (lim->max_headers) {
            l.max_headers = lim->max_headers;
        }
        if (lim->max_head) {
            l.max_head = lim->max_head;
        }
        if (lim->max_uri) {
            l.max_uri = lim->max_uri;
        }
        if (lim->max_body) {
            l.max_body = lim->max_body;
        }
    }
    if (l.max_body > HTTP_MAX_BODY_LIMIT || l.max_uri < 16 || l.max_head < 16 ||
        l.max_head > HTTP_MAX_BODY_LIMIT || l.max_headers > 100000) {
        return -EINVAL;
    }
    memset(p, 0, sizeof(*p));
    p->lim = l;
    buf_init(&p->body, l.max_body);
    http_parser_reset(p);
    return 0;
}

void http_parser_cleanup(struct http_parser *p)
{
    free(p->hoff);
    free(p->headers);
    p->hoff = NULL;
    p->headers = NULL;
    buf_cleanup(&p->body);
}

void http_parser_reset(struct http_parser *p)
{
    p->state = S_START;
    p->status = 0;
    p->error = "";
    p->rc = 0;
    p->pos = 0;
    p->method_off = p->method_len = p->target_off = p->target_len = 0;
    p->version_off = p->version_len = 0;
    p->name_off = p->name_len = p->value_off = p->value_end = 0;
    p->nheaders = 0;
    p->head_len = 0;
    p->minor_version = 1;
    p->content_length = -1;
    p->chunked = p->keep_alive = p->expect_continue = false;
    p->chunk_left = 0;
    p->line_len = 0;
    p->consumed = 0;
    /* Keep a small body allocation for the next request, give large ones back. */
    if (p->body.cap > 64 * 1024) {
        buf_cleanup(&p->body);
    } else {
        buf_reset(&p->body);
    }
}

int http_parser_status(const struct http_parser *p)
{
    return p->status;
}

const char *http_parser_error(const struct http_parser *p)
{
    return p->error != NULL ? p->error : "";
}

static int fail(struct http_parser *p, int status, int rc, const char *why)
{
    p->state = S_ERROR;
    p->status = status;
    p->rc = rc;
    p->error = why;
    return rc;
}

static const char *const method_names[] = {
    [HTTP_METHOD_GET] = "GET",         [HTTP_METHOD_HEAD] = "HEAD",
    [HTTP_METHOD_POST] = "POST",       [HTTP_METHOD_PUT] = "PUT",
    [HTTP_METHOD_DELETE] = "DELETE",   [HTTP_METHOD_PATCH] = "PATCH",
    [HTTP_METHOD_OPTIONS] = "OPTIONS",
};

enum http_method http_method_parse(const char *s, size_t n)
{
    for (int m = HTTP_METHOD_GET; m <= HTTP_METHOD_OPTIONS; m++) {
        if (strlen(method_names[m]) == n && memcmp(method_names[m], s, n) == 0) {
            return (enum http_method)m;
        }
    }
    return HTTP_METHOD_OTHER;
}

const char *http_method_name(enum http_method m)
{
    if (m < HTTP_METHOD_GET || m > HTTP_METHOD_OPTIONS) {
        return NULL;
    }
    return method_names[m];
}

/* Bytes allowed in the request-target: visible ASCII except '#' (a fragment is never
 * sent). Anything else, including obs-text, must be percent-encoded. */
static bool target_char(uint8_t c)
{
    return c > 0x20 && c < 0x7f && c != '#';
}

/* Bytes allowed in a field value (besides SP/HTAB handled by the caller): VCHAR and
 * obs-text. CR, LF, NUL and the other controls are not. */
static bool value_char(uint8_t c)
{
    return c > 0x20 && c != 0x7f;
}

/* ---- semantics of the complete header section ---- */

struct list_iter {
    const char *p;
    size_t n;
};

/* Next element of a comma-separated list (RFC 9110 §5.6.1), OWS trimmed; empty elements
 * are skipped. false at the end. */
static bool list_next(struct list_iter *it, struct http_span *elem)
{
    while (it->n > 0) {
        const char *comma = memchr(it->p, ',', it->n);
        size_t len = comma ? (size_t)(comma - it->p) : it->n;
        struct http_span e = http_span_trim((struct http_span){it->p, len});
        it->p += comma ? len + 1 : len;
        it->n -= comma ? len + 1 : len;
        if (e.len > 0) {
            *elem = e;
            return true;
        }
    }
    return false;
}

/* Content-Length: one or more fields, each a list of 1*DIGIT; all values must be equal.
 * Values beyond UINT64 saturate (and then exceed any limit). */
static int parse_content_length(struct http_parser *p, struct http_span v, uint64_t *cl, bool *seen)
{
    struct list_iter it = {v.ptr, v.len};
    struct http_span e;
    bool any = false;
    while (list_next(&it, &e)) {
        uint64_t x = 0;
        for (size_t i = 0; i < e.len; i++) {
            if (e.ptr[i] < '0' || e.ptr[i] > '9') {
                return fail(p, 400, CG_EPARSE, "invalid Content-Length");
            }
            unsigned d = (unsigned)(e.ptr[i] - '0');
            x = x > (UINT64_MAX - d) / 10 ? UINT64_MAX : x * 10 + d;
        }
        if (*seen && x != *cl) {
            return fail(p, 400, CG_EPARSE, "conflicting Content-Length values");
        }
        *cl = x;
        *seen = true;
        any = true;
    }
    if (!any) {
        return fail(p, 400, CG_EPARSE, "empty Content-Length");
    }
    return 0;
}

/* Transfer-Encoding: the combined list must end with "chunked" and contain it once. A
 * coding before it is one we do not implement (501); a list not ending in chunked leaves
 * the length undefined (400, RFC 9112 §6.3). */
static void parse_transfer_encoding(struct http_span v, int *nchunked, int *nother,
                                    bool *last_chunked)
{
    struct list_iter it = {v.ptr, v.len};
    struct http_span e;
    while (list_next(&it, &e)) {
        if (http_span_eq_ci(e, "chunked")) {
            (*nchunked)++;
            *last_chunked = true;
        } else {
            (*nother)++;
            *last_chunked = false;
        }
    }
}

static bool list_has(struct http_span v, const char *token)
{
    struct list_iter it = {v.ptr, v.len};
    struct http_span e;
    while (list_next(&it, &e)) {
        if (http_span_eq_ci(e, token)) {
            return true;
        }
    }
    return false;
}

static int finish_head(struct http_parser *p, const uint8_t *data)
{
    const char *base = (const char *)data;
    int nhost = 0, nchunked = 0, nother = 0, nte = 0;
    bool last_chunked = false, cl_seen = false, close = false, ka = false;
    uint64_t cl = 0;
    int rc;

    /* The target: percent-encodings must be well-formed. */
    for (size_t i = 0; i < p->target_len; i++) {
        if (base[p->target_off + i] == '%') {
            if (p->target_len - i < 3 || http_hex_value((uint8_t)base[p->target_off + i + 1]) < 0 ||
                http_hex_value((uint8_t)base[p->target_off + i + 2]) < 0) {
                return fail(p, 400, CG_EPARSE, "malformed percent-encoding in request-target");
            }
        }
    }

    for (size_t i = 0; i < p->nheaders; i++) {
        struct http_span name = {base + p->hoff[i].name_off, p->hoff[i].name_len};
        struct http_span value = {base + p->hoff[i].value_off, p->hoff[i].value_len};
        if (http_span_eq_ci(name, "host")) {
            nhost++;
        } else if (http_span_eq_ci(name, "content-length")) {
            if ((rc = parse_content_length(p, value, &cl, &cl_seen)) < 0) {
                return rc;
            }
        } else if (http_span_eq_ci(name, "transfer-encoding")) {
            nte++;
            parse_transfer_encoding(value, &nchunked, &nother, &last_chunked);
        } else if (http_span_eq_ci(name, "connection")) {
            close = close || list_has(value, "close");
            ka = ka || list_has(value, "keep-alive");
        } else if (http_span_eq_ci(name, "expect")) {
            if (http_span_eq_ci(value, "100-continue") && p->minor_version >= 1) {
                p->expect_continue = true;
            }
        }
    }
    if (p->minor_version >= 1 && nhost != 1) {
        return fail(p, 400, CG_EPARSE, nhost ? "more than one Host field" : "missing Host");
    }
    if (nhost > 1) {
        return fail(p, 400, CG_EPARSE, "more than one Host field");
    }
    if (nte > 0) {
        if (cl_seen) {
            return fail(p, 400, CG_EPARSE, "both Content-Length and Transfer-Encoding");
        }
        if (p->minor_version == 0) {
            return fail(p, 400, CG_EPARSE, "Transfer-Encoding in an HTTP/1.0 request");
        }
        if (!last_chunked || nchunked != 1) {
            return fail(p, 400, CG_EPARSE, "Transfer-Encoding does not end in one chunked");
        }
        if (nother > 0) {
            return fail(p, 501, CG_EPARSE, "unsupported transfer coding");
        }
        p->chunked = true;
    }
    if (cl_seen) {
        if (cl > p->lim.max_body) {
            return fail(p, 413, CG_ELIMIT, "body too large");
        }
        p->content_length = (int64_t)cl;
    }
    p->keep_alive = p->minor_version >= 1 ? !close : (ka && !close);

    if (p->headers == NULL && p->nheaders > 0) {
        p->headers = calloc(p->lim.max_headers, sizeof(*p->headers));
        if (p->headers == NULL) {
            return fail(p, 500, -ENOMEM, "out of memory");
        }
    }
    return 0;
}

static void fill_request(const struct http_parser *p, const uint8_t *data, bool done,
                         struct http_request *req)
{
    const char *base = (const char *)data;
    memset(req, 0, sizeof(*req));
    req->method = (struct http_span){base + p->method_off, p->method_len};
    req->method_id = http_method_parse(req->method.ptr, req->method.len);
    req->target = (struct http_span){base + p->target_off, p->target_len};
    const char *q = memchr(req->target.ptr, '?', req->target.len);
    if (q != NULL) {
        req->path = (struct http_span){req->target.ptr, (size_t)(q - req->target.ptr)};
        req->query = (struct http_span){q + 1, req->target.len - req->path.len - 1};
        req->has_query = true;
    } else {
        req->path = req->target;
        req->query = (struct http_span){q, 0};
    }
    req->minor_version = p->minor_version;
    for (size_t i = 0; i < p->nheaders; i++) {
        p->headers[i].name = (struct http_span){base + p->hoff[i].name_off, p->hoff[i].name_len};
        p->headers[i].value = (struct http_span){base + p->hoff[i].value_off, p->hoff[i].value_len};
    }
    req->headers = p->headers;
    req->nheaders = p->nheaders;
    req->content_length = p->content_length;
    req->chunked = p->chunked;
    req->keep_alive = p->keep_alive;
    req->expect_continue = p->expect_continue;
    req->head_len = p->head_len;
    if (done) {
        req->consumed = p->consumed;
        if (p->chunked) {
            req->body = p->body.len > 0 ? buf_data(&p->body) : NULL;
            req->body_len = p->body.len;
        } else if (p->content_length > 0) {
            req->body = data + p->head_len;
            req->body_len = (size_t)p->content_length;
        }
    }
}

/* Evaluate "HTTP/x.y" at the end of the request line. */
static int check_version(struct http_parser *p, const uint8_t *data)
{
    const char *v = (const char *)data + p->version_off;
    if (p->version_len != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
        v[6] != '.' || v[7] < '0' || v[7] > '9') {
        return fail(p, 400, CG_EPARSE, "malformed HTTP-version");
    }
    if (v[5] != '1') {
        return fail(p, 505, CG_EPARSE, "HTTP version not supported");
    }
    /* A later 1.x minor version is processed as 1.1 (RFC 9112 §2.3). */
    p->minor_version = v[7] == '0' ? 0 : 1;
    return 0;
}

static int store_field(struct http_parser *p)
{
    if (p->hoff == NULL) {
        p->hoff = calloc(p->lim.max_headers, sizeof(*p->hoff));
        if (p->hoff == NULL) {
            return fail(p, 500, -ENOMEM, "out of memory");
        }
    }
    struct http_hdr_off *h = &p->hoff[p->nheaders++];
    h->name_off = p->name_off;
    h->name_len = p->name_len;
    h->value_off = p->value_off;
    h->value_len = p->value_end > p->value_off ? p->value_end - p->value_off : 0;
    return 0;
}

/* The header section, byte by byte. Returns 1 when it completed at p->pos (inclusive),
 * 0 when more input is needed, or an error. */
static int parse_head(struct http_parser *p, const uint8_t *data, size_t len)
{
    int rc;
    for (; p->pos < len; p->pos++) {
        if (p->pos >= p->lim.max_head) {
            if (p->state == S_TARGET || p->state == S_TARGET_START) {
                return fail(p, 414, CG_ELIMIT, "request-target too long");
            }
            return fail(p, 431, CG_ELIMIT, "header section too large");
        }
        uint8_t c = data[p->pos];
        switch (p->state) {
        case S_START:
            if (c == '\r') {
                p->state = S_START_LF;
            } else if (http_is_tchar(c)) {
                p->method_off = p->pos;
                p->method_len = 1;
                p->state = S_METHOD;
            } else {
                return fail(p, 400, CG_EPARSE, "malformed request line");
            }
            break;
        case S_START_LF:
            if (c != '\n') {
                return fail(p, 400, CG_EPARSE, "bare CR before the request line");
            }
            p->state = S_START;
            break;
        case S_METHOD:
            if (c == ' ') {
                p->state = S_TARGET_START;
            } else if (!http_is_tchar(c)) {
                return fail(p, 400, CG_EPARSE, "malformed method");
            } else if (++p->method_len > HTTP_MAX_METHOD) {
                return fail(p, 501, CG_ELIMIT, "method not implemented");
            }
            break;
        case S_TARGET_START:
            if (c != '/') {
                return fail(p, 400, CG_EPARSE, "request-target not in origin form");
            }
            p->target_off = p->pos;
            p->target_len = 1;
            p->state = S_TARGET;
            break;
        case S_TARGET:
            if (c == ' ') {
                p->version_off = p->pos + 1;
                p->state = S_VERSION;
            } else if (!target_char(c)) {
                return fail(p, 400, CG_EPARSE, "invalid byte in request-target");
            } else if (++p->target_len > p->lim.max_uri) {
                return fail(p, 414, CG_ELIMIT, "request-target too long");
            }
            break;
        case S_VERSION:
            if (c == '\r') {
                if ((rc = check_version(p, data)) < 0) {
                    return rc;
                }
                p->state = S_LINE_LF;
            } else if (c <= 0x20 || c >= 0x7f || ++p->version_len > 8) {
                return fail(p, 400, CG_EPARSE, "malformed HTTP-version");
            }
            break;
        case S_LINE_LF:
        case S_FIELD_LF:
            if (c != '\n') {
                return fail(p, 400, CG_EPARSE, "CR not followed by LF");
            }
            if (p->state == S_FIELD_LF && (rc = store_field(p)) < 0) {
                return rc;
            }
            p->state = S_FIELD_START;
            break;
        case S_FIELD_START:
            if (c == '\r') {
                p->state = S_HEAD_LF;
            } else if (http_is_tchar(c)) {
                if (p->nheaders >= p->lim.max_headers) {
                    return fail(p, 431, CG_ELIMIT, "too many header fields");
                }
                p->name_off = p->pos;
                p->name_len = 1;
                p->state = S_FIELD_NAME;
            } else if (c == ' ' || c == '\t') {
                return fail(p, 400, CG_EPARSE, "obsolete line folding or leading whitespace");
            } else {
                return fail(p, 400, CG_EPARSE, "malformed header field");
            }
            break;
        case S_FIELD_NAME:
            if (c == ':') {
                p->value_off = p->value_end = p->pos + 1;
                p->state = S_FIELD_OWS;
            } else if (http_is_tchar(c)) {
                p->name_len++;
            } else {
                return fail(p, 400, CG_EPARSE, "malformed header field name");
            }
            break;
        case S_FIELD_OWS:
            if (c == ' ' || c == '\t') {
                p->value_off = p->value_end = p->pos + 1;
            } else if (c == '\r') {
                p->state = S_FIELD_LF;
            } else if (value_char(c)) {
                p->value_end = p->pos + 1;
                p->state = S_FIELD_VALUE;
            } else {
                return fail(p, 400, CG_EPARSE, "invalid byte in header field value");
            }
            break;
        case S_FIELD_VALUE:
            if (c == '\r') {
                p->state = S_FIELD_LF;
            } else if (value_char(c)) {
                p->value_end = p->pos + 1;
            } else if (c != ' ' && c != '\t') {
                return fail(p, 400, CG_EPARSE, "invalid byte in header field value");
            }
            break;
        case S_HEAD_LF:
            if (c != '\n') {
                return fail(p, 400, CG_EPARSE, "CR not followed by LF");
            }
            p->pos++;
            p->head_len = p->pos;
            return 1;
        default:
            return fail(p, 500, CG_EINTERNAL, "parser state");
        }
    }
    return 0;
}

/* The chunked body, byte by byte (data in bulk). Returns 1 when the last CRLF of the
 * trailer section is at p->pos - 1, 0 when more input is needed, or an error. */
static int parse_chunked(struct http_parser *p, const uint8_t *data, size_t len)
{
    int rc;
    while (p->pos < len) {
        uint8_t c = data[p->pos];
        int d;
        switch (p->state) {
        case S_CHUNK_SIZE_START:
            if ((d = http_hex_value(c)) < 0) {
                return fail(p, 400, CG_EPARSE, "malformed chunk size");
            }
            p->chunk_left = (uint64_t)d;
            p->line_len = 1;
            p->state = S_CHUNK_SIZE;
            break;
        case S_CHUNK_SIZE:
        case S_CHUNK_BWS:
        case S_CHUNK_EXT:
            if (++p->line_len > HTTP_MAX_CHUNK_LINE) {
                return fail(p, 400, CG_ELIMIT, "chunk size line too long");
            }
            if (c == '\r') {
                if (p->state == S_CHUNK_BWS) {
                    return fail(p, 400, CG_EPARSE, "malformed chunk size");
                }
                p->state = S_CHUNK_SIZE_LF;
            } else if (p->state == S_CHUNK_EXT) {
                /* Extensions are ignored; only their bytes are checked. */
                if (c != '\t' && (c < 0x20 || c == 0x7f)) {
                    return fail(p, 400, CG_EPARSE, "invalid byte in chunk extension");
                }
            } else if (c == ';') {
                p->state = S_CHUNK_EXT;
            } else if (c == ' ' || c == '\t') {
                p->state = S_CHUNK_BWS;
            } else if (p->state == S_CHUNK_SIZE && (d = http_hex_value(c)) >= 0) {
                /* The size only grows: fail as soon as it cannot fit (no overflow). */
                uint64_t room = p->lim.max_body - p->body.len;
                if ((uint64_t)d > room || p->chunk_left > (room - (uint64_t)d) / 16) {
                    return fail(p, 413, CG_ELIMIT, "body too large");
                }
                p->chunk_left = p->chunk_left * 16 + (uint64_t)d;
            } else {
                return fail(p, 400, CG_EPARSE, "malformed chunk size");
            }
            break;
        case S_CHUNK_SIZE_LF:
            if (c != '\n') {
                return fail(p, 400, CG_EPARSE, "CR not followed by LF");
            }
            if (p->chunk_left > p->lim.max_body - p->body.len) {
                return fail(p, 413, CG_ELIMIT, "body too large");
            }
            p->line_len = 0;
            p->state = p->chunk_left == 0 ? S_TRAILER_START : S_CHUNK_DATA;
            break;
        case S_CHUNK_DATA: {
            size_t n = len - p->pos;
            if (n > p->chunk_left) {
                n = (size_t)p->chunk_left;
            }
            if ((rc = buf_append(&p->body, data + p->pos, n)) < 0) {
                return fail(p, rc == CG_ELIMIT ? 413 : 500, rc,
                            rc == CG_ELIMIT ? "body too large" : "out of memory");
            }
            p->chunk_left -= n;
            p->pos += n;
            if (p->chunk_left == 0) {
                p->state = S_CHUNK_DATA_CR;
            }
            continue;
        }
        case S_CHUNK_DATA_CR:
            if (c != '\r') {
                return fail(p, 400, CG_EPARSE, "chunk data not followed by CRLF");
            }
            p->state = S_CHUNK_DATA_LF;
            break;
        case S_CHUNK_DATA_LF:
            if (c != '\n') {
                return fail(p, 400, CG_EPARSE, "chunk data not followed by CRLF");
            }
            p->state = S_CHUNK_SIZE_START;
            break;
        case S_TRAILER_START:
        case S_TRAILER_NAME:
        case S_TRAILER_VALUE:
            /* The trailer section is skipped, but it is bounded and must be well-formed. */
            if (++p->line_len > p->lim.max_head) {
                return fail(p, 431, CG_ELIMIT, "trailer section too large");
            }
            if (p->state == S_TRAILER_START && c == '\r') {
                p->state = S_TRAILER_END_LF;
            } else if (p->state == S_TRAILER_START) {
                if (!http_is_tchar(c)) {
                    return fail(p, 400, CG_EPARSE, "malformed trailer field");
                }
                p->state = S_TRAILER_NAME;
            } else if (p->state == S_TRAILER_NAME) {
                if (c == ':') {
                    p->state = S_TRAILER_VALUE;
                } else if (!http_is_tchar(c)) {
                    return fail(p, 400, CG_EPARSE, "malformed trailer field");
                }
            } else if (c == '\r') {
                p->state = S_TRAILER_LF;
            } else if (c != ' ' && c != '\t' && !value_char(c)) {
                return fail(p, 400, CG_EPARSE, "invalid byte in trailer field");
            }
            break;
        case S_TRAILER_LF:
            if (c != '\n') {
                return fail(p, 400, CG_EPARSE, "CR not followed by LF");
            }
            p->state = S_TRAILER_START;
            break;
        case S_TRAILER_END_LF:
            if (c != '\n') {
                return fail(p, 400, CG_EPARSE, "CR not followed by LF");
            }
            p->pos++;
            return 1;
        default:
            return fail(p, 500, CG_EINTERNAL, "parser state");
        }
        p->pos++;
    }
    return 0;
}

int http_parser_feed(struct http_parser *p, const uint8_t *data, size_t len,
                     struct http_request *req)
{
    int rc;
    if (p->state == S_ERROR) {
        return p->rc;
    }
    if (len < p->pos) {
        return fail(p, 500, CG_EINTERNAL, "input shrank between calls");
    }
    if (p->state < S_BODY) {
        rc = parse_head(p, data, len);
        if (rc <= 0) {
            return rc;
        }
        if ((rc = finish_head(p, data)) < 0) {
            return rc;
        }
        if (p->chunked) {
            p->state = S_CHUNK_SIZE_START;
        } else if (p->content_length > 0) {
            p->state = S_BODY;
        } else {
            p->consumed = p->head_len;
            p->state = S_DONE;
        }
    }
    if (p->state == S_BODY) {
        if (len - p->head_len >= (uint64_t)p->content_length) {
            p->consumed = p->head_len + (size_t)p->content_length;
            p->pos = p->consumed;
            p->state = S_DONE;
        } else {
            p->pos = len;
        }
    } else if (p->state != S_DONE) {
        rc = parse_chunked(p, data, len);
        if (rc < 0) {
            return rc;
        }
        if (rc > 0) {
            p->consumed = p->pos;
            p->state = S_DONE;
        }
    }
    bool done = p->state == S_DONE;
    fill_request(p, data, done, req);
    return done ? HTTP_PARSE_DONE : HTTP_PARSE_HEAD;
}

const struct http_span *http_request_header(const struct http_request *req, const char *name,
                                            size_t *idx)
{
    for (size_t i = *idx; i < req->nheaders; i++) {
        if (http_span_eq_ci(req->headers[i].name, name)) {
            *idx = i + 1;
            return &req->headers[i].value;
        }
    }
    *idx = req->nheaders;
    return NULL;
}

int http_request_header_value(const struct http_request *req, const char *name,
                              struct http_span *value)
{
    size_t idx = 0;
    const struct http_span *v = http_request_header(req, name, &idx);
    if (v == NULL) {
        return -ENOENT;
    }
    const struct http_span *first = v;
    if (http_request_header(req, name, &idx) != NULL) {
        return CG_EPARSE;
    }
    *value = *first;
    return 0;
}
