#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/err.h"
#include "http/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *s, json_t **out, char *err)
{
    return http_json_parse_body((const uint8_t *)s, strlen(s), 0, 0, out, err, 160);
}

static void strict_parse(void **state)
{
    json_t *v = NULL;
    char err[160];
    assert_int_equal(parse(" {\"name\": \"root\", \"n\": [1, {\"x\": null}]}\n", &v, err), 0);
    assert_true(json_is_object(v));
    json_decref(v);

    assert_int_equal(parse("{\"a\": 1,\n  \"b\": }", &v, err), CG_EPARSE);
    assert_string_equal(err, "line 2, column 8: unexpected token near '}'");
    assert_int_equal(parse("", &v, err), CG_EPARSE);
    assert_non_null(strstr(err, "line 1"));
    assert_int_equal(parse("[1,2]", &v, err), CG_EPARSE);
    assert_int_equal(parse("\"str\"", &v, err), CG_EPARSE);
    assert_int_equal(parse("{} {}", &v, err), CG_EPARSE);
    assert_int_equal(parse("{\"a\":1,\"a\":2}", &v, err), CG_EPARSE);
    assert_non_null(strstr(err, "duplicate"));
    assert_int_equal(parse("{\"a\":\"\\u0000\"}", &v, err), CG_EPARSE);
    assert_int_equal(parse("{\"a\":\"\xff\"}", &v, err), CG_EPARSE);
    /* jansson quotes the bad token; the message must still be printable ASCII (it goes into
     * an error body, which must be UTF-8) */
    assert_int_equal(parse("\"\\\\`\\\xf1\x8c\x8c\x8c", &v, err), CG_EPARSE);
    for (const char *p = err; *p != 0; p++) {
        assert_true(*p >= 0x20 && *p <= 0x7e);
    }
    assert_int_equal(parse("{\"a\":99999999999999999999999}", &v, err), CG_EPARSE);
    assert_int_equal(parse("{'a':1}", &v, err), CG_EPARSE);
    const char nul[] = "{\"a\":1}\0";
    assert_int_equal(
        http_json_parse_body((const uint8_t *)nul, sizeof(nul) - 1, 0, 0, &v, err, 160), CG_EPARSE);
    /* err may be NULL. */
    assert_int_equal(http_json_parse_body((const uint8_t *)"x", 1, 0, 0, &v, NULL, 0), CG_EPARSE);
}

static void parse_limits(void **state)
{
    json_t *v = NULL;
    char err[160];
    const char *s = "{\"a\":\"0123456789\"}";
    assert_int_equal(
        http_json_parse_body((const uint8_t *)s, strlen(s), strlen(s), 0, &v, err, 160), 0);
    json_decref(v);
    assert_int_equal(
        http_json_parse_body((const uint8_t *)s, strlen(s), strlen(s) - 1, 0, &v, err, 160),
        CG_ELIMIT);
    assert_string_equal(err, "request body too large");

    /* Depth: brackets inside strings do not count. */
    s = "{\"a\":{\"b\":[\"[[[[{{{{\"]}}";
    assert_int_equal(http_json_parse_body((const uint8_t *)s, strlen(s), 0, 3, &v, err, 160), 0);
    json_decref(v);
    assert_int_equal(http_json_parse_body((const uint8_t *)s, strlen(s), 0, 2, &v, err, 160),
                     CG_ELIMIT);
    assert_string_equal(err, "line 1, column 11: nesting too deep");
    s = "{\"a\\\"[\":\n {\"b\":1}}";
    assert_int_equal(http_json_parse_body((const uint8_t *)s, strlen(s), 0, 1, &v, err, 160),
                     CG_ELIMIT);
    assert_string_equal(err, "line 2, column 2: nesting too deep");

    /* A very deep document is refused before jansson recurses into it. */
    size_t n = 200000;
    char *deep = malloc(n + 1);
    deep[0] = '{';
    memset(deep + 1, '[', n - 1);
    deep[n] = 0;
    assert_int_equal(http_json_parse_body((const uint8_t *)deep, n, n, 0, &v, err, 160), CG_ELIMIT);
    free(deep);
}

static void getters(void **state)
{
    json_t *v = NULL;
    char err[160];
    assert_int_equal(
        parse("{\"t\":true,\"f\":false,\"st\":\"true\",\"sf\":\"FALSE\",\"sx\":\"yes\","
              "\"n\":1,\"nul\":null,\"s\":\"hello\",\"i\":42,\"neg\":-5,\"r\":1.5,"
              "\"si\":\"7\"}",
              &v, err),
        0);
    bool b = false;
    assert_int_equal(http_json_get_bool(v, "t", false, &b), 0);
    assert_true(b);
    assert_int_equal(http_json_get_bool(v, "f", true, &b), 0);
    assert_false(b);
    assert_int_equal(http_json_get_bool(v, "st", false, &b), 0);
    assert_true(b);
    assert_int_equal(http_json_get_bool(v, "sf", true, &b), 0);
    assert_false(b);
    assert_int_equal(http_json_get_bool(v, "nul", true, &b), 0);
    assert_true(b);
    assert_int_equal(http_json_get_bool(v, "absent", false, &b), 0);
    assert_false(b);
    assert_int_equal(http_json_get_bool(v, "sx", false, &b), CG_EPARSE);
    assert_int_equal(http_json_get_bool(v, "n", false, &b), CG_EPARSE);

    const char *s = "x";
    assert_int_equal(http_json_get_string(v, "s", 5, &s), 0);
    assert_string_equal(s, "hello");
    assert_int_equal(http_json_get_string(v, "s", 4, &s), CG_ELIMIT);
    assert_int_equal(http_json_get_string(v, "n", 10, &s), CG_EPARSE);
    assert_int_equal(http_json_get_string(v, "nul", 10, &s), 0);
    assert_null(s);
    s = "x";
    assert_int_equal(http_json_get_string(v, "absent", 10, &s), 0);
    assert_null(s);

    int64_t i = 0;
    assert_int_equal(http_json_get_int(v, "i", 0, 100, 1, &i), 0);
    assert_int_equal(i, 42);
    assert_int_equal(http_json_get_int(v, "neg", -10, 10, 1, &i), 0);
    assert_int_equal(i, -5);
    assert_int_equal(http_json_get_int(v, "i", 0, 41, 1, &i), CG_ELIMIT);
    assert_int_equal(http_json_get_int(v, "r", 0, 100, 1, &i), CG_EPARSE);
    assert_int_equal(http_json_get_int(v, "si", 0, 100, 1, &i), CG_EPARSE);
    assert_int_equal(http_json_get_int(v, "absent", 0, 100, 9, &i), 0);
    assert_int_equal(i, 9);
    json_decref(v);
}

static void error_body(void **state)
{
    struct buf b;
    buf_init(&b, 4096);
    assert_int_equal(http_json_error_write(&b, "security/Unauthorized",
                                           "Invalid credentials! : Bad credentials"),
                     0);
    assert_string_equal(buf_str(&b), "{\"error\":\"security/Unauthorized\","
                                     "\"message\":\"Invalid credentials! : Bad credentials\","
                                     "\"info\":\"https://www.cumulocity.com/guides/"
                                     "reference-guide/#error_reporting\"}");
    buf_reset(&b);
    assert_int_equal(http_json_error_write(&b, "x/y", "quote \" and \xc3\xa9 and /"), 0);
    assert_non_null(strstr(buf_str(&b), "\"message\":\"quote \\\" and \xc3\xa9 and /\""));
    buf_reset(&b);
    assert_int_equal(http_json_error_write(&b, "x/y", "bad \xff"), -EINVAL);
    assert_int_equal(b.len, 0);
    json_t *e = http_json_error_new("certificate/Not Found", "m");
    assert_string_equal(json_string_value(json_object_get(e, "info")), HTTP_JSON_ERROR_INFO);
    json_decref(e);
    buf_cleanup(&b);
}

static void write_compact(void **state)
{
    struct buf b;
    buf_init(&b, 64);
    buf_append_str(&b, "x");
    json_t *v = json_pack("{s:i, s:s, s:[b, n]}", "z", 1, "a", "v", "m", 1);
    assert_int_equal(http_json_write(&b, v), 0);
    assert_string_equal(buf_str(&b), "x{\"z\":1,\"a\":\"v\",\"m\":[true,null]}");
    json_decref(v);
    /* Too large for the buffer: unchanged. */
    v = json_pack("{s:s}", "k", "0123456789012345678901234567890123456789012345678901234567890");
    assert_int_equal(http_json_write(&b, v), CG_ELIMIT);
    assert_string_equal(buf_str(&b), "x{\"z\":1,\"a\":\"v\",\"m\":[true,null]}");
    json_decref(v);
    assert_int_equal(http_json_write(&b, NULL), -EINVAL);
    buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(strict_parse), cmocka_unit_test(parse_limits),  cmocka_unit_test(getters),
        cmocka_unit_test(error_body),   cmocka_unit_test(write_compact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
