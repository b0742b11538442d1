#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/str.h"
#include "http/authz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int basic(const char *v, struct http_basic *b)
{
    return http_basic_parse(v, strlen(v), b);
}

/* "Basic " + base64(plain) */
static char *basic_of(const char *plain, size_t n)
{
    char *out = malloc(6 + b64_encoded_len(n) + 1);
    memcpy(out, "Basic ", 6);
    b64_encode((const uint8_t *)plain, n, out + 6, false);
    return out;
}

static bool all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        if (b[i] != 0) {
            return false;
        }
    }
    return true;
}

static void basic_forms(void **state)
{
    struct http_basic b;
    /* base64("t07007007/admin:s3cr:et") */
    assert_int_equal(basic("Basic dDA3MDA3MDA3L2FkbWluOnMzY3I6ZXQ=", &b), 0);
    assert_string_equal(b.tenant, "t07007007");
    assert_int_equal(b.tenant_len, 9);
    assert_string_equal(b.user, "admin");
    assert_int_equal(b.user_len, 5);
    assert_string_equal(b.password, "s3cr:et");
    assert_int_equal(b.password_len, 7);
    http_basic_clear(&b);
    assert_true(all_zero(&b, sizeof(b)));

    /* No tenant prefix; scheme case-insensitive; several spaces. */
    assert_int_equal(basic("bAsIc   YWxhZGRpbjpvcGVuIHNlc2FtZQ==", &b), 0);
    assert_null(b.tenant);
    assert_string_equal(b.user, "aladdin");
    assert_string_equal(b.password, "open sesame");
    http_basic_clear(&b);

    /* Empty password is a parse success (the check fails later); slashes after the first
     * belong to the user. */
    char *v = basic_of("mgmt/dev/ice_1:", 15);
    assert_int_equal(basic(v, &b), 0);
    assert_string_equal(b.tenant, "mgmt");
    assert_string_equal(b.user, "dev/ice_1");
    assert_string_equal(b.password, "");
    assert_int_equal(b.password_len, 0);
    http_basic_clear(&b);
    free(v);

    /* UTF-8 user, binary-ish password. */
    v = basic_of("j\xc3\xbcrgen:p\xff\x01w", 12);
    assert_int_equal(basic(v, &b), 0);
    assert_string_equal(b.user, "j\xc3\xbcrgen");
    assert_int_equal(b.password_len, 4);
    http_basic_clear(&b);
    free(v);
}

static void basic_refusals(void **state)
{
    struct http_basic b;
    const char *bad[] = {
        "Basic",
        "Basic ",
        "BasicdXNlcjpwYXNz",
        "Bearer dXNlcjpwYXNz",
        "Basic dXNlcjpwYXNz ",    /* trailing space */
        "Basic dXNlc jpwYXNz",    /* space inside */
        "Basic dXNlcjpwYXNz\t",   /* tab */
        "Basic dXNlcjpwYXM",      /* missing padding */
        "Basic dXNlcjpwYXM=x",    /* data after padding */
        "Basic dXNlcjpwYX==",     /* stray bits */
        "Basic dXNlcjpwYXNz====", /* too much padding */
        "Basic dXNl-jpwYXNz",     /* URL alphabet */
        "Basic dXNlcnBhc3M=",     /* "userpass": no colon */
        "Basic OnBhc3M=",         /* ":pass": empty user */
        "Basic L3VzZXI6cGFzcw==", /* "/user:pass": empty tenant */
        "Basic dDEvOnBhc3M=",     /* "t1/:pass": empty user */
        "Basic dXMBZXI6cGFzcw==", /* control byte in user */
        "Basic dXNlcjpwYQBzcw==", /* NUL in password */
        "Basic /3VzZXI6cGFzcw==", /* invalid UTF-8 user */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&b, 0x5a, sizeof(b));
        if (basic(bad[i], &b) != CG_EPARSE) {
            fail_msg("accepted '%s'", bad[i]);
        }
        assert_true(all_zero(&b, sizeof(b))); /* nothing left behind */
    }
}

static void basic_limits(void **state)
{
    struct http_basic b;
    size_t n = HTTP_BASIC_USER_MAX + 1 + HTTP_BASIC_PASSWORD_MAX;
    char *plain = malloc(n + 2);
    memset(plain, 'u', HTTP_BASIC_USER_MAX);
    plain[HTTP_BASIC_USER_MAX] = ':';
    memset(plain + HTTP_BASIC_USER_MAX + 1, 'p', HTTP_BASIC_PASSWORD_MAX);
    char *v = basic_of(plain, n);
    assert_int_equal(basic(v, &b), 0);
    assert_int_equal(b.user_len, HTTP_BASIC_USER_MAX);
    assert_int_equal(b.password_len, HTTP_BASIC_PASSWORD_MAX);
    http_basic_clear(&b);
    free(v);

    /* One more byte of password, or of user name: refused as too long. */
    memset(plain + HTTP_BASIC_USER_MAX + 1, 'p', HTTP_BASIC_PASSWORD_MAX + 1);
    v = basic_of(plain, n + 1);
    assert_int_equal(basic(v, &b), CG_ELIMIT);
    free(v);
    memset(plain, 'u', HTTP_BASIC_USER_MAX + 1);
    plain[HTTP_BASIC_USER_MAX + 1] = ':';
    v = basic_of(plain, HTTP_BASIC_USER_MAX + 2);
    assert_int_equal(basic(v, &b), CG_ELIMIT);
    free(v);
    free(plain);

    /* Far too long input fails before decoding. */
    size_t big = 100000;
    char *huge = malloc(big + 7);
    memcpy(huge, "Basic ", 6);
    memset(huge + 6, 'Q', big);
    huge[6 + big] = 0;
    assert_int_equal(basic(huge, &b), CG_ELIMIT);
    free(huge);
}

static void bearer(void **state)
{
    struct http_span t;
    const char *v = "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_~+/==";
    assert_int_equal(http_bearer_parse(v, strlen(v), &t), 0);
    assert_true(http_span_eq(t, "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_~+/=="));
    v = "bearer  abc";
    assert_int_equal(http_bearer_parse(v, strlen(v), &t), 0);
    assert_true(http_span_eq(t, "abc"));
    const char *bad[] = {"Bearer",      "Bearer ",   "Bearer a b", "Bearer a=b", "Bearer =",
                         "Bearer a\"b", "Basic abc", "Bearerabc",  "Bearer a,b", "Bearer a\t"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (http_bearer_parse(bad[i], strlen(bad[i]), &t) != CG_EPARSE) {
            fail_msg("accepted '%s'", bad[i]);
        }
    }
    char *big = malloc(HTTP_BEARER_MAX + 9);
    memcpy(big, "Bearer ", 7);
    memset(big + 7, 'a', HTTP_BEARER_MAX);
    assert_int_equal(http_bearer_parse(big, 7 + HTTP_BEARER_MAX, &t), 0);
    big[7 + HTTP_BEARER_MAX] = 'a';
    assert_int_equal(http_bearer_parse(big, 8 + HTTP_BEARER_MAX, &t), CG_ELIMIT);
    free(big);
}

static void schemes(void **state)
{
    assert_int_equal(http_auth_scheme("Basic x", 7), HTTP_AUTH_BASIC);
    assert_int_equal(http_auth_scheme("BEARER x", 8), HTTP_AUTH_BEARER);
    assert_int_equal(http_auth_scheme("Digest x", 8), HTTP_AUTH_OTHER);
    assert_int_equal(http_auth_scheme("", 0), HTTP_AUTH_NONE);
    assert_int_equal(http_auth_scheme(" Basic", 6), HTTP_AUTH_NONE);
}

static void cookies(void **state)
{
    struct http_span v;
    const char *h = "XSRF-TOKEN=abc123; authorization=eyJ.a.b;empty=; q=\"quoted v\";"
                    " junk; authorization=second";
    assert_int_equal(http_cookie_get(h, strlen(h), "authorization", &v), 0);
    assert_true(http_span_eq(v, "eyJ.a.b"));
    assert_int_equal(http_cookie_get(h, strlen(h), "XSRF-TOKEN", &v), 0);
    assert_true(http_span_eq(v, "abc123"));
    assert_int_equal(http_cookie_get(h, strlen(h), "empty", &v), 0);
    assert_int_equal(v.len, 0);
    assert_int_equal(http_cookie_get(h, strlen(h), "q", &v), 0);
    assert_true(http_span_eq(v, "quoted v"));
    assert_int_equal(http_cookie_get(h, strlen(h), "xsrf-token", &v), -ENOENT);
    assert_int_equal(http_cookie_get(h, strlen(h), "junk", &v), -ENOENT);
    assert_int_equal(http_cookie_get(h, strlen(h), "author", &v), -ENOENT);
    assert_int_equal(http_cookie_get(h, strlen(h), "", &v), -ENOENT);
    assert_int_equal(http_cookie_get("", 0, "a", &v), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basic_forms),  cmocka_unit_test(basic_refusals),
        cmocka_unit_test(basic_limits), cmocka_unit_test(bearer),
        cmocka_unit_test(schemes),      cmocka_unit_test(cookies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
