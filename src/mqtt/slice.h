/* Borrowed byte ranges used throughout the MQTT layer.
 *
 * A slice never owns its bytes: it points into memory owned by someone else (a received
 * packet, a caller's string) and is valid only as long as that memory is. Strings are not
 * NUL-terminated. Types only; no functions.
 */
#ifndef CERTGATE_MQTT_SLICE_H
#define CERTGATE_MQTT_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A UTF-8 string field (topic, filter, client identifier, user name). */
struct mqtt_str {
    const char *ptr; /* may be NULL when len is 0 */
    size_t len;
};

/* A binary field (payload, will message, password). */
struct mqtt_bytes {
    const uint8_t *ptr; /* may be NULL when len is 0 */
    size_t len;
};

/* MQTT_STR("literal"): a slice of a string literal, without its NUL. */
#define MQTT_STR(lit) ((struct mqtt_str){(lit), sizeof(lit) - 1})

/* mqtt_str_c: a slice of a NUL-terminated C string (NULL gives an empty slice). */
static inline struct mqtt_str mqtt_str_c(const char *s)
{
    struct mqtt_str r = {s, s ? strlen(s) : 0};
    return r;
}

/* mqtt_str_eq: whether two slices hold the same bytes. */
static inline bool mqtt_str_eq(struct mqtt_str a, struct mqtt_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

#endif
