/* MQTT 3.1.1 topic names and topic filters (section 4.7).
 *
 * A topic is a sequence of levels separated by '/'; levels may be empty ("/a" has the
 * levels "" and "a"). A Topic Name (what PUBLISH carries) has no wildcard characters; a
 * Topic Filter (what SUBSCRIBE carries) may use '+' for exactly one level and '#' for any
 * number of trailing levels, each alone in its level, '#' only as the last level. Both are
 * 1..65535 bytes of well-formed UTF-8 without U+0000 [MQTT-4.7.3-1], [MQTT-1.5.3-2].
 * Matching is by exact bytes (case-sensitive, no normalisation) [MQTT-4.7.3-4].
 *
 * Pure functions over caller-owned bytes; no allocation; thread-safe.
 */
#ifndef CERTGATE_MQTT_TOPIC_H
#define CERTGATE_MQTT_TOPIC_H

#include "mqtt/slice.h"

#include <stdbool.h>
#include <stddef.h>

/* Longest topic name or filter: its length is a 16-bit field. */
#define MQTT_TOPIC_MAX 65535

/* mqtt_topic_name_check: whether s[len] is a valid Topic Name. 0, MQTT_EUTF8 (ill-formed
 * UTF-8 or U+0000), or MQTT_ETOPIC (empty, longer than MQTT_TOPIC_MAX, or containing '+'
 * or '#' [MQTT-4.7.1-1]). */
int mqtt_topic_name_check(const char *s, size_t len);

/* mqtt_topic_filter_check: whether s[len] is a valid Topic Filter. 0, MQTT_EUTF8, or
 * MQTT_EFILTER (empty, too long, '#' not alone in the last level [MQTT-4.7.1-2], '+' not
 * alone in its level [MQTT-4.7.1-3]). */
int mqtt_topic_filter_check(const char *s, size_t len);

/* mqtt_topic_match: whether the topic name matches the filter, including the rule that a
 * filter starting with a wildcard does not match a topic starting with '$'
 * [MQTT-4.7.2-1]. Both must be valid (checked above); on invalid input the result is
 * unspecified but the function stays within the given bytes. */
bool mqtt_topic_match(const char *filter, size_t flen, const char *topic, size_t tlen);

/* Iterating over the levels of a topic or filter: a string with k '/' has k+1 levels;
 * the empty string has one empty level.
 *
 *   struct mqtt_level_iter it;
 *   struct mqtt_str level;
 *   mqtt_level_iter_init(&it, s, len);
 *   while (mqtt_level_iter_next(&it, &level)) { ... }
 *
 * The levels point into s. */
struct mqtt_level_iter {
    const char *s;
    size_t len;
    size_t pos; /* start of the next level */
    bool done;  /* the last level was returned */
};

/* mqtt_level_iter_init: start iterating over the levels of s[len] (borrowed). */
void mqtt_level_iter_init(struct mqtt_level_iter *it, const char *s, size_t len);

/* mqtt_level_iter_next: the next level into *level; false when there is none left. */
bool mqtt_level_iter_next(struct mqtt_level_iter *it, struct mqtt_str *level);

#endif
