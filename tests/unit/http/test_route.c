#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "http/route.h"

#include <errno.h>
#include <string.h>

static int parse(const char *s, struct http_path *p)
{
    return http_path_parse(p, s, strlen(s));
}

static void path_segments(void **state)
{
    struct http_path p;
    assert_int_equal(parse("/tenant/tenants/t1/trusted-certificates", &p), 0);
    assert_int_equal(p.nsegs, 4);
    assert_string_equal(p.seg[0], "tenant");
    assert_string_equal(p.seg[2], "t1");
    assert_string_equal(p.seg[3], "trusted-certificates");
    assert_int_equal(p.seg_len[3], strlen("trusted-certificates"));
    http_path_cleanup(&p);

    assert_int_equal(parse("/", &p), 0);
    assert_int_equal(p.nsegs, 0);
    http_path_cleanup(&p);

    /* One trailing slash is ignored; inner empty segments are kept. */
    assert_int_equal(parse("/a/b/", &p), 0);
    assert_int_equal(p.nsegs, 2);
    http_path_cleanup(&p);
    assert_int_equal(parse("/a//b", &p), 0);
    assert_int_equal(p.nsegs, 3);
    assert_string_equal(p.seg[1], "");
    http_path_cleanup(&p);
    assert_int_equal(parse("/a//", &p), 0);
    assert_int_equal(p.nsegs, 2);
    http_path_cleanup(&p);

    /* Percent-decoding per segment; '+' stays a plus in a path. */
    assert_int_equal(parse("/ids/c8y_Serial/a%20b+c%C3%A9", &p), 0);
    assert_int_equal(p.nsegs, 3);
    assert_string_equal(p.seg[2], "a b+c\xc3\xa9");
    http_path_cleanup(&p);
    assert_int_equal(parse("/%2e%2e.x/.well-known", &p), 0);
    assert_string_equal(p.seg[0], "...x");
    assert_string_equal(p.seg[1], ".well-known");
    http_path_cleanup(&p);
}

static void path_refusals(void **state)
{
    struct http_path p;
    const char *bad[] = {
        "",     "a/b",        "/a%2Fb", "/a%2fb", "/a%00b",  "/a%zz",     "/a%2",     "/%ff",
        "/%C3", "/%ED%A0%80", "/.",     "/..",    "/a/../b", "/a/%2e%2E", "/a/%2e/b", "/a/./b",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&p, 0x5a, sizeof(p));
        if (parse(bad[i], &p) != CG_EPARSE) {
            fail_msg("path '%s' accepted", bad[i]);
        }
    }
    char many[256] = "";
    for (int i = 0; i <= HTTP_PATH_MAX_SEGMENTS; i++) {
        strcat(many, "/a");
    }
    assert_int_equal(parse(many, &p), CG_ELIMIT);
    many[strlen(many) - 2] = 0;
    assert_int_equal(parse(many, &p), 0);
    assert_int_equal(p.nsegs, HTTP_PATH_MAX_SEGMENTS);
    http_path_cleanup(&p);
}

enum {
    R_LIST = 1,
    R_CREATE,
    R_BULK,
    R_GET,
    R_PUT,
    R_DELETE,
    R_POP,
    R_ROOT,
    R_HEAD_ONLY,
};

static const struct http_route table[] = {
    {HTTP_METHOD_GET, "/tenant/tenants/{tenantId}/trusted-certificates", R_LIST},
    {HTTP_METHOD_POST, "/tenant/tenants/{tenantId}/trusted-certificates", R_CREATE},
    {HTTP_METHOD_GET, "/tenant/tenants/{tenantId}/trusted-certificates/{fingerprint}", R_GET},
    {HTTP_METHOD_PUT, "/tenant/tenants/{tenantId}/trusted-certificates/{fingerprint}", R_PUT},
    {HTTP_METHOD_DELETE, "/tenant/tenants/{tenantId}/trusted-certificates/{fingerprint}", R_DELETE},
    {HTTP_METHOD_POST, "/tenant/tenants/{tenantId}/trusted-certificates/bulk", R_BULK},
    {HTTP_METHOD_POST,
     "/tenant/tenants/{tenantId}/trusted-certificates-pop/{fingerprint}/verification-code", R_POP},
    {HTTP_METHOD_GET, "/", R_ROOT},
    {HTTP_METHOD_HEAD, "/tenant/tenants/{tenantId}/trusted-certificates", R_HEAD_ONLY},
};

static int match(const struct http_router *r, enum http_method m, const char *path,
                 struct http_match *out, struct http_path *p)
{
    assert_int_equal(parse(path, p), 0);
    return http_router_match(r, m, p, out);
}

static void router(void **state)
{
    struct http_router *r = NULL;
    struct http_match m;
    struct http_path p;
    assert_int_equal(http_router_new(table, sizeof(table) / sizeof(table[0]), &r), 0);

    assert_int_equal(match(r, HTTP_METHOD_GET,
                           "/tenant/tenants/t07007007/trusted-certificates/"
                           "AB%20cd",
                           &m, &p),
                     0);
    assert_int_equal(m.id, R_GET);
    assert_int_equal(m.nparams, 2);
    assert_string_equal(http_match_param(&m, "tenantId"), "t07007007");
    assert_string_equal(http_match_param(&m, "fingerprint"), "AB cd");
    assert_int_equal(m.params[1].len, 5);
    assert_null(http_match_param(&m, "nope"));
    http_path_cleanup(&p);

    /* A literal beats a parameter for the same method; other methods still see the param. */
    assert_int_equal(
        match(r, HTTP_METHOD_POST, "/tenant/tenants/t1/trusted-certificates/bulk", &m, &p), 0);
    assert_int_equal(m.id, R_BULK);
    assert_int_equal(m.nparams, 1);
    http_path_cleanup(&p);
    assert_int_equal(
        match(r, HTTP_METHOD_GET, "/tenant/tenants/t1/trusted-certificates/bulk", &m, &p), 0);
    assert_int_equal(m.id, R_GET);
    assert_string_equal(http_match_param(&m, "fingerprint"), "bulk");
    http_path_cleanup(&p);

    /* HEAD uses GET unless there is an explicit HEAD route. */
    assert_int_equal(
        match(r, HTTP_METHOD_HEAD, "/tenant/tenants/t1/trusted-certificates/ab", &m, &p), 0);
    assert_int_equal(m.id, R_GET);
    http_path_cleanup(&p);
    assert_int_equal(match(r, HTTP_METHOD_HEAD, "/tenant/tenants/t1/trusted-certificates", &m, &p),
                     0);
    assert_int_equal(m.id, R_HEAD_ONLY);
    http_path_cleanup(&p);
    assert_int_equal(match(r, HTTP_METHOD_GET, "/", &m, &p), 0);
    assert_int_equal(m.id, R_ROOT);
    assert_int_equal(m.nparams, 0);
    http_path_cleanup(&p);
    /* The trailing slash is ignored. */
    assert_int_equal(match(r, HTTP_METHOD_GET, "/tenant/tenants/t1/trusted-certificates/", &m, &p),
                     0);
    assert_int_equal(m.id, R_LIST);
    http_path_cleanup(&p);

    /* 405 with the Allow list in a fixed order. */
    assert_int_equal(
        match(r, HTTP_METHOD_POST, "/tenant/tenants/t1/trusted-certificates/ab", &m, &p), -ENOTSUP);
    assert_int_equal(m.id, -1);
    assert_string_equal(m.allow, "GET, HEAD, PUT, DELETE");
    http_path_cleanup(&p);
    assert_int_equal(
        match(r, HTTP_METHOD_DELETE, "/tenant/tenants/t1/trusted-certificates", &m, &p), -ENOTSUP);
    assert_string_equal(m.allow, "GET, HEAD, POST");
    http_path_cleanup(&p);
    assert_int_equal(match(r, HTTP_METHOD_OTHER, "/", &m, &p), -ENOTSUP);
    assert_string_equal(m.allow, "GET, HEAD");
    http_path_cleanup(&p);

    /* 404: no pattern fits (segment count, literal, empty parameter). */
    const char *nf[] = {
        "/tenant",
        "/tenant/tenants/t1",
        "/tenant/tenants/t1/trusted-certificates/ab/cd",
        "/tenant/tenant/t1/trusted-certificates",
        "/tenant/tenants//trusted-certificates",
        "/Tenant/tenants/t1/trusted-certificates",
    };
    for (size_t i = 0; i < sizeof(nf) / sizeof(nf[0]); i++) {
        assert_int_equal(match(r, HTTP_METHOD_GET, nf[i], &m, &p), -ENOENT);
        http_path_cleanup(&p);
    }
    http_router_free(r);
    http_router_free(NULL);
}

static void router_table_errors(void **state)
{
    struct http_router *r = NULL;
    const struct http_route bad[][1] = {
        {{HTTP_METHOD_GET, "a/b", 1}},      {{HTTP_METHOD_GET, "/a/{}", 1}},
        {{HTTP_METHOD_GET, "/a/{x", 1}},    {{HTTP_METHOD_GET, "/a/x}", 1}},
        {{HTTP_METHOD_GET, "/a//b", 1}},    {{HTTP_METHOD_GET, "/a/", 1}},
        {{HTTP_METHOD_GET, "/a/{x-y}", 1}}, {{HTTP_METHOD_OTHER, "/a", 1}},
        {{HTTP_METHOD_GET, NULL, 1}},       {{HTTP_METHOD_GET, "/a/..", 1}},
        {{HTTP_METHOD_GET, "/a{x}", 1}},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(http_router_new(bad[i], 1, &r), -EINVAL);
    }
    const struct http_route dup[] = {
        {HTTP_METHOD_GET, "/a/{x}", 1},
        {HTTP_METHOD_GET, "/a/{y}", 2},
    };
    assert_int_equal(http_router_new(dup, 2, &r), -EEXIST);
    const struct http_route ok[] = {
        {HTTP_METHOD_GET, "/a/{x}", 1},
        {HTTP_METHOD_PUT, "/a/{y}", 2},
        {HTTP_METHOD_GET, "/a/b", 3},
    };
    assert_int_equal(http_router_new(ok, 3, &r), 0);
    http_router_free(r);
    const struct http_route nine[] = {{HTTP_METHOD_GET, "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", 1}};
    assert_int_equal(http_router_new(nine, 1, &r), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(path_segments),
        cmocka_unit_test(path_refusals),
        cmocka_unit_test(router),
        cmocka_unit_test(router_table_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
