#include "mqtt/topic.h"

#include "core/str.h"
#include "mqtt/error.h"

#include <string.h>

int mqtt_topic_name_check(const char *s, size_t len)
{
    if (len == 0 || len > MQTT_TOPIC_MAX) {
        return MQTT_ETOPIC;
    }
    if (!utf8_valid((const uint8_t *)s, len, false)) {
        return MQTT_EUTF8;
    }
    /* '+' and '#' are ASCII, so they never occur inside a multi-byte UTF-8 sequence. */
    if (memchr(s, '+', len) != NULL || memchr(s, '#', len) != NULL) {
        return MQTT_ETOPIC;
    }
    return 0;
}

int mqtt_topic_filter_check(const char *s, size_t len)
{
    if (len == 0 || len > MQTT_TOPIC_MAX) {
        return MQTT_EFILTER;
    }
    if (!utf8_valid((const uint8_t *)s, len, false)) {
        return MQTT_EUTF8;
    }
    for (size_t i = 0; i < len; i++) {
        bool level_start = i == 0 || s[i - 1] == '/';
        bool level_end = i + 1 == len || s[i + 1] == '/';
        if (s[i] == '#' && !(level_start && i + 1 == len)) {
            return MQTT_EFILTER;
        }
        if (s[i] == '+' && !(level_start && level_end)) {
            return MQTT_EFILTER;
        }
    }
    return 0;
}

bool mqtt_topic_match(const char *filter, size_t flen, const char *topic, size_t tlen)
{
    size_t fi = 0, ti = 0;
    if (flen > 0 && (filter[0] == '+' || filter[0] == '#') && tlen > 0 && topic[0] == '$') {
        return false; /* [MQTT-4.7.2-1] */
    }
    for (;;) {
        /* Both fi and ti are at the start of a level. */
        if (fi < flen && filter[fi] == '#' && fi + 1 == flen) {
            return true; /* this and every following level */
        }
        if (fi < flen && filter[fi] == '+' && (fi + 1 == flen || filter[fi + 1] == '/')) {
            fi++;
            while (ti < tlen && topic[ti] != '/') {
                ti++;
            }
        } else {
            while (fi < flen && ti < tlen && filter[fi] != '/' && topic[ti] != '/') {
                if (filter[fi] != topic[ti]) {
                    return false;
                }
                fi++;
                ti++;
            }
            if ((fi < flen && filter[fi] != '/') || (ti < tlen && topic[ti] != '/')) {
                return false; /* one level is longer than the other */
            }
        }
        /* Both are at the end of a level: at a '/' or at the end of the string. */
        if (fi == flen && ti == tlen) {
            return true;
        }
        if (ti == tlen) {
            /* "a/#" matches "a": '#' also stands for the parent level [MQTT-4.7.1-2]. */
            return flen - fi == 2 && filter[fi + 1] == '#';
        }
        if (fi == flen) {
            return false;
        }
        fi++;
        ti++;
    }
}

void mqtt_level_iter_init(struct mqtt_level_iter *it, const char *s, size_t len)
{
    it->s = s;
    it->len = len;
    it->pos = 0;
    it->done = false;
}

bool mqtt_level_iter_next(struct mqtt_level_iter *it, struct mqtt_str *level)
{
    if (it->done) {
        return false;
    }
    size_t start = it->pos;
    const char *slash = NULL;
    if (start < it->len) {
        slash = memchr(it->s + start, '/', it->len - start);
    }
    size_t end = slash != NULL ? (size_t)(slash - it->s) : it->len;
    level->ptr = it->s != NULL ? it->s + start : NULL;
    level->len = end - start;
    if (slash == NULL) {
        it->done = true;
    } else {
        it->pos = end + 1;
    }
    return true;
}
