#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "http/request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A parse outcome that can be compared across different ways of feeding the bytes. Spans
 * are recorded as offsets into the input, so results from relocated buffers compare. */
struct outcome {
    int rc;
    int status;
    char method[40];
    int method_id;
    size_t target_off, target_len, path_len, query_off, query_len;
    bool has_query;
    int minor;
    size_t nheaders;
    size_t hname_off[128], hname_len[128], hval_off[128], hval_len[128];
    uint8_t body[4096];
    size_t body_len;
    int64_t content_length;
    bool chunked, keep_alive, expect_continue;
    size_t head_len, consumed;
};

static void record(struct outcome *o, int rc, const struct http_parser *p, const uint8_t *base,
                   const struct http_request *req)
{
    memset(o, 0, sizeof(*o));
    o->rc = rc;
    o->status = http_parser_status(p);
    if (rc != HTTP_PARSE_DONE && rc != HTTP_PARSE_HEAD) {
        return;
    }
    const char *b = (const char *)base;
    assert_true(req->method.len < sizeof(o->method));
    memcpy(o->method, req->method.ptr, req->method.len);
    o->method_id = req->method_id;
    o->target_off = (size_t)(req->target.ptr - b);
    o->target_len = req->target.len;
    o->path_len = req->path.len;
    assert_ptr_equal(req->path.ptr, req->target.ptr);
    o->has_query = req->has_query;
    o->query_off = req->has_query ? (size_t)(req->query.ptr - b) : 0;
    o->query_len = req->query.len;
    o->minor = req->minor_version;
    o->nheaders = req->nheaders;
    assert_true(req->nheaders <= 128);
    for (size_t i = 0; i < req->nheaders; i++) {
        o->hname_off[i] = (size_t)(req->headers[i].name.ptr - b);
        o->hname_len[i] = req->headers[i].name.len;
        o->hval_off[i] = (size_t)(req->headers[i].value.ptr - b);
        o->hval_len[i] = req->headers[i].value.len;
    }
    assert_true(req->body_len <= sizeof(o->body));
    if (req->body_len > 0) {
        memcpy(o->body, req->body, req->body_len);
    }
    o->body_len = req->body_len;
    o->content_length = req->content_length;
    o->chunked = req->chunked;
    o->keep_alive = req->keep_alive;
    o->expect_continue = req->expect_continue;
    o->head_len = req->head_len;
    o->consumed = req->consumed;
}

static void outcome_equal(const struct outcome *a, const struct outcome *b)
{
    assert_int_equal(a->rc, b->rc);
    assert_int_equal(a->status, b->status);
    assert_memory_equal(a, b, sizeof(*a));
}

static const struct http_limits *test_limits(void)
{
    static struct http_limits lim = {
        .max_headers = 8, .max_head = 512, .max_uri = 64, .max_body = 1024};
    return &lim;
}

/* Feed everything at once. */
static void parse_once(const char *raw, size_t n, const struct http_limits *lim, struct outcome *o)
{
    struct http_parser p;
    struct http_request req;
    assert_int_equal(http_parser_init(&p, lim), 0);
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, raw, n);
    int rc = http_parser_feed(&p, copy, n, &req);
    record(o, rc, &p, copy, &req);
    /* Idempotent: the same call again gives the same answer. */
    struct outcome again;
    rc = http_parser_feed(&p, copy, n, &req);
    record(&again, rc, &p, copy, &req);
    outcome_equal(o, &again);
    free(copy);
    http_parser_cleanup(&p);
}

/* Feed prefixes: each call gets a fresh copy of the bytes so far (the caller's buffer
 * moves), as a connection growing its receive buffer would. */
static void parse_pieces(const char *raw, size_t n, const size_t *cuts, size_t ncuts,
                         const struct http_limits *lim, struct outcome *o)
{
    struct http_parser p;
    struct http_request req;
    assert_int_equal(http_parser_init(&p, lim), 0);
    int rc = HTTP_PARSE_MORE;
    uint8_t *copy = NULL;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t k = i < ncuts ? cuts[i] : n;
        free(copy);
        copy = malloc(k ? k : 1);
        memcpy(copy, raw, k);
        rc = http_parser_feed(&p, copy, k, &req);
        if (rc < 0 || rc == HTTP_PARSE_DONE) {
            break;
        }
    }
    record(o, rc, &p, copy, &req);
    free(copy);
    http_parser_cleanup(&p);
}

/* The same result whether fed at once, byte by byte, or split in two at every point. */
static void check_splits(const char *raw, size_t n, const struct http_limits *lim,
                         struct outcome *whole)
{
    struct outcome o;
    parse_once(raw, n, lim, whole);
    size_t *cuts = malloc((n + 1) * sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        cuts[i] = i;
    }
    parse_pieces(raw, n, cuts, n, lim, &o);
    outcome_equal(whole, &o);
    for (size_t k = 0; k <= n; k++) {
        parse_pieces(raw, n, &k, 1, lim, &o);
        outcome_equal(whole, &o);
    }
    free(cuts);
}

static void expect(const char *raw, const struct http_limits *lim, int rc, int status)
{
    struct outcome o;
    check_splits(raw, strlen(raw), lim, &o);
    if (o.rc != rc || o.status != status) {
        fail_msg("request %s: rc %d status %d, expected %d %d", raw, o.rc, o.status, rc, status);
    }
}

static void simple_get(void **state)
{
    const char *raw = "GET /tenant/tenants/t1/trusted-certificates?pageSize=2&a=%20b HTTP/1.1\r\n"
                      "Host: example.com\r\n"
                      "Accept:   application/json  \r\n"
                      "X-Empty:\r\n"
                      "\r\n";
    struct outcome o;
    check_splits(raw, strlen(raw), NULL, &o);
    assert_int_equal(o.rc, HTTP_PARSE_DONE);
    assert_string_equal(o.method, "GET");
    assert_int_equal(o.method_id, HTTP_METHOD_GET);
    assert_int_equal(o.target_off, 4);
    assert_int_equal(o.path_len, strlen("/tenant/tenants/t1/trusted-certificates"));
    assert_true(o.has_query);
    assert_int_equal(o.query_len, strlen("pageSize=2&a=%20b"));
    assert_memory_equal(raw + o.query_off, "pageSize=2&a=%20b", o.query_len);
    assert_int_equal(o.minor, 1);
    assert_int_equal(o.nheaders, 3);
    assert_memory_equal(raw + o.hname_off[1], "Accept", 6);
    assert_int_equal(o.hval_len[1], strlen("application/json"));
    assert_memory_equal(raw + o.hval_off[1], "application/json", o.hval_len[1]);
    assert_int_equal(o.hval_len[2], 0);
    assert_true(o.keep_alive);
    assert_false(o.chunked);
    assert_int_equal(o.content_length, -1);
    assert_int_equal(o.body_len, 0);
    assert_int_equal(o.consumed, strlen(raw));
    assert_int_equal(o.head_len, strlen(raw));
}

static void header_lookup(void **state)
{
    const char *raw = "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nx-a: 2\r\nX-B: 3\r\n\r\n";
    struct http_parser p;
    struct http_request req;
    assert_int_equal(http_parser_init(&p, NULL), 0);
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)raw, strlen(raw), &req),
                     HTTP_PARSE_DONE);
    assert_false(req.has_query);
    assert_int_equal(req.query.len, 0);
    size_t idx = 0;
    const struct http_span *v = http_request_header(&req, "X-a", &idx);
    assert_non_null(v);
    assert_true(http_span_eq(*v, "1"));
    v = http_request_header(&req, "X-a", &idx);
    assert_non_null(v);
    assert_true(http_span_eq(*v, "2"));
    assert_null(http_request_header(&req, "X-a", &idx));
    struct http_span s;
    assert_int_equal(http_request_header_value(&req, "x-b", &s), 0);
    assert_true(http_span_eq(s, "3"));
    assert_int_equal(http_request_header_value(&req, "x-a", &s), CG_EPARSE);
    assert_int_equal(http_request_header_value(&req, "x-c", &s), -ENOENT);
    http_parser_cleanup(&p);
}

static void content_length_body(void **state)
{
    const char *raw = "POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world";
    struct outcome o;
    check_splits(raw, strlen(raw), NULL, &o);
    assert_int_equal(o.rc, HTTP_PARSE_DONE);
    assert_int_equal(o.method_id, HTTP_METHOD_POST);
    assert_int_equal(o.content_length, 11);
    assert_int_equal(o.body_len, 11);
    assert_memory_equal(o.body, "hello world", 11);
    assert_int_equal(o.consumed, strlen(raw));

    /* Identical duplicates, as a list or as separate fields, are one value. */
    expect("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc", NULL, HTTP_PARSE_DONE,
           0);
    expect("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-length: 3\r\n\r\nabc", NULL,
           HTTP_PARSE_DONE, 0);
    expect("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", NULL, HTTP_PARSE_DONE, 0);
    /* Body incomplete: the head is reported. */
    expect("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nabc", NULL, HTTP_PARSE_HEAD, 0);
}

static void chunked_body(void **state)
{
    const char *raw = "POST /bulk HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5;name=value\r\nhello\r\n"
                      "1\r\n \r\n"
                      "A \t; ext\r\n0123456789\r\n"
                      "000\r\n"
                      "Trailer-A: x\r\nTrailer-B:\r\n\r\n";
    struct outcome o;
    check_splits(raw, strlen(raw), NULL, &o);
    assert_int_equal(o.rc, HTTP_PARSE_DONE);
    assert_true(o.chunked);
    assert_int_equal(o.content_length, -1);
    assert_int_equal(o.body_len, 16);
    assert_memory_equal(o.body, "hello 0123456789", 16);
    assert_int_equal(o.consumed, strlen(raw));

    /* Transfer-Encoding is case-insensitive and may come as a list with empty elements. */
    expect("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: , CHUNKED\r\n\r\n0\r\n\r\n", NULL,
           HTTP_PARSE_DONE, 0);
    /* Chunked with an empty body, then a pipelined byte that is not part of it. */
    struct outcome p;
    const char *two = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG";
    check_splits(two, strlen(two), NULL, &p);
    assert_int_equal(p.rc, HTTP_PARSE_DONE);
    assert_int_equal(p.consumed, strlen(two) - 1);
    assert_int_equal(p.body_len, 0);
}

static void pipelining(void **state)
{
    const char *raw = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                      "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
                      "PUT /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "2\r\nok\r\n0\r\n\r\n"
                      "DELETE /d HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    const char *paths[] = {"/a", "/b", "/c", "/d"};
    const char *bodies[] = {"", "hi", "ok", ""};
    struct http_parser p;
    struct http_request req;
    assert_int_equal(http_parser_init(&p, NULL), 0);
    size_t off = 0, len = strlen(raw);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(http_parser_feed(&p, (const uint8_t *)raw + off, len - off, &req),
                         HTTP_PARSE_DONE);
        assert_true(http_span_eq(req.path, paths[i]));
        assert_int_equal(req.body_len, strlen(bodies[i]));
        assert_memory_equal(req.body ? (const char *)req.body : "", bodies[i], req.body_len);
        assert_int_equal(req.keep_alive, i < 3);
        off += req.consumed;
        http_parser_reset(&p);
    }
    assert_int_equal(off, len);
    /* Nothing left: need more. */
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)raw + off, 0, &req), HTTP_PARSE_MORE);
    http_parser_cleanup(&p);
}

static void leading_empty_lines(void **state)
{
    struct outcome o;
    const char *raw = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    check_splits(raw, strlen(raw), NULL, &o);
    assert_int_equal(o.rc, HTTP_PARSE_DONE);
    assert_int_equal(o.target_off, 8);
    assert_int_equal(o.consumed, strlen(raw));
    assert_int_equal(o.path_len, 1);
}

static void keep_alive_rules(void **state)
{
    struct {
        const char *raw;
        bool ka;
    } v[] = {
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: h\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct outcome o;
        check_splits(v[i].raw, strlen(v[i].raw), NULL, &o);
        assert_int_equal(o.rc, HTTP_PARSE_DONE);
        if (o.keep_alive != v[i].ka) {
            fail_msg("%s: keep_alive %d", v[i].raw, o.keep_alive);
        }
    }
}

static void versions(void **state)
{
    struct outcome o;
    const char *raw = "GET / HTTP/1.0\r\n\r\n";
    check_splits(raw, strlen(raw), NULL, &o);
    assert_int_equal(o.minor, 0);
    raw = "GET / HTTP/1.7\r\nHost: h\r\n\r\n"; /* a later 1.x minor is 1.1 */
    check_splits(raw, strlen(raw), NULL, &o);
    assert_int_equal(o.rc, HTTP_PARSE_DONE);
    assert_int_equal(o.minor, 1);
    expect("GET / HTTP/2.0\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 505);
    expect("GET / HTTP/0.9\r\n\r\n", NULL, CG_EPARSE, 505);
    expect("GET / HTTP/1.10\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / http/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET /\r\n\r\n", NULL, CG_EPARSE, 400); /* HTTP/0.9 style */
    expect("GET / HTTP/1.1\n", NULL, CG_EPARSE, 400);
}

static void expect_continue(void **state)
{
    struct http_parser p;
    struct http_request req;
    const char *raw = "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
                      "Content-Length: 5\r\n\r\nabcde";
    size_t head = strlen(raw) - 5;
    assert_int_equal(http_parser_init(&p, NULL), 0);
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)raw, head - 1, &req), HTTP_PARSE_MORE);
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)raw, head, &req), HTTP_PARSE_HEAD);
    assert_true(req.expect_continue);
    assert_null(req.body);
    assert_int_equal(req.head_len, head);
    assert_int_equal(req.content_length, 5);
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)raw, head + 4, &req), HTTP_PARSE_HEAD);
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)raw, head + 5, &req), HTTP_PARSE_DONE);
    assert_memory_equal(req.body, "abcde", 5);
    http_parser_cleanup(&p);

    /* HTTP/1.0 must ignore the expectation; other expectations are not flagged. */
    struct outcome o;
    raw = "PUT /f HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx";
    check_splits(raw, strlen(raw), NULL, &o);
    assert_int_equal(o.rc, HTTP_PARSE_DONE);
    assert_false(o.expect_continue);
    raw = "PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n";
    check_splits(raw, strlen(raw), NULL, &o);
    assert_false(o.expect_continue);
}

static void request_line_errors(void **state)
{
    expect("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET http://example.com/ HTTP/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET /a%2 HTTP/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET /a?x=%4 HTTP/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET /a%2f%C3%A9 HTTP/1.1\r\nHost: h\r\n\r\n", NULL, HTTP_PARSE_DONE, 0);
    expect("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", NULL, CG_EPARSE, 400);
    /* An unknown method is still a request: the router answers it. */
    struct outcome o;
    const char *raw = "BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n";
    check_splits(raw, strlen(raw), NULL, &o);
    assert_int_equal(o.rc, HTTP_PARSE_DONE);
    assert_int_equal(o.method_id, HTTP_METHOD_OTHER);
    /* Methods are case-sensitive. */
    raw = "get / HTTP/1.1\r\nHost: h\r\n\r\n";
    check_splits(raw, strlen(raw), NULL, &o);
    assert_int_equal(o.method_id, HTTP_METHOD_OTHER);
    /* 501 for an absurdly long method token. */
    char m[128];
    snprintf(m, sizeof(m), "%.*s / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_MAX_METHOD + 1,
             "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ");
    expect(m, NULL, CG_ELIMIT, 501);
    snprintf(m, sizeof(m), "%.*s / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_MAX_METHOD,
             "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMNOPQRSTUVWXYZ");
    expect(m, NULL, HTTP_PARSE_DONE, 0);
}

static void header_errors(void **state)
{
    /* obs-fold, whitespace before the colon or the first field, bare CR/LF, controls. */
    expect("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n 2\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\t2\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.1\r\n Host: h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.1\r\nHost : h\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.1\r\nHost: h\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.1\r\nHost: h\r\n\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.1\r\nHost: h\r\n: empty-name\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.1\r\nHost: h\r\nNo-Colon\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.1\r\nHost: h\r\nX(y): 1\r\n\r\n", NULL, CG_EPARSE, 400);
    /* NUL inside a value (expect() uses strlen, so build it by hand). */
    const char raw[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";
    struct outcome o;
    check_splits(raw, sizeof(raw) - 1, NULL, &o);
    assert_int_equal(o.rc, CG_EPARSE);
    assert_int_equal(o.status, 400);
    /* obs-text and tabs inside a value are fine. */
    expect("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb \xe9\r\n\r\n", NULL, HTTP_PARSE_DONE, 0);
    /* Host: required once in 1.1, at most once in 1.0. */
    expect("GET / HTTP/1.1\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("GET / HTTP/1.1\r\nHost:\r\n\r\n", NULL, HTTP_PARSE_DONE, 0);
}

static void smuggling(void **state)
{
    /* Both framings: refused whatever the order. */
    expect("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
           "0\r\n\r\n",
           NULL, CG_EPARSE, 400);
    expect("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
           "0\r\n\r\n",
           NULL, CG_EPARSE, 400);
    /* Duplicate Content-Length that differ, lists that differ, malformed values. */
    expect("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", NULL,
           CG_EPARSE, 400);
    expect("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\nabcd", NULL, CG_EPARSE, 400);
    expect("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc", NULL, CG_EPARSE, 400);
    expect("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x3\r\n\r\nabc", NULL, CG_EPARSE, 400);
    expect("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3 3\r\n\r\nabc", NULL, CG_EPARSE, 400);
    expect("POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: ,\r\n\r\n", NULL, CG_EPARSE, 400);
    /* Overflowing and huge Content-Length: too large, never wrapped to a small value. */
    expect("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551617\r\n\r\n", NULL,
           CG_ELIMIT, 413);
    expect("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999999\r\n\r\n", NULL,
           CG_ELIMIT, 413);
    /* Transfer-Encoding variants. */
    expect("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", NULL,
           CG_EPARSE, 501);
    expect("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", NULL,
           CG_EPARSE, 400);
    expect("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
           "Transfer-Encoding: chunked\r\n\r\n",
           NULL, CG_EPARSE, 400);
    expect("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n", NULL, CG_EPARSE,
           400);
    expect("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n", NULL, CG_EPARSE, 400);
    expect("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", NULL, CG_EPARSE, 400);
}

static const char *chunked_head =
    "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";

static void expect_chunked(const char *chunks, const struct http_limits *lim, int rc, int status)
{
    char raw[2048];
    snprintf(raw, sizeof(raw), "%s%s", chunked_head, chunks);
    expect(raw, lim, rc, status);
}

static void bad_chunks(void **state)
{
    expect_chunked("-1\r\nx\r\n0\r\n\r\n", NULL, CG_EPARSE, 400);
    expect_chunked("0x5\r\nhello\r\n0\r\n\r\n", NULL, CG_EPARSE, 400);
    expect_chunked("zz\r\n", NULL, CG_EPARSE, 400);
    expect_chunked("\r\n", NULL, CG_EPARSE, 400);
    expect_chunked(" 5\r\nhello\r\n0\r\n\r\n", NULL, CG_EPARSE, 400);
    expect_chunked("5 \r\nhello\r\n0\r\n\r\n", NULL, CG_EPARSE, 400); /* BWS only before ';' */
    expect_chunked("5\nhello\r\n0\r\n\r\n", NULL, CG_EPARSE, 400);
    expect_chunked("5\r\nhelloX\r\n0\r\n\r\n", NULL, CG_EPARSE, 400);
    expect_chunked("5\r\nhello\n0\r\n\r\n", NULL, CG_EPARSE, 400);
    expect_chunked("5\r\nhel\r\n", NULL, HTTP_PARSE_HEAD, 0);
    expect_chunked("5;a=\x01\r\nhello\r\n0\r\n\r\n", NULL, CG_EPARSE, 400);
    expect_chunked("0\r\nX: y\n\r\n", NULL, CG_EPARSE, 400);
    expect_chunked("0\r\n y\r\n\r\n", NULL, CG_EPARSE, 400);
    expect_chunked("0\r\nNoColon\r\n\r\n", NULL, CG_EPARSE, 400);
    expect_chunked("0\r\n\r\r", NULL, CG_EPARSE, 400);
    /* Sizes that overflow 64 bits or exceed the limit: 413 at once, nothing wraps. */
    expect_chunked("ffffffffffffffffffff\r\n", NULL, CG_ELIMIT, 413);
    expect_chunked("10000000000000001\r\nx\r\n", NULL, CG_ELIMIT, 413);
    struct http_limits lim = *test_limits();
    expect_chunked("400\r\n", &lim, HTTP_PARSE_HEAD, 0); /* exactly max_body (1024) */
    expect_chunked("401\r\n", &lim, CG_ELIMIT, 413);
    expect_chunked("200\r\n", &lim, HTTP_PARSE_HEAD, 0);
    /* Many leading zeros: fine up to the chunk-line limit. */
    char zeros[600];
    memset(zeros, '0', 300);
    snprintf(zeros + 300, sizeof(zeros) - 300, "1\r\nx\r\n0\r\n\r\n");
    expect_chunked(zeros, NULL, CG_ELIMIT, 400);
    snprintf(zeros + 100, sizeof(zeros) - 100, "1\r\nx\r\n0\r\n\r\n");
    expect_chunked(zeros, NULL, HTTP_PARSE_DONE, 0);
}

static void limits(void **state)
{
    const struct http_limits *lim = test_limits();
    char raw[4096];
    char uri[128];

    /* 414: request-target longer than max_uri (64), even before the line is complete. */
    memset(uri, 'a', 64);
    uri[0] = '/';
    uri[64] = 0;
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", uri);
    expect(raw, lim, HTTP_PARSE_DONE, 0);
    uri[64] = 'a';
    uri[65] = 0;
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", uri);
    expect(raw, lim, CG_ELIMIT, 414);
    snprintf(raw, sizeof(raw), "GET %s", uri);
    expect(raw, lim, CG_ELIMIT, 414);

    /* 431: more than max_headers (8) fields. */
    size_t o = (size_t)snprintf(raw, sizeof(raw), "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < 7; i++) {
        o += (size_t)snprintf(raw + o, sizeof(raw) - o, "X-%d: v\r\n", i);
    }
    snprintf(raw + o, sizeof(raw) - o, "\r\n");
    expect(raw, lim, HTTP_PARSE_DONE, 0);
    snprintf(raw + o, sizeof(raw) - o, "X-8: v\r\n\r\n");
    expect(raw, lim, CG_ELIMIT, 431);

    /* 431: header section over max_head (512) bytes, exactly at the boundary. */
    const char *pre = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
    size_t fill = 512 - strlen(pre) - 4;
    o = (size_t)snprintf(raw, sizeof(raw), "%s", pre);
    memset(raw + o, 'v', fill);
    strcpy(raw + o + fill, "\r\n\r\n");
    assert_int_equal(strlen(raw), 512);
    expect(raw, lim, HTTP_PARSE_DONE, 0);
    memset(raw + o, 'v', fill + 1);
    strcpy(raw + o + fill + 1, "\r\n\r\n");
    expect(raw, lim, CG_ELIMIT, 431);
    memset(raw + o, 'v', fill + 10);
    raw[o + fill + 10] = 0; /* still incomplete, but already over */
    expect(raw, lim, CG_ELIMIT, 431);

    /* 413: Content-Length over max_body (1024), decided before the body arrives. */
    expect("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1025\r\n\r\n", lim, CG_ELIMIT, 413);
    expect("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1024\r\n\r\n", lim, HTTP_PARSE_HEAD, 0);

    /* 413: a chunked body that grows over the limit across chunks. */
    o = (size_t)snprintf(raw, sizeof(raw), "%s", chunked_head);
    o += (size_t)snprintf(raw + o, sizeof(raw) - o, "200\r\n");
    memset(raw + o, 'x', 0x200);
    o += 0x200;
    o += (size_t)snprintf(raw + o, sizeof(raw) - o, "\r\n201\r\n");
    expect(raw, lim, CG_ELIMIT, 413);

    /* Limits out of range are refused at init. */
    struct http_parser p;
    struct http_limits bad = {.max_body = HTTP_MAX_BODY_LIMIT + 1};
    assert_int_equal(http_parser_init(&p, &bad), -EINVAL);
    bad = (struct http_limits){.max_uri = 4};
    assert_int_equal(http_parser_init(&p, &bad), -EINVAL);
}

static void errors_are_sticky(void **state)
{
    struct http_parser p;
    struct http_request req;
    const char *raw = "GET / HTTP/2.0\r\n";
    assert_int_equal(http_parser_init(&p, NULL), 0);
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)raw, strlen(raw), &req), CG_EPARSE);
    assert_int_equal(http_parser_status(&p), 505);
    assert_true(strlen(http_parser_error(&p)) > 0);
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)raw, strlen(raw), &req), CG_EPARSE);
    assert_int_equal(http_parser_status(&p), 505);
    http_parser_reset(&p);
    assert_int_equal(http_parser_status(&p), 0);
    raw = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)raw, strlen(raw), &req),
                     HTTP_PARSE_DONE);
    /* Input that shrank between calls is a caller bug, reported as an error, not a crash. */
    assert_int_equal(http_parser_feed(&p, (const uint8_t *)raw, 3, &req), CG_EINTERNAL);
    http_parser_cleanup(&p);
}

static void methods(void **state)
{
    assert_int_equal(http_method_parse("DELETE", 6), HTTP_METHOD_DELETE);
    assert_int_equal(http_method_parse("OPTIONS", 7), HTTP_METHOD_OPTIONS);
    assert_int_equal(http_method_parse("PATCH", 5), HTTP_METHOD_PATCH);
    assert_int_equal(http_method_parse("HEAD", 4), HTTP_METHOD_HEAD);
    assert_int_equal(http_method_parse("HEA", 3), HTTP_METHOD_OTHER);
    assert_int_equal(http_method_parse("Get", 3), HTTP_METHOD_OTHER);
    assert_string_equal(http_method_name(HTTP_METHOD_PUT), "PUT");
    assert_null(http_method_name(HTTP_METHOD_OTHER));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_get),          cmocka_unit_test(header_lookup),
        cmocka_unit_test(content_length_body), cmocka_unit_test(chunked_body),
        cmocka_unit_test(pipelining),          cmocka_unit_test(leading_empty_lines),
        cmocka_unit_test(keep_alive_rules),    cmocka_unit_test(versions),
        cmocka_unit_test(expect_continue),     cmocka_unit_test(request_line_errors),
        cmocka_unit_test(header_errors),       cmocka_unit_test(smuggling),
        cmocka_unit_test(bad_chunks),          cmocka_unit_test(limits),
        cmocka_unit_test(errors_are_sticky),   cmocka_unit_test(methods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
