#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/timeutil.h"

static void format_and_parse(void **state)
{
    char out[TIME_ISO_LEN];
    time_format_iso(1630654920123, out);
    assert_string_equal(out, "2021-09-03T07:42:00.123Z");
    int64_t ms;
    assert_int_equal(time_parse_iso("2021-09-03T07:42:00.123Z", &ms), 0);
    assert_int_equal(ms, 1630654920123);
    assert_int_equal(time_parse_iso("2021-09-03T09:42:00+02:00", &ms), 0);
    assert_int_equal(ms, 1630654920000);
    assert_int_equal(time_parse_iso("2021-09-03", &ms), 0);
    assert_int_equal(ms, 1630627200000);
    assert_int_equal(time_parse_iso("@1630654920", &ms), 0);
    assert_int_equal(ms, 1630654920000);
}

static void parse_rejects_bad_input(void **state)
{
    int64_t ms;
    assert_int_equal(time_parse_iso("2021-02-30T00:00:00Z", &ms), CG_EPARSE);
    assert_int_equal(time_parse_iso("2021-09-03T25:00:00Z", &ms), CG_EPARSE);
    assert_int_equal(time_parse_iso("2021-09-03T07:42:00", &ms), CG_EPARSE);
    assert_int_equal(time_parse_iso("yesterday", &ms), CG_EPARSE);
    assert_int_equal(time_parse_iso("2021-09-03T07:42:00Zjunk", &ms), CG_EPARSE);
    assert_int_equal(time_parse_iso("@", &ms), CG_EPARSE);
}

static void strict_form_of_the_crl_api(void **state)
{
    int64_t ms;
    assert_int_equal(time_parse_iso_strict("2023-01-11T16:12:36.288Z", &ms), 0);
    assert_int_equal(time_parse_iso_strict("2023-01-11T16:12:36Z", &ms), CG_EPARSE);
    assert_int_equal(time_parse_iso_strict("2023-01-11T16:12:36.2888Z", &ms), CG_EPARSE);
    assert_int_equal(time_parse_iso_strict("2023-01-11", &ms), CG_EPARSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_and_parse),
        cmocka_unit_test(parse_rejects_bad_input),
        cmocka_unit_test(strict_form_of_the_crl_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
