#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "http/query.h"
#include "http/span.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *s, struct http_query *q)
{
    return http_query_parse(q, s, strlen(s));
}

static void decoding(void **state)
{
    struct http_query q;
    assert_int_equal(parse("a=1&b=x%20y+z&&flag&=v&c=&d=%3D%26", &q), 0);
    assert_int_equal(q.n, 6);
    assert_string_equal(http_query_get(&q, "a"), "1");
    assert_string_equal(http_query_get(&q, "b"), "x y z");
    assert_string_equal(http_query_get(&q, "flag"), "");
    assert_string_equal(http_query_get(&q, ""), "v");
    assert_string_equal(http_query_get(&q, "c"), "");
    assert_string_equal(http_query_get(&q, "d"), "=&");
    assert_int_equal(q.params[5].value_len, 2);
    assert_null(http_query_get(&q, "A"));
    assert_null(http_query_get(&q, "e"));
    http_query_cleanup(&q);

    /* Keys decode too; first occurrence wins. */
    assert_int_equal(parse("my%20key=1&my+key=2", &q), 0);
    assert_string_equal(http_query_get(&q, "my key"), "1");
    http_query_cleanup(&q);

    assert_int_equal(parse("", &q), 0);
    assert_int_equal(q.n, 0);
    http_query_cleanup(&q);
    assert_int_equal(parse("&&&", &q), 0);
    assert_int_equal(q.n, 0);
    http_query_cleanup(&q);
    assert_int_equal(parse("x=%C3%A9", &q), 0);
    assert_string_equal(http_query_get(&q, "x"), "\xc3\xa9");
    http_query_cleanup(&q);

    const char *bad[] = {"a=%", "a=%4", "a=%zz", "a=%00", "%00=1", "a=%ff", "a=%C3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i], &q), CG_EPARSE);
    }
    char many[1024] = "";
    for (int i = 0; i < HTTP_QUERY_MAX_PARAMS; i++) {
        strcat(many, "a=1&");
    }
    assert_int_equal(parse(many, &q), 0);
    assert_int_equal(q.n, HTTP_QUERY_MAX_PARAMS);
    http_query_cleanup(&q);
    strcat(many, "b");
    assert_int_equal(parse(many, &q), CG_ELIMIT);
}

static void getters(void **state)
{
    struct http_query q;
    int64_t v;
    bool b;
    assert_int_equal(
        parse("n=42&neg=-7&big=99999999999999999999&bad=4x&e=&t=TRUE&f=false&x=yes&m=-", &q), 0);
    assert_int_equal(http_query_get_int(&q, "n", 0, 100, 1, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(http_query_get_int(&q, "neg", -10, 10, 1, &v), 0);
    assert_int_equal(v, -7);
    assert_int_equal(http_query_get_int(&q, "n", 0, 41, 1, &v), CG_ELIMIT);
    assert_int_equal(v, -7); /* untouched */
    assert_int_equal(http_query_get_int(&q, "big", 0, INT64_MAX, 1, &v), 0);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(http_query_get_int(&q, "bad", 0, 100, 1, &v), CG_EPARSE);
    assert_int_equal(http_query_get_int(&q, "m", -5, 100, 1, &v), CG_EPARSE);
    assert_int_equal(http_query_get_int(&q, "e", 0, 100, 9, &v), 0);
    assert_int_equal(v, 9);
    assert_int_equal(http_query_get_int(&q, "absent", 0, 100, 8, &v), 0);
    assert_int_equal(v, 8);
    assert_int_equal(http_query_get_bool(&q, "t", false, &b), 0);
    assert_true(b);
    assert_int_equal(http_query_get_bool(&q, "f", true, &b), 0);
    assert_false(b);
    assert_int_equal(http_query_get_bool(&q, "x", true, &b), CG_EPARSE);
    assert_int_equal(http_query_get_bool(&q, "e", true, &b), 0);
    assert_true(b);
    assert_int_equal(http_query_get_bool(&q, "absent", false, &b), 0);
    assert_false(b);
    http_query_cleanup(&q);
}

static int paging(const char *s, struct http_paging *pg)
{
    struct http_query q;
    assert_int_equal(parse(s, &q), 0);
    const char *why = NULL;
    int rc = http_paging_parse(&q, pg, &why);
    assert_true(rc == 0 ? why == NULL : why != NULL);
    http_query_cleanup(&q);
    return rc;
}

static void paging_rules(void **state)
{
    struct http_paging pg;
    assert_int_equal(paging("", &pg), 0);
    assert_int_equal(pg.current_page, 1);
    assert_int_equal(pg.page_size, 5);
    assert_false(pg.with_total_elements);
    assert_false(pg.with_total_pages);
    assert_int_equal(http_paging_offset(&pg), 0);

    assert_int_equal(
        paging("currentPage=3&pageSize=20&withTotalElements=true&withTotalPages=TRUE", &pg), 0);
    assert_int_equal(pg.current_page, 3);
    assert_int_equal(pg.page_size, 20);
    assert_true(pg.with_total_elements);
    assert_true(pg.with_total_pages);
    assert_int_equal(http_paging_offset(&pg), 40);

    /* pageSize: 1..2000, larger values trimmed to 2000 (also absurd ones). */
    assert_int_equal(paging("pageSize=1", &pg), 0);
    assert_int_equal(pg.page_size, 1);
    assert_int_equal(paging("pageSize=2000", &pg), 0);
    assert_int_equal(pg.page_size, 2000);
    assert_int_equal(paging("pageSize=2001", &pg), 0);
    assert_int_equal(pg.page_size, 2000);
    assert_int_equal(paging("pageSize=99999999999999999999999", &pg), 0);
    assert_int_equal(pg.page_size, 2000);
    assert_int_equal(paging("pageSize=", &pg), 0);
    assert_int_equal(pg.page_size, 5);

    /* Refused: not numbers, below 1, booleans that are not booleans, absurd pages. */
    assert_int_equal(paging("pageSize=0", &pg), CG_EPARSE);
    assert_int_equal(paging("pageSize=-1", &pg), CG_EPARSE);
    assert_int_equal(paging("pageSize=five", &pg), CG_EPARSE);
    assert_int_equal(paging("currentPage=0", &pg), CG_EPARSE);
    assert_int_equal(paging("currentPage=-3", &pg), CG_EPARSE);
    assert_int_equal(paging("currentPage=1.5", &pg), CG_EPARSE);
    assert_int_equal(paging("currentPage=2147483647", &pg), 0);
    assert_int_equal(http_paging_offset(&pg), (int64_t)2147483646 * 5);
    assert_int_equal(paging("currentPage=2147483648", &pg), CG_ELIMIT);
    assert_int_equal(paging("withTotalPages=1", &pg), CG_EPARSE);
    assert_int_equal(paging("withTotalElements=yes", &pg), CG_EPARSE);
}

static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT);
}

static void links(void **state)
{
    struct http_query q;
    struct http_paging pg;
    assert_int_equal(parse("pageSize=1&currentPage=3&withTotalPages=true&q=a b&x=%26", &q), 0);
    assert_int_equal(http_paging_parse(&q, &pg, NULL), 0);

    /* Totals known: 34 elements, 1 per page -> 34 pages; prev and next present. */
    json_t *coll = json_object();
    assert_int_equal(http_paging_links(coll, "https://t1.example.com/",
                                       "/tenant/tenants/t1/trusted-certificates", &q, &pg, 1, 34),
                     0);
    char *s = dump(coll);
    assert_string_equal(s,
                        "{\"self\":\"https://t1.example.com/tenant/tenants/t1/trusted-certificates?"
                        "withTotalPages=true&q=a%20b&x=%26&pageSize=1&currentPage=3\","
                        "\"statistics\":{\"currentPage\":3,\"pageSize\":1,\"totalPages\":34},"
                        "\"prev\":\"https://t1.example.com/tenant/tenants/t1/trusted-certificates?"
                        "withTotalPages=true&q=a%20b&x=%26&pageSize=1&currentPage=2\","
                        "\"next\":\"https://t1.example.com/tenant/tenants/t1/trusted-certificates?"
                        "withTotalPages=true&q=a%20b&x=%26&pageSize=1&currentPage=4\"}");
    free(s);
    json_decref(coll);
    http_query_cleanup(&q);

    /* First page, nothing else kept, totals unknown, page full: next but no prev. */
    assert_int_equal(parse("", &q), 0);
    assert_int_equal(http_paging_parse(&q, &pg, NULL), 0);
    coll = json_object();
    assert_int_equal(http_paging_links(coll, "https://h", "/c", &q, &pg, 5, -1), 0);
    s = dump(coll);
    assert_string_equal(s, "{\"self\":\"https://h/c?pageSize=5&currentPage=1\","
                           "\"statistics\":{\"currentPage\":1,\"pageSize\":5},"
                           "\"next\":\"https://h/c?pageSize=5&currentPage=2\"}");
    free(s);
    json_decref(coll);

    /* Page not full, totals unknown: last page, no next. */
    coll = json_object();
    assert_int_equal(http_paging_links(coll, "https://h", "/c", NULL, &pg, 4, -1), 0);
    assert_null(json_object_get(coll, "next"));
    assert_null(json_object_get(coll, "prev"));
    json_decref(coll);
    http_query_cleanup(&q);

    /* Last page by totals; both statistics requested; empty collection. */
    assert_int_equal(parse("currentPage=7&withTotalElements=true&withTotalPages=true", &q), 0);
    assert_int_equal(http_paging_parse(&q, &pg, NULL), 0);
    coll = json_object();
    assert_int_equal(http_paging_links(coll, "https://h", "/c", &q, &pg, 4, 34), 0);
    s = dump(json_object_get(coll, "statistics"));
    assert_string_equal(s,
                        "{\"currentPage\":7,\"pageSize\":5,\"totalPages\":7,\"totalElements\":34}");
    free(s);
    assert_null(json_object_get(coll, "next"));
    assert_string_equal(json_string_value(json_object_get(coll, "prev")),
                        "https://h/c?withTotalElements=true&withTotalPages=true&pageSize=5&"
                        "currentPage=6");
    json_decref(coll);
    coll = json_object();
    assert_int_equal(http_paging_links(coll, "https://h", "/c", &q, &pg, 0, 0), 0);
    s = dump(json_object_get(coll, "statistics"));
    assert_string_equal(s,
                        "{\"currentPage\":7,\"pageSize\":5,\"totalPages\":0,\"totalElements\":0}");
    free(s);
    assert_null(json_object_get(coll, "next"));
    json_decref(coll);
    http_query_cleanup(&q);

    /* Not an object. */
    json_t *arr = json_array();
    assert_int_equal(http_paging_links(arr, "https://h", "/c", NULL, &pg, 0, 0), -EINVAL);
    json_decref(arr);

    char *url = http_paging_url("https://h//", "/a%2Fb", NULL, 10, 2);
    assert_string_equal(url, "https://h/a%2Fb?pageSize=10&currentPage=2");
    free(url);
}

static void pct_codec(void **state)
{
    char out[64];
    const char *in = "a b/~-._:%\xc3\xa9";
    size_t n = http_pct_encode(in, strlen(in), out);
    assert_string_equal(out, "a%20b%2F~-._%3A%25%C3%A9");
    assert_int_equal(n, http_pct_encode_len(in, strlen(in)));
    int d = http_pct_decode(out, n, out, sizeof(out), false);
    assert_int_equal(d, strlen(in));
    assert_memory_equal(out, in, (size_t)d);
    assert_int_equal(http_pct_decode("a+b", 3, out, 3, true), 3);
    assert_memory_equal(out, "a b", 3);
    assert_int_equal(http_pct_decode("abcd", 4, out, 3, false), CG_ELIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decoding), cmocka_unit_test(getters),   cmocka_unit_test(paging_rules),
        cmocka_unit_test(links),    cmocka_unit_test(pct_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
