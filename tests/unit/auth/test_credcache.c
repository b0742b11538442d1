#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/credcache.h"
#include "auth/password.h"
#include "core/err.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PW(s) s, strlen(s)

static void hit_and_misses(void **state)
{
    struct credcache *cc = credcache_new(100, 60000);
    assert_non_null(cc);
    assert_false(credcache_check(cc, "t1", "alice", PW("secret"), 0));
    assert_int_equal(credcache_put(cc, "t1", "alice", PW("secret"), 0), 0);
    assert_true(credcache_check(cc, "t1", "alice", PW("secret"), 0));
    /* Wrong password, other user, other tenant: all miss. */
    assert_false(credcache_check(cc, "t1", "alice", PW("secreT"), 0));
    assert_false(credcache_check(cc, "t1", "alice", PW("secret "), 0));
    assert_false(credcache_check(cc, "t1", "alice", PW("secre"), 0));
    assert_false(credcache_check(cc, "t1", "bob", PW("secret"), 0));
    assert_false(credcache_check(cc, "t2", "alice", PW("secret"), 0));
    /* A miss does not disturb the entry. */
    assert_true(credcache_check(cc, "t1", "alice", PW("secret"), 1));
    /* Bytes, not strings: an embedded NUL counts. */
    assert_false(credcache_check(cc, "t1", "alice", "secret\0x", 8, 1));
    assert_int_equal(credcache_count(cc), 1);
    credcache_free(cc);
    credcache_free(NULL);
}

static void field_boundaries_are_unambiguous(void **state)
{
    struct credcache *cc = credcache_new(100, 60000);
    assert_int_equal(credcache_put(cc, "ab", "c", PW("pw"), 0), 0);
    assert_false(credcache_check(cc, "a", "bc", PW("pw"), 0));
    assert_int_equal(credcache_put(cc, "t", "u", PW("xpw"), 0), 0);
    assert_false(credcache_check(cc, "t", "ux", PW("pw"), 0));
    assert_true(credcache_check(cc, "t", "u", PW("xpw"), 0));
    credcache_free(cc);
}

static void ttl_from_put(void **state)
{
    struct credcache *cc = credcache_new(100, 60000);
    assert_int_equal(credcache_put(cc, "t1", "alice", PW("pw"), 1000), 0);
    assert_true(credcache_check(cc, "t1", "alice", PW("pw"), 1000 + 59999));
    assert_false(credcache_check(cc, "t1", "alice", PW("pw"), 1000 + 60000));
    assert_int_equal(credcache_count(cc), 0); /* expired entry dropped on lookup */

    /* Hits do not extend the TTL. */
    assert_int_equal(credcache_put(cc, "t1", "alice", PW("pw"), 0), 0);
    for (int64_t t = 0; t < 60000; t += 10000) {
        assert_true(credcache_check(cc, "t1", "alice", PW("pw"), t));
    }
    assert_false(credcache_check(cc, "t1", "alice", PW("pw"), 60000));

    /* A new put (after a new verification) replaces the entry and restarts the TTL, and
     * the old password no longer hits. */
    assert_int_equal(credcache_put(cc, "t1", "alice", PW("old"), 0), 0);
    assert_int_equal(credcache_put(cc, "t1", "alice", PW("new"), 30000), 0);
    assert_false(credcache_check(cc, "t1", "alice", PW("old"), 30000));
    assert_true(credcache_check(cc, "t1", "alice", PW("new"), 89999));
    assert_int_equal(credcache_count(cc), 1);
    credcache_free(cc);
}

static void invalidation(void **state)
{
    struct credcache *cc = credcache_new(100, 60000);
    credcache_put(cc, "t1", "alice", PW("pw"), 0);
    credcache_put(cc, "t1", "bob", PW("pw"), 0);
    credcache_put(cc, "t2", "alice", PW("pw"), 0);
    credcache_put(cc, "t22", "carol", PW("pw"), 0);
    assert_int_equal(credcache_count(cc), 4);

    credcache_invalidate_user(cc, "t1", "alice");
    assert_false(credcache_check(cc, "t1", "alice", PW("pw"), 0));
    assert_true(credcache_check(cc, "t1", "bob", PW("pw"), 0));
    assert_true(credcache_check(cc, "t2", "alice", PW("pw"), 0));
    credcache_invalidate_user(cc, "t1", "nobody"); /* no-op */
    assert_int_equal(credcache_count(cc), 3);

    credcache_invalidate_tenant(cc, "t2");
    assert_false(credcache_check(cc, "t2", "alice", PW("pw"), 0));
    assert_true(credcache_check(cc, "t22", "carol", PW("pw"), 0)); /* not a prefix match */
    assert_true(credcache_check(cc, "t1", "bob", PW("pw"), 0));

    credcache_flush(cc);
    assert_int_equal(credcache_count(cc), 0);
    assert_false(credcache_check(cc, "t1", "bob", PW("pw"), 0));
    assert_false(credcache_check(cc, "t22", "carol", PW("pw"), 0));
    credcache_free(cc);
}

static void capacity(void **state)
{
    struct credcache *cc = credcache_new(3, 60000);
    char user[16];
    for (int i = 0; i < 10; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        assert_int_equal(credcache_put(cc, "t1", user, PW("pw"), i), 0);
        assert_true(credcache_count(cc) <= 3);
    }
    /* The three newest remain, the older ones were evicted. */
    for (int i = 0; i < 10; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        assert_int_equal(credcache_check(cc, "t1", user, PW("pw"), 10), i >= 7);
    }
    /* Expired entries are dropped before live ones are evicted. */
    struct credcache *c2 = credcache_new(3, 100);
    credcache_put(c2, "t", "a", PW("pw"), 0);
    credcache_put(c2, "t", "b", PW("pw"), 150);
    credcache_put(c2, "t", "c", PW("pw"), 150);
    credcache_put(c2, "t", "d", PW("pw"), 150); /* a expired: it goes, b and c stay */
    assert_true(credcache_check(c2, "t", "b", PW("pw"), 160));
    assert_true(credcache_check(c2, "t", "c", PW("pw"), 160));
    assert_true(credcache_check(c2, "t", "d", PW("pw"), 160));
    credcache_free(c2);
    credcache_free(cc);
}

static void argument_limits(void **state)
{
    assert_null(credcache_new(0, 1000));
    assert_null(credcache_new(10, 0));
    struct credcache *cc = credcache_new(10, 1000);
    char longname[CREDCACHE_NAME_MAX + 2];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    char *longpw = malloc(PASSWORD_MAX_LEN + 1);
    memset(longpw, 'p', PASSWORD_MAX_LEN + 1);
    assert_int_equal(credcache_put(cc, "", "u", PW("pw"), 0), -EINVAL);
    assert_int_equal(credcache_put(cc, "t", "", PW("pw"), 0), -EINVAL);
    assert_int_equal(credcache_put(cc, NULL, "u", PW("pw"), 0), -EINVAL);
    assert_int_equal(credcache_put(cc, longname, "u", PW("pw"), 0), -EINVAL);
    assert_int_equal(credcache_put(cc, "t", longname, PW("pw"), 0), -EINVAL);
    assert_int_equal(credcache_put(cc, "t", "u", "", 0, 0), -EINVAL);
    assert_int_equal(credcache_put(cc, "t", "u", longpw, PASSWORD_MAX_LEN + 1, 0), -EINVAL);
    assert_int_equal(credcache_count(cc), 0);
    assert_false(credcache_check(cc, "t", "u", "", 0, 0));
    assert_false(credcache_check(cc, longname, "u", PW("pw"), 0));
    longname[CREDCACHE_NAME_MAX] = 0; /* exactly the maximum is fine */
    assert_int_equal(credcache_put(cc, longname, longname, longpw, PASSWORD_MAX_LEN, 0), 0);
    assert_true(credcache_check(cc, longname, longname, longpw, PASSWORD_MAX_LEN, 0));
    free(longpw);
    credcache_free(cc);
}

static void two_caches_do_not_share_keys(void **state)
{
    /* Each cache has its own random MAC key: entries are per process (per cache). */
    struct credcache *a = credcache_new(10, 1000);
    struct credcache *b = credcache_new(10, 1000);
    credcache_put(a, "t", "u", PW("pw"), 0);
    assert_true(credcache_check(a, "t", "u", PW("pw"), 0));
    assert_false(credcache_check(b, "t", "u", PW("pw"), 0));
    credcache_free(a);
    credcache_free(b);
}

struct worker {
    struct credcache *cc;
    int id;
    int own_misses;
};

static void *churn(void *p)
{
    struct worker *w = p;
    char own[32], shared[32];
    snprintf(own, sizeof(own), "own%d", w->id);
    for (int i = 0; i < 3000; i++) {
        /* Own user: nobody else touches it, so a put is always followed by a hit. */
        if (credcache_put(w->cc, "t1", own, PW("mine"), i) != 0 ||
            !credcache_check(w->cc, "t1", own, PW("mine"), i)) {
            w->own_misses++;
        }
        /* Shared users: concurrent puts, checks and invalidations. */
        snprintf(shared, sizeof(shared), "s%d", i % 17);
        switch ((i + w->id) % 4) {
        case 0:
            credcache_put(w->cc, "t2", shared, PW("pw"), i);
            break;
        case 1:
            (void)credcache_check(w->cc, "t2", shared, PW("pw"), i);
            break;
        case 2:
            credcache_invalidate_user(w->cc, "t2", shared);
            break;
        default:
            if (i % 500 == 0) {
                credcache_invalidate_tenant(w->cc, "t2");
            }
        }
    }
    return NULL;
}

static void threads_smoke(void **state)
{
    struct credcache *cc = credcache_new(64, 100000);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){.cc = cc, .id = i, .own_misses = 0};
        assert_int_equal(pthread_create(&th[i], NULL, churn, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].own_misses, 0);
    }
    assert_true(credcache_count(cc) <= 64);
    credcache_free(cc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hit_and_misses),
        cmocka_unit_test(field_boundaries_are_unambiguous),
        cmocka_unit_test(ttl_from_put),
        cmocka_unit_test(invalidation),
        cmocka_unit_test(capacity),
        cmocka_unit_test(argument_limits),
        cmocka_unit_test(two_caches_do_not_share_keys),
        cmocka_unit_test(threads_smoke),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
