#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "http/span.h"

#include <string.h>

static struct http_span sp(const char *s)
{
    return (struct http_span){s, strlen(s)};
}

static void equality_and_trim(void **state)
{
    assert_true(http_span_eq_ci(sp("Content-Length"), "content-length"));
    assert_false(http_span_eq_ci(sp("Content-Length"), "content-lengt"));
    assert_true(http_span_eq(sp("abc"), "abc"));
    assert_false(http_span_eq(sp("abc"), "ABC"));
    assert_true(http_span_eq_ci((struct http_span){NULL, 0}, ""));
    struct http_span t = http_span_trim(sp(" \t a b \t "));
    assert_int_equal(t.len, 3);
    assert_memory_equal(t.ptr, "a b", 3);
    assert_int_equal(http_span_trim(sp(" \t ")).len, 0);
}

static void tokens_and_hex(void **state)
{
    assert_true(http_is_token("Content-Type", 12));
    assert_true(http_is_token("!#$%&'*+-.^_`|~09azAZ", 21));
    assert_false(http_is_token("", 0));
    const char *bad = "(),/:;<=>?@[\\]{}\" \t\x7f\x80";
    for (size_t i = 0; i < strlen(bad); i++) {
        assert_false(http_is_tchar((uint8_t)bad[i]));
    }
    assert_false(http_is_tchar(0));
    assert_int_equal(http_hex_value('0'), 0);
    assert_int_equal(http_hex_value('f'), 15);
    assert_int_equal(http_hex_value('F'), 15);
    assert_int_equal(http_hex_value('g'), -1);
    assert_int_equal(http_hex_value('/'), -1);
}

static void percent(void **state)
{
    char out[16];
    assert_int_equal(http_pct_decode("%41%2f%2F%00", 12, out, sizeof(out), false), 4);
    assert_memory_equal(out, "A//\0", 4);
    assert_int_equal(http_pct_decode("%", 1, out, sizeof(out), false), CG_EPARSE);
    assert_int_equal(http_pct_decode("%4", 2, out, sizeof(out), false), CG_EPARSE);
    assert_int_equal(http_pct_decode("%g0", 3, out, sizeof(out), false), CG_EPARSE);
    assert_int_equal(http_pct_decode("a+b", 3, out, sizeof(out), false), 3);
    assert_memory_equal(out, "a+b", 3);
    assert_int_equal(http_pct_encode_len("a b", 3), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(equality_and_trim),
        cmocka_unit_test(tokens_and_hex),
        cmocka_unit_test(percent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
