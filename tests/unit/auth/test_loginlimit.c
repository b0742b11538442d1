#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/loginlimit.h"
#include "core/err.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct loginlimit *make(uint32_t free_failures, int64_t base, int64_t max, int64_t forget,
                               size_t cap)
{
    struct loginlimit_config cfg = {
        .free_failures = free_failures,
        .base_delay_ms = base,
        .max_delay_ms = max,
        .forget_after_ms = forget,
        .max_entries = cap,
    };
    struct loginlimit *ll = loginlimit_new(&cfg);
    assert_non_null(ll);
    return ll;
}

static void backoff_doubles_up_to_max(void **state)
{
    struct loginlimit *ll = make(3, 1000, 8000, 3600000, 100);
    int64_t t = 10000;
    const char *k = "u:t1/alice";
    assert_true(loginlimit_allowed(ll, k, t));
    /* Three free failures. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(loginlimit_record_failure(ll, k, t), 0);
        assert_true(loginlimit_allowed(ll, k, t));
    }
    /* 4th failure: blocked for 1 s exactly. */
    assert_int_equal(loginlimit_record_failure(ll, k, t), 0);
    assert_false(loginlimit_allowed(ll, k, t));
    assert_int_equal(loginlimit_retry_after_ms(ll, k, t), 1000);
    assert_false(loginlimit_allowed(ll, k, t + 999));
    assert_true(loginlimit_allowed(ll, k, t + 1000));
    /* Then 2 s, 4 s, 8 s, and 8 s again (the cap). */
    const int64_t expect[] = {2000, 4000, 8000, 8000, 8000};
    for (size_t i = 0; i < 5; i++) {
        t += 10000;
        assert_int_equal(loginlimit_record_failure(ll, k, t), 0);
        assert_int_equal(loginlimit_retry_after_ms(ll, k, t), expect[i]);
        assert_false(loginlimit_allowed(ll, k, t + expect[i] - 1));
        assert_true(loginlimit_allowed(ll, k, t + expect[i]));
    }
    /* Other keys are not affected. */
    assert_true(loginlimit_allowed(ll, "u:t1/bob", t));
    assert_true(loginlimit_allowed(ll, "u:t2/alice", t));
    /* Success clears the key completely: the free failures are back. */
    loginlimit_record_success(ll, k);
    assert_true(loginlimit_allowed(ll, k, t));
    assert_int_equal(loginlimit_count(ll), 0);
    for (int i = 0; i < 3; i++) {
        loginlimit_record_failure(ll, k, t);
    }
    assert_true(loginlimit_allowed(ll, k, t));
    loginlimit_free(ll);
}

static void failures_while_blocked_extend_not_shorten(void **state)
{
    struct loginlimit *ll = make(0, 1000, 60000, 3600000, 100);
    const char *k = "ip:192.0.2.1";
    assert_int_equal(loginlimit_record_failure(ll, k, 0), 0);  /* blocked until 1000 */
    assert_int_equal(loginlimit_record_failure(ll, k, 10), 0); /* 2000 -> until 2010 */
    assert_int_equal(loginlimit_retry_after_ms(ll, k, 10), 2000);
    assert_false(loginlimit_allowed(ll, k, 2009));
    assert_true(loginlimit_allowed(ll, k, 2010));
    loginlimit_free(ll);

    /* Threads read the clock before taking the lock, so a failure can arrive with an
     * earlier time than the one before it: it must not shorten the block. */
    ll = make(0, 1000, 1000, 3600000, 100);
    assert_int_equal(loginlimit_record_failure(ll, k, 1000), 0); /* until 2000 */
    assert_int_equal(loginlimit_record_failure(ll, k, 500), 0);  /* would be 1500 */
    assert_false(loginlimit_allowed(ll, k, 1999));
    assert_true(loginlimit_allowed(ll, k, 2000));
    loginlimit_free(ll);
}

static void idle_keys_are_forgotten(void **state)
{
    struct loginlimit *ll = make(2, 1000, 8000, 60000, 100);
    const char *k = "u:t1/alice";
    loginlimit_record_failure(ll, k, 0);
    loginlimit_record_failure(ll, k, 0);
    assert_int_equal(loginlimit_count(ll), 1);
    /* Before the forget time the count survives: one more failure blocks. */
    loginlimit_record_failure(ll, k, 59999);
    assert_false(loginlimit_allowed(ll, k, 59999));
    /* After forget_after of silence the key starts over. */
    int64_t later = 59999 + 60000;
    assert_true(loginlimit_allowed(ll, k, later));
    assert_int_equal(loginlimit_count(ll), 0); /* the lookup dropped it */
    loginlimit_record_failure(ll, k, later);
    loginlimit_record_failure(ll, k, later);
    assert_true(loginlimit_allowed(ll, k, later));
    loginlimit_free(ll);
}

static void checking_allocates_nothing(void **state)
{
    struct loginlimit *ll = make(1, 1000, 8000, 60000, 100);
    char key[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "ip:10.0.%d.%d", i / 256, i % 256);
        assert_true(loginlimit_allowed(ll, key, 0));
    }
    assert_int_equal(loginlimit_count(ll), 0);
    loginlimit_free(ll);
}

static void cap_evicts_least_recent(void **state)
{
    struct loginlimit *ll = make(0, 60000, 60000, 3600000, 100);
    char key[32];
    for (int i = 0; i < 150; i++) {
        snprintf(key, sizeof(key), "ip:k%d", i);
        assert_int_equal(loginlimit_record_failure(ll, key, i), 0);
        assert_true(loginlimit_count(ll) <= 100);
    }
    assert_int_equal(loginlimit_count(ll), 100);
    /* The 50 oldest were evicted (allowed again); the 100 newest are still blocked. */
    for (int i = 0; i < 150; i++) {
        snprintf(key, sizeof(key), "ip:k%d", i);
        assert_int_equal(loginlimit_allowed(ll, key, 200), i < 50);
    }
    /* A key that fails again moves to the young end and survives the next evictions. */
    loginlimit_record_failure(ll, "ip:k50", 300);
    for (int i = 150; i < 160; i++) {
        snprintf(key, sizeof(key), "ip:k%d", i);
        loginlimit_record_failure(ll, key, 400);
    }
    assert_false(loginlimit_allowed(ll, "ip:k50", 500));
    assert_true(loginlimit_allowed(ll, "ip:k51", 500));
    loginlimit_free(ll);
}

static void idle_entries_make_room(void **state)
{
    /* Idle entries are swept as new keys arrive, so a full table takes new keys. */
    struct loginlimit *ll = make(5, 1000, 1000, 1000, 10);
    char key[32];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "old%d", i);
        loginlimit_record_failure(ll, key, 0);
    }
    assert_int_equal(loginlimit_count(ll), 10);
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "new%d", i);
        loginlimit_record_failure(ll, key, 5000);
    }
    assert_int_equal(loginlimit_count(ll), 10);
    /* Each new key still has its failure counted (4 free left): 5 more failures block. */
    for (int i = 0; i < 5; i++) {
        loginlimit_record_failure(ll, "new0", 5000);
    }
    assert_false(loginlimit_allowed(ll, "new0", 5000));
    loginlimit_free(ll);
}

static void long_keys_stay_distinct(void **state)
{
    struct loginlimit *ll = make(0, 1000, 1000, 60000, 100);
    char a[600], b[600];
    memset(a, 'x', sizeof(a) - 1);
    a[sizeof(a) - 1] = 0;
    memcpy(b, a, sizeof(a));
    b[sizeof(b) - 2] = 'y'; /* differ only after LOGINLIMIT_KEY_MAX bytes */
    loginlimit_record_failure(ll, a, 0);
    assert_false(loginlimit_allowed(ll, a, 0));
    assert_true(loginlimit_allowed(ll, b, 0));
    loginlimit_record_failure(ll, b, 0);
    assert_int_equal(loginlimit_count(ll), 2);
    loginlimit_record_success(ll, a);
    assert_true(loginlimit_allowed(ll, a, 0));
    assert_false(loginlimit_allowed(ll, b, 0));
    loginlimit_free(ll);
}

static void config_checks(void **state)
{
    struct loginlimit_config cfg;
    loginlimit_config_default(&cfg);
    assert_int_equal(cfg.free_failures, 5);
    assert_int_equal(cfg.max_entries, 100000);
    struct loginlimit *ll = loginlimit_new(&cfg);
    assert_non_null(ll);
    loginlimit_free(ll);
    loginlimit_free(NULL);

    struct loginlimit_config bad = cfg;
    bad.base_delay_ms = 0;
    assert_null(loginlimit_new(&bad));
    bad = cfg;
    bad.max_delay_ms = cfg.base_delay_ms - 1;
    assert_null(loginlimit_new(&bad));
    bad = cfg;
    bad.forget_after_ms = 0;
    assert_null(loginlimit_new(&bad));
    bad = cfg;
    bad.max_entries = 0;
    assert_null(loginlimit_new(&bad));
    assert_null(loginlimit_new(NULL));
}

struct worker {
    struct loginlimit *ll;
    int id;
};

static void *hammer(void *p)
{
    struct worker *w = p;
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "k%d", (i * 7 + w->id) % 300);
        if (i % 3 == 0) {
            loginlimit_record_success(w->ll, key);
        } else {
            loginlimit_record_failure(w->ll, key, i);
        }
        (void)loginlimit_allowed(w->ll, key, i);
        (void)loginlimit_retry_after_ms(w->ll, "shared", i);
        loginlimit_record_failure(w->ll, "shared", i);
    }
    return NULL;
}

static void threads_smoke(void **state)
{
    struct loginlimit *ll = make(2, 10, 1000, 100000, 200);
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i].ll = ll;
        w[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    assert_true(loginlimit_count(ll) <= 200);
    /* 20000 failures on "shared": it is blocked, at the maximum delay. */
    assert_false(loginlimit_allowed(ll, "shared", 4999));
    loginlimit_free(ll);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff_doubles_up_to_max),
        cmocka_unit_test(failures_while_blocked_extend_not_shorten),
        cmocka_unit_test(idle_keys_are_forgotten),
        cmocka_unit_test(checking_allocates_nothing),
        cmocka_unit_test(cap_evicts_least_recent),
        cmocka_unit_test(idle_entries_make_room),
        cmocka_unit_test(long_keys_stay_distinct),
        cmocka_unit_test(config_checks),
        cmocka_unit_test(threads_smoke),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
