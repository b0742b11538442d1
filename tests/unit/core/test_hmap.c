#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/hmap.h"

#include <stdio.h>

static int count_cb(const void *key, size_t klen, void *value, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static void put_get_del_many(void **state)
{
    struct hmap *m = hmap_new();
    assert_non_null(m);
    static int values[5000];
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "device-%d", i);
        assert_int_equal(hmap_put_str(m, key, &values[i], NULL), 0);
    }
    assert_int_equal(hmap_count(m), 5000);
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "device-%d", i);
        assert_ptr_equal(hmap_get_str(m, key), &values[i]);
    }
    assert_null(hmap_get_str(m, "device-5000"));
    void *old;
    assert_int_equal(hmap_put_str(m, "device-7", &values[0], &old), 0);
    assert_ptr_equal(old, &values[7]);
    assert_int_equal(hmap_count(m), 5000);
    for (int i = 0; i < 5000; i += 2) {
        snprintf(key, sizeof(key), "device-%d", i);
        assert_non_null(hmap_del_str(m, key));
    }
    assert_int_equal(hmap_count(m), 2500);
    int n = 0;
    hmap_iter(m, count_cb, &n);
    assert_int_equal(n, 2500);
    /* Keys are bytes: embedded NULs are distinct keys. */
    assert_int_equal(hmap_put(m, "a\0b", 3, &values[1], NULL), 0);
    assert_null(hmap_get(m, "a\0c", 3));
    assert_ptr_equal(hmap_get(m, "a\0b", 3), &values[1]);
    hmap_free(m);
    hmap_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(put_get_del_many)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
