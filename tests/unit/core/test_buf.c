#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

static void append_and_consume(void **state)
{
    struct buf b;
    buf_init(&b, 100);
    assert_string_equal(buf_str(&b), "");
    assert_int_equal(buf_append_str(&b, "hello "), 0);
    assert_int_equal(buf_appendf(&b, "%s %d", "world", 42), 0);
    assert_int_equal(b.len, 14);
    assert_string_equal(buf_str(&b), "hello world 42");
    buf_consume(&b, 6);
    assert_string_equal(buf_str(&b), "world 42");
    buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    buf_cleanup(&b);
}

static void limit_is_enforced_and_leaves_buffer_unchanged(void **state)
{
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(buf_append(&b, "x", 1), CG_ELIMIT);
    assert_int_equal(buf_appendf(&b, "%d", 1), CG_ELIMIT);
    assert_int_equal(b.len, 10);
    assert_memory_equal(buf_data(&b), "0123456789", 10);
    buf_consume(&b, 5);
    assert_int_equal(buf_append(&b, "abcde", 5), 0);
    assert_string_equal(buf_str(&b), "56789abcde");
    buf_cleanup(&b);
}

static void tail_commit_reads_in_place(void **state)
{
    struct buf b;
    buf_init(&b, 8);
    size_t room;
    uint8_t *p = buf_tail(&b, &room);
    assert_non_null(p);
    assert_int_equal(room, 8);
    memcpy(p, "abc", 3);
    buf_commit(&b, 3);
    assert_string_equal(buf_str(&b), "abc");
    p = buf_tail(&b, &room);
    assert_int_equal(room, 5);
    buf_cleanup(&b);
}

static void steal_and_shrink(void **state)
{
    struct buf b;
    buf_init(&b, 1000);
    buf_append_str(&b, "xyz");
    buf_consume(&b, 1);
    size_t n;
    char *s = buf_steal(&b, &n);
    assert_string_equal(s, "yz");
    assert_int_equal(n, 2);
    free(s);
    assert_int_equal(b.len, 0);
    buf_append_str(&b, "q");
    buf_consume(&b, 1);
    buf_shrink(&b);
    assert_null(b.mem);
    buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(append_and_consume),
        cmocka_unit_test(limit_is_enforced_and_leaves_buffer_unchanged),
        cmocka_unit_test(tail_commit_reads_in_place),
        cmocka_unit_test(steal_and_shrink),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
