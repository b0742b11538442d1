#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "mqtt/error.h"
#include "mqtt/topic.h"

#include <stdlib.h>
#include <string.h>

struct check_case {
    const char *s;
    size_t len; /* 0: strlen(s) */
    int want;
};

static size_t case_len(const struct check_case *c)
{
    return c->len != 0 ? c->len : strlen(c->s);
}

static void topic_names(void **state)
{
    static const struct check_case cases[] = {
        {"a", 0, 0},
        {"/", 0, 0},
        {"a/b", 0, 0},
        {"sport/tennis/player1", 0, 0},
        {"/finance", 0, 0},
        {"a//b", 0, 0},
        {"a/", 0, 0},
        {" ", 0, 0},
        {"Accounts payable", 0, 0},
        {"$SYS/broker/load", 0, 0},
        {"caf\xc3\xa9/\xe2\x82\xac", 0, 0},
        {"", 0, MQTT_ETOPIC},
        {"+", 0, MQTT_ETOPIC},
        {"#", 0, MQTT_ETOPIC},
        {"a/+", 0, MQTT_ETOPIC},
        {"a/#", 0, MQTT_ETOPIC},
        {"a#b", 0, MQTT_ETOPIC},
        {"sport+", 0, MQTT_ETOPIC},
        {"a\0b", 3, MQTT_EUTF8},             /* U+0000 [MQTT-4.7.3-2] */
        {"a\xff", 0, MQTT_EUTF8},            /* not UTF-8 */
        {"\xc0\x80", 0, MQTT_EUTF8},         /* overlong NUL */
        {"\xed\xa0\x80", 0, MQTT_EUTF8},     /* surrogate [MQTT-1.5.3-1] */
        {"\xf4\x90\x80\x80", 0, MQTT_EUTF8}, /* above U+10FFFF */
        {"\xe2\x82", 0, MQTT_EUTF8},         /* truncated sequence */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct check_case *c = &cases[i];
        int got = mqtt_topic_name_check(c->s, case_len(c));
        if (got != c->want) {
            fail_msg("topic %zu \"%s\": got %d want %d", i, c->s, got, c->want);
        }
    }
}

static void topic_filters(void **state)
{
    static const struct check_case cases[] = {
        {"#", 0, 0},
        {"+", 0, 0},
        {"sport/tennis/#", 0, 0},
        {"sport/+/player1", 0, 0},
        {"sport/tennis/player1/#", 0, 0},
        {"+/+", 0, 0},
        {"/+", 0, 0},
        {"+/tennis/#", 0, 0},
        {"sport/+", 0, 0},
        {"+/#", 0, 0},
        {"a//b", 0, 0},
        {"/", 0, 0},
        {"$SYS/#", 0, 0},
        {"+/+/+", 0, 0},
        {"a/b", 0, 0},
        {"", 0, MQTT_EFILTER},
        {"sport/tennis#", 0, MQTT_EFILTER},
        {"sport/tennis/#/ranking", 0, MQTT_EFILTER},
        {"sport+", 0, MQTT_EFILTER},
        {"a/b+", 0, MQTT_EFILTER},
        {"+a", 0, MQTT_EFILTER},
        {"a/++", 0, MQTT_EFILTER},
        {"##", 0, MQTT_EFILTER},
        {"#/", 0, MQTT_EFILTER},
        {"#/a", 0, MQTT_EFILTER},
        {"a/#b", 0, MQTT_EFILTER},
        {"a/#/", 0, MQTT_EFILTER},
        {"+#", 0, MQTT_EFILTER},
        {"a\0/#", 4, MQTT_EUTF8},
        {"a/\xfe", 0, MQTT_EUTF8},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct check_case *c = &cases[i];
        int got = mqtt_topic_filter_check(c->s, case_len(c));
        if (got != c->want) {
            fail_msg("filter %zu \"%s\": got %d want %d", i, c->s, got, c->want);
        }
    }
}

static void length_limits(void **state)
{
    char *s = malloc(65536);
    assert_non_null(s);
    memset(s, 'a', 65536);
    assert_int_equal(mqtt_topic_name_check(s, 65535), 0);
    assert_int_equal(mqtt_topic_name_check(s, 65536), MQTT_ETOPIC);
    assert_int_equal(mqtt_topic_filter_check(s, 65535), 0);
    assert_int_equal(mqtt_topic_filter_check(s, 65536), MQTT_EFILTER);
    s[65533] = '/';
    s[65534] = '#';
    assert_int_equal(mqtt_topic_filter_check(s, 65535), 0);
    assert_int_equal(mqtt_topic_name_check(s, 65535), MQTT_ETOPIC);
    free(s);
}

struct match_case {
    const char *filter;
    const char *topic;
    bool want;
};

static void matching(void **state)
{
    static const struct match_case cases[] = {
        /* Section 4.7.1.2 */
        {"sport/tennis/player1/#", "sport/tennis/player1", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
        {"sport/tennis/player1/#", "sport/tennis/player2", false},
        {"sport/tennis/player1/#", "sport/tennis", false},
        {"sport/#", "sport", true},
        {"#", "sport/tennis/player1", true},
        {"#", "/", true},
        {"#", "a", true},
        /* Section 4.7.1.3 */
        {"sport/tennis/+", "sport/tennis/player1", true},
        {"sport/tennis/+", "sport/tennis/player2", true},
        {"sport/tennis/+", "sport/tennis/player1/ranking", false},
        {"sport/+", "sport", false},
        {"sport/+", "sport/", true},
        {"+/+", "/finance", true},
        {"/+", "/finance", true},
        {"+", "/finance", false},
        {"+/tennis/#", "sport/tennis/player1", true},
        {"+/tennis/#", "sport/tennis", true},
        {"+/tennis/#", "sport/golf", false},
        /* Section 4.7.2: '$' topics and wildcards [MQTT-4.7.2-1] */
        {"#", "$SYS/monitor/Clients", false},
        {"+/monitor/Clients", "$SYS/monitor/Clients", false},
        {"$SYS/#", "$SYS/monitor/Clients", true},
        {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
        {"$SYS/#", "$SYS", true},
        {"+/#", "$SYS", false},
        {"+", "$", false},
        {"#", "$", false},
        {"$SYS", "$SYS", true},
        {"+/b", "$a/b", false},
        {"a/+", "a/$b", true}, /* the rule is about the first level only */
        {"a/#", "a/$b/c", true},
        {"#", "a/$b", true},
        /* Section 4.7.3: exact, case-sensitive bytes */
        {"ACCOUNTS", "Accounts", false},
        {"Accounts payable", "Accounts payable", true},
        {"/", "/", true},
        {"/", "", false},
        /* Levels */
        {"a/b", "a/b/", false},
        {"a/b/", "a/b", false},
        {"a/+/c", "a//c", true},
        {"a//c", "a/b/c", false},
        {"a/#", "a", true},
        {"a/#", "ab", false},
        {"a/#", "a/", true},
        {"a", "a/b", false},
        {"a/b", "a", false},
        {"a/b", "ab", false},
        {"ab", "a/b", false},
        {"+/+/#", "a", false},
        {"+/+/#", "a/b", true},
        {"+/+", "a/b/c", false},
        {"+", "a", true},
        {"+/", "a/", true},
        {"+/", "a", false},
        {"//+", "//", true},
        {"a/b/c", "a/b/c", true},
        {"a/b/c", "a/b/d", false},
        {"a/bc", "a/b", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct match_case *c = &cases[i];
        assert_int_equal(mqtt_topic_filter_check(c->filter, strlen(c->filter)), 0);
        bool got = mqtt_topic_match(c->filter, strlen(c->filter), c->topic, strlen(c->topic));
        if (got != c->want) {
            fail_msg("case %zu: \"%s\" vs \"%s\": got %d", i, c->filter, c->topic, got);
        }
    }
}

static void collect_levels(const char *s, char out[][16], size_t *n)
{
    struct mqtt_level_iter it;
    struct mqtt_str l;
    *n = 0;
    mqtt_level_iter_init(&it, s, strlen(s));
    while (mqtt_level_iter_next(&it, &l)) {
        assert_true(l.len < 16);
        memcpy(out[*n], l.ptr, l.len);
        out[*n][l.len] = 0;
        (*n)++;
    }
    assert_false(mqtt_level_iter_next(&it, &l));
}

static void levels(void **state)
{
    char lv[8][16];
    size_t n;
    collect_levels("a/bc/d", lv, &n);
    assert_int_equal(n, 3);
    assert_string_equal(lv[0], "a");
    assert_string_equal(lv[1], "bc");
    assert_string_equal(lv[2], "d");
    collect_levels("/", lv, &n);
    assert_int_equal(n, 2);
    assert_string_equal(lv[0], "");
    assert_string_equal(lv[1], "");
    collect_levels("", lv, &n);
    assert_int_equal(n, 1);
    assert_string_equal(lv[0], "");
    collect_levels("a//", lv, &n);
    assert_int_equal(n, 3);
    assert_string_equal(lv[0], "a");
    assert_string_equal(lv[1], "");
    assert_string_equal(lv[2], "");
    collect_levels("sport/+/#", lv, &n);
    assert_int_equal(n, 3);
    assert_string_equal(lv[1], "+");
    assert_string_equal(lv[2], "#");
    /* A NULL, empty string is one empty level, not a crash. */
    struct mqtt_level_iter it;
    struct mqtt_str l;
    mqtt_level_iter_init(&it, NULL, 0);
    assert_true(mqtt_level_iter_next(&it, &l));
    assert_int_equal(l.len, 0);
    assert_false(mqtt_level_iter_next(&it, &l));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(topic_names),   cmocka_unit_test(topic_filters),
        cmocka_unit_test(length_limits), cmocka_unit_test(matching),
        cmocka_unit_test(levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
