#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/ratelimit.h"

static void bucket_refills_at_rate(void **state)
{
    struct ratelimit rl;
    ratelimit_init(&rl, 10, 3); /* 10/s, burst 3 */
    assert_true(ratelimit_take(&rl, 1000));
    assert_true(ratelimit_take(&rl, 1000));
    assert_true(ratelimit_take(&rl, 1000));
    assert_false(ratelimit_take(&rl, 1000));
    assert_false(ratelimit_take(&rl, 1050)); /* half a token */
    assert_true(ratelimit_take(&rl, 1100));
    assert_false(ratelimit_take(&rl, 1100));
    assert_true(ratelimit_take(&rl, 10000)); /* refilled, capped at burst */
    assert_true(ratelimit_take(&rl, 10000));
    assert_true(ratelimit_take(&rl, 10000));
    assert_false(ratelimit_take(&rl, 10000));
    assert_int_equal(rl.refused, 4);
}

static void zero_rate_is_unlimited(void **state)
{
    struct ratelimit rl;
    ratelimit_init(&rl, 0, 1);
    for (int i = 0; i < 1000; i++) {
        assert_true(ratelimit_take(&rl, 0));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_refills_at_rate),
        cmocka_unit_test(zero_rate_is_unlimited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
