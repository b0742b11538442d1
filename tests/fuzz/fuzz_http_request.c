/* The request parser fed in two pieces must agree with the parser fed at once.
 *
 * Input: byte 0 picks the split point (scaled over the rest), byte 1 picks the limits
 * (small ones so 413/414/431 are reachable); the rest is the connection's byte stream.
 * Requests are parsed one after the other (pipelining) until an error or the end. Each
 * piece gets its own heap copy, so a stale pointer into an earlier piece is caught by ASan.
 */
#include "http/request.h"

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

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    CHECK(d != NULL);
    if (n) {
        memcpy(d, p, n);
    }
    return d;
}

static bool span_in(struct http_span s, const uint8_t *base, size_t len)
{
    const char *b = (const char *)base;
    return s.len == 0 || (s.ptr >= b && s.ptr + s.len <= b + len);
}

/* Compare two results (spans by offset and content). */
static void same(int rc1, const struct http_parser *p1, const struct http_request *r1,
                 const uint8_t *b1, int rc2, const struct http_parser *p2,
                 const struct http_request *r2, const uint8_t *b2)
{
    CHECK(rc1 == rc2);
    CHECK(http_parser_status(p1) == http_parser_status(p2));
    CHECK(strcmp(http_parser_error(p1), http_parser_error(p2)) == 0);
    if (rc1 != HTTP_PARSE_DONE && rc1 != HTTP_PARSE_HEAD) {
        return;
    }
#define SAME_SPAN(f)                                                                               \
    CHECK(r1->f.len == r2->f.len &&                                                                \
          (r1->f.len == 0 || (r1->f.ptr - (const char *)b1 == r2->f.ptr - (const char *)b2)))
    SAME_SPAN(method);
    SAME_SPAN(target);
    SAME_SPAN(path);
    SAME_SPAN(query);
    CHECK(r1->method_id == r2->method_id && r1->has_query == r2->has_query);
    CHECK(r1->minor_version == r2->minor_version && r1->nheaders == r2->nheaders);
    for (size_t i = 0; i < r1->nheaders; i++) {
        SAME_SPAN(headers[i].name);
        SAME_SPAN(headers[i].value);
    }
    CHECK(r1->body_len == r2->body_len);
    CHECK(r1->body_len == 0 || memcmp(r1->body, r2->body, r1->body_len) == 0);
    CHECK(r1->content_length == r2->content_length && r1->chunked == r2->chunked);
    CHECK(r1->keep_alive == r2->keep_alive && r1->expect_continue == r2->expect_continue);
    CHECK(r1->head_len == r2->head_len && r1->consumed == r2->consumed);
}

static void invariants(int rc, const struct http_request *r, const uint8_t *b, size_t len,
                       const struct http_limits *lim)
{
    if (rc != HTTP_PARSE_DONE && rc != HTTP_PARSE_HEAD) {
        return;
    }
    CHECK(r->head_len <= len && r->head_len <= lim->max_head);
    CHECK(span_in(r->method, b, len) && span_in(r->target, b, len));
    CHECK(r->target.len >= 1 && r->target.len <= lim->max_uri && r->target.ptr[0] == '/');
    CHECK(r->nheaders <= lim->max_headers);
    for (size_t i = 0; i < r->nheaders; i++) {
        struct http_span n = r->headers[i].name, v = r->headers[i].value;
        CHECK(span_in(n, b, len) && span_in(v, b, len));
        CHECK(http_is_token(n.ptr, n.len));
        CHECK(memchr(v.ptr ? v.ptr : "", '\r', v.len) == NULL);
        CHECK(memchr(v.ptr ? v.ptr : "", '\n', v.len) == NULL);
        CHECK(v.len == 0 || (v.ptr[0] != ' ' && v.ptr[v.len - 1] != ' '));
    }
    CHECK(!(r->chunked && r->content_length >= 0));
    if (rc == HTTP_PARSE_DONE) {
        CHECK(r->consumed <= len && r->consumed >= r->head_len);
        CHECK(r->body_len <= lim->max_body);
        if (r->content_length >= 0) {
            CHECK(r->body_len == (size_t)r->content_length);
            CHECK(r->consumed == r->head_len + r->body_len);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    bool small = data[1] & 1;
    struct http_limits lim = {0};
    if (small) {
        lim =
            (struct http_limits){.max_headers = 8, .max_head = 256, .max_uri = 64, .max_body = 128};
    }
    uint8_t split_byte = data[0];
    data += 2;
    size -= 2;

    struct http_parser a, b;
    struct http_request ra, rb;
    CHECK(http_parser_init(&a, &lim) == 0 && http_parser_init(&b, &lim) == 0);
    struct http_limits eff;
    http_limits_default(&eff);
    if (small) {
        eff = lim;
    }

    size_t off = 0;
    for (int n = 0; n < 64; n++) {
        size_t len = size - off;
        uint8_t *whole = dup_bytes(data + off, len);
        int rca = http_parser_feed(&a, whole, len, &ra);
        invariants(rca, &ra, whole, len, &eff);

        size_t k = len * split_byte / 255;
        uint8_t *first = dup_bytes(data + off, k);
        int rcb = http_parser_feed(&b, first, k, &rb);
        if (rcb >= 0 && rcb != HTTP_PARSE_DONE) {
            uint8_t *second = dup_bytes(data + off, len);
            rcb = http_parser_feed(&b, second, len, &rb);
            same(rca, &a, &ra, whole, rcb, &b, &rb, second);
            free(second);
        } else if (rcb == HTTP_PARSE_DONE) {
            /* The request ended within the first piece: all-at-once must agree. */
            same(rca, &a, &ra, whole, rcb, &b, &rb, first);
        } else {
            /* An error in a prefix is an error of the whole. */
            CHECK(rca == rcb && http_parser_status(&a) == http_parser_status(&b));
        }
        free(first);
        free(whole);
        if (rca != HTTP_PARSE_DONE || ra.consumed == 0) {
            break;
        }
        off += ra.consumed;
        http_parser_reset(&a);
        http_parser_reset(&b);
    }
    http_parser_cleanup(&a);
    http_parser_cleanup(&b);
    return 0;
}
