/* Web UI sessions (server/sessions.h): the table's lifetimes and caps, the CSRF check and the
 * cookie parser. sessions_authenticate needs a registry: tests/integration/test_web_ui.py
 * drives it through the real server. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "server/sessions.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define T0 1700000000000LL

static struct principal user(const char *tenant, const char *name)
{
    struct principal p;
    memset(&p, 0, sizeof(p));
    p.via = PRINCIPAL_BASIC;
    snprintf(p.tenant, sizeof(p.tenant), "%s", tenant);
    snprintf(p.user, sizeof(p.user), "%s", name);
    p.roles = 5;
    return p;
}

static struct sessions *table(int64_t idle, int64_t absolute, size_t max, size_t per_user)
{
    struct session_limits lim = {idle, absolute, max, per_user};
    struct sessions *s = sessions_new(&lim);
    assert_non_null(s);
    return s;
}

static void test_create_and_get(void **state)
{
    (void)state;
    struct sessions *s = sessions_new(NULL);
    assert_non_null(s);
    struct principal p = user("t1", "alice");
    char id[SESSION_TOKEN_LEN + 1], csrf[SESSION_TOKEN_LEN + 1];
    assert_int_equal(sessions_create(s, &p, T0, id, csrf), 0);
    assert_int_equal(strlen(id), SESSION_TOKEN_LEN);
    assert_int_equal(strlen(csrf), SESSION_TOKEN_LEN);
    assert_string_not_equal(id, csrf);
    struct session_view v;
    assert_int_equal(sessions_get(s, id, strlen(id), T0 + 1000, true, &v), 0);
    assert_string_equal(v.who.tenant, "t1");
    assert_string_equal(v.who.user, "alice");
    assert_string_equal(v.csrf, csrf);
    assert_int_equal(v.absolute_expires_ms, T0 + SESSION_ABSOLUTE_MS_DEFAULT);
    assert_int_equal(v.idle_expires_ms, T0 + 1000 + SESSION_IDLE_MS_DEFAULT);
    /* two sessions never share an id */
    char id2[SESSION_TOKEN_LEN + 1], csrf2[SESSION_TOKEN_LEN + 1];
    assert_int_equal(sessions_create(s, &p, T0, id2, csrf2), 0);
    assert_string_not_equal(id, id2);
    assert_string_not_equal(csrf, csrf2);
    assert_int_equal(sessions_count(s), 2);
    sessions_free(s);
}

static void test_unknown_and_malformed_ids(void **state)
{
    (void)state;
    struct sessions *s = sessions_new(NULL);
    struct principal p = user("t1", "alice");
    char id[SESSION_TOKEN_LEN + 1], csrf[SESSION_TOKEN_LEN + 1];
    assert_int_equal(sessions_create(s, &p, T0, id, csrf), 0);
    struct session_view v;
    /* the CSRF token is not a session id */
    assert_int_equal(sessions_get(s, csrf, strlen(csrf), T0, false, &v), -ENOENT);
    /* a prefix, a longer value, a character outside base64url */
    assert_int_equal(sessions_get(s, id, SESSION_TOKEN_LEN - 1, T0, false, &v), -ENOENT);
    char longer[SESSION_TOKEN_LEN + 2];
    snprintf(longer, sizeof(longer), "%sA", id);
    assert_int_equal(sessions_get(s, longer, strlen(longer), T0, false, &v), -ENOENT);
    char bad[SESSION_TOKEN_LEN + 1];
    memcpy(bad, id, sizeof(bad));
    bad[5] = '=';
    assert_int_equal(sessions_get(s, bad, strlen(bad), T0, false, &v), -ENOENT);
    assert_int_equal(sessions_get(s, "", 0, T0, false, &v), -ENOENT);
    sessions_free(s);
}

static void test_idle_expiry_and_touch(void **state)
{
    (void)state;
    struct sessions *s = table(1000, 100000, 10, 10);
    struct principal p = user("t1", "alice");
    char id[SESSION_TOKEN_LEN + 1], csrf[SESSION_TOKEN_LEN + 1];
    assert_int_equal(sessions_create(s, &p, T0, id, csrf), 0);
    struct session_view v;
    /* used at +900 (touch), so still alive at +1800 */
    assert_int_equal(sessions_get(s, id, strlen(id), T0 + 900, true, &v), 0);
    assert_int_equal(sessions_get(s, id, strlen(id), T0 + 1800, false, &v), 0);
    /* a look without touch does not extend it: idle since +900 */
    assert_int_equal(sessions_get(s, id, strlen(id), T0 + 1900, false, &v), -ENOENT);
    /* and the expired session was removed */
    assert_int_equal(sessions_count(s), 0);
    assert_int_equal(sessions_get(s, id, strlen(id), T0 + 1000, false, &v), -ENOENT);
    sessions_free(s);
}

static void test_absolute_expiry(void **state)
{
    (void)state;
    struct sessions *s = table(1000, 2500, 10, 10);
    struct principal p = user("t1", "alice");
    char id[SESSION_TOKEN_LEN + 1], csrf[SESSION_TOKEN_LEN + 1];
    assert_int_equal(sessions_create(s, &p, T0, id, csrf), 0);
    struct session_view v;
    for (int64_t t = T0 + 800; t < T0 + 2500; t += 800) {
        assert_int_equal(sessions_get(s, id, strlen(id), t, true, &v), 0);
        assert_true(v.idle_expires_ms <= T0 + 2500);
    }
    /* used all along, but the absolute lifetime ends it */
    assert_int_equal(sessions_get(s, id, strlen(id), T0 + 2500, true, &v), -ENOENT);
    sessions_free(s);
}

static void test_clock_going_back_ends_the_session(void **state)
{
    (void)state;
    struct sessions *s = sessions_new(NULL);
    struct principal p = user("t1", "alice");
    char id[SESSION_TOKEN_LEN + 1], csrf[SESSION_TOKEN_LEN + 1];
    assert_int_equal(sessions_create(s, &p, T0, id, csrf), 0);
    struct session_view v;
    assert_int_equal(sessions_get(s, id, strlen(id), T0 - 1, false, &v), -ENOENT);
    sessions_free(s);
}

static void test_per_user_cap_ends_least_recently_used(void **state)
{
    (void)state;
    struct sessions *s = table(100000, 1000000, 100, 3);
    struct principal alice = user("t1", "alice");
    struct principal bob = user("t1", "bob");
    char id[4][SESSION_TOKEN_LEN + 1], csrf[SESSION_TOKEN_LEN + 1];
    char bob_id[SESSION_TOKEN_LEN + 1];
    assert_int_equal(sessions_create(s, &bob, T0, bob_id, csrf), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sessions_create(s, &alice, T0 + i, id[i], csrf), 0);
    }
    struct session_view v;
    /* alice's first session is used again, so the second is the least recently used */
    assert_int_equal(sessions_get(s, id[0], SESSION_TOKEN_LEN, T0 + 10, true, &v), 0);
    assert_int_equal(sessions_create(s, &alice, T0 + 20, id[3], csrf), 0);
    assert_int_equal(sessions_get(s, id[1], SESSION_TOKEN_LEN, T0 + 21, false, &v), -ENOENT);
    assert_int_equal(sessions_get(s, id[0], SESSION_TOKEN_LEN, T0 + 21, false, &v), 0);
    assert_int_equal(sessions_get(s, id[2], SESSION_TOKEN_LEN, T0 + 21, false, &v), 0);
    assert_int_equal(sessions_get(s, id[3], SESSION_TOKEN_LEN, T0 + 21, false, &v), 0);
    /* another user is not affected; the same name in another tenant is another user */
    assert_int_equal(sessions_get(s, bob_id, SESSION_TOKEN_LEN, T0 + 21, false, &v), 0);
    struct principal alice2 = user("t2", "alice");
    assert_int_equal(sessions_create(s, &alice2, T0 + 30, id[1], csrf), 0);
    assert_int_equal(sessions_count(s), 5);
    sessions_free(s);
}

static void test_table_cap(void **state)
{
    (void)state;
    struct sessions *s = table(1000, 100000, 3, 10);
    char id[SESSION_TOKEN_LEN + 1], csrf[SESSION_TOKEN_LEN + 1];
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "u%d", i);
        struct principal p = user("t1", name);
        assert_int_equal(sessions_create(s, &p, T0, id, csrf), 0);
    }
    struct principal p = user("t1", "late");
    assert_int_equal(sessions_create(s, &p, T0 + 10, id, csrf), CG_ELIMIT);
    /* once the others have expired there is room again */
    assert_int_equal(sessions_create(s, &p, T0 + 1000, id, csrf), 0);
    assert_int_equal(sessions_count(s), 1);
    sessions_free(s);
}

static void test_remove(void **state)
{
    (void)state;
    struct sessions *s = sessions_new(NULL);
    struct principal alice = user("t1", "alice");
    struct principal bob = user("t1", "bob");
    char a1[SESSION_TOKEN_LEN + 1], a2[SESSION_TOKEN_LEN + 1], b1[SESSION_TOKEN_LEN + 1];
    char csrf[SESSION_TOKEN_LEN + 1];
    assert_int_equal(sessions_create(s, &alice, T0, a1, csrf), 0);
    assert_int_equal(sessions_create(s, &alice, T0, a2, csrf), 0);
    assert_int_equal(sessions_create(s, &bob, T0, b1, csrf), 0);
    assert_int_equal(sessions_remove(s, a1, strlen(a1)), 0);
    assert_int_equal(sessions_remove(s, a1, strlen(a1)), -ENOENT);
    assert_int_equal(sessions_remove_user(s, "t1", "alice"), 1);
    assert_int_equal(sessions_remove_user(s, "t2", "bob"), 0);
    struct session_view v;
    assert_int_equal(sessions_get(s, b1, strlen(b1), T0, false, &v), 0);
    assert_int_equal(sessions_count(s), 1);
    sessions_free(s);
}

static void test_csrf_valid(void **state)
{
    (void)state;
    struct session_view v;
    memset(&v, 0, sizeof(v));
    assert_false(sessions_csrf_valid(&v, "", 0)); /* a session without a token takes none */
    memcpy(v.csrf, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ", SESSION_TOKEN_LEN);
    assert_true(sessions_csrf_valid(&v, v.csrf, SESSION_TOKEN_LEN));
    char other[SESSION_TOKEN_LEN + 1];
    memcpy(other, v.csrf, sizeof(other));
    other[SESSION_TOKEN_LEN - 1] = 'R';
    assert_false(sessions_csrf_valid(&v, other, SESSION_TOKEN_LEN));
    assert_false(sessions_csrf_valid(&v, v.csrf, SESSION_TOKEN_LEN - 1));
    assert_false(sessions_csrf_valid(&v, NULL, 0));
}

/* A request with the given header fields ("Name", "Value" pairs, NULL-terminated). */
static struct http_request request_with(struct http_header *h, size_t cap, const char *const *kv)
{
    struct http_request r;
    memset(&r, 0, sizeof(r));
    size_t n = 0;
    for (; kv[2 * n] != NULL && n < cap; n++) {
        h[n].name.ptr = kv[2 * n];
        h[n].name.len = strlen(kv[2 * n]);
        h[n].value.ptr = kv[2 * n + 1];
        h[n].value.len = strlen(kv[2 * n + 1]);
    }
    r.headers = h;
    r.nheaders = n;
    return r;
}

static void expect_cookie(const char *const *kv, int rc, const char *value)
{
    struct http_header h[8];
    struct http_request r = request_with(h, 8, kv);
    const char *v = NULL;
    size_t len = 0;
    assert_int_equal(session_cookie_find(&r, &v, &len), rc);
    if (rc == 0) {
        assert_int_equal(len, strlen(value));
        assert_memory_equal(v, value, len);
    }
}

static void test_cookie_find(void **state)
{
    (void)state;
    expect_cookie((const char *const[]){"Cookie", "certgate_session=abc", NULL}, 0, "abc");
    expect_cookie((const char *const[]){"cookie", "a=1; certgate_session=xyz; b=2", NULL}, 0,
                  "xyz");
    expect_cookie((const char *const[]){"Cookie", "a=1;certgate_session=xyz ", NULL}, 0, "xyz");
    /* a longer or shorter name is another cookie */
    expect_cookie((const char *const[]){"Cookie", "xcertgate_session=1; certgate_sessions=2", NULL},
                  -ENOENT, NULL);
    expect_cookie((const char *const[]){"Accept", "*/*", NULL}, -ENOENT, NULL);
    /* two values, in one field or in two: ambiguous, refused */
    expect_cookie((const char *const[]){"Cookie", "certgate_session=a; certgate_session=b", NULL},
                  CG_EPARSE, NULL);
    expect_cookie(
        (const char *const[]){"Cookie", "certgate_session=a", "Cookie", "certgate_session=b", NULL},
        CG_EPARSE, NULL);
    /* a second Cookie field without it is fine */
    expect_cookie((const char *const[]){"Cookie", "x=1", "Cookie", "certgate_session=q", NULL}, 0,
                  "q");
}

static void test_is_browser(void **state)
{
    (void)state;
    struct http_header h[4];
    struct http_request r = request_with(h, 4, (const char *const[]){"Accept", "*/*", NULL});
    assert_false(sessions_is_browser(&r));
    r = request_with(h, 4, (const char *const[]){"X-Requested-With", "XMLHttpRequest", NULL});
    assert_true(sessions_is_browser(&r));
    r = request_with(h, 4, (const char *const[]){"Cookie", "certgate_session=zz", NULL});
    assert_true(sessions_is_browser(&r));
}

static void test_bad_limits(void **state)
{
    (void)state;
    struct session_limits lim = {0, 1000, 10, 10};
    assert_null(sessions_new(&lim));
    lim = (struct session_limits){1000, 1000, 0, 10};
    assert_null(sessions_new(&lim));
    sessions_free(NULL);
    assert_non_null(sessions_default());
    assert_ptr_equal(sessions_default(), sessions_default());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_get),
        cmocka_unit_test(test_unknown_and_malformed_ids),
        cmocka_unit_test(test_idle_expiry_and_touch),
        cmocka_unit_test(test_absolute_expiry),
        cmocka_unit_test(test_clock_going_back_ends_the_session),
        cmocka_unit_test(test_per_user_cap_ends_least_recently_used),
        cmocka_unit_test(test_table_cap),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_csrf_valid),
        cmocka_unit_test(test_cookie_find),
        cmocka_unit_test(test_is_browser),
        cmocka_unit_test(test_bad_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
