/* The retained-message store: at most one message per topic name, looked up by filter.
 *
 * A trie by topic level (the same shape as the subscription tree, without wildcard
 * children); a node holds the message retained for the topic that ends at it. Looking up
 * a filter walks the trie: a literal level follows one child, '+' every child, '#' the
 * whole subtree (and the node itself: "a/#" matches "a"). Wildcards in the first level do
 * not reach topics starting with '$' [MQTT-4.7.2-1].
 *
 * The store owns copies of topics and payloads. Two caps bound it: the number of
 * messages and their bytes (topic length + payload length each; the store's own overhead
 * of roughly 150 bytes per message is not counted). Not thread-safe, not reentrant: one
 * owner, and no callback may call into the store it was called from.
 */
#ifndef CERTGATE_MQTT_RETAIN_H
#define CERTGATE_MQTT_RETAIN_H

#include "mqtt/slice.h"

#include <stddef.h>
#include <stdint.h>

struct mqtt_retain;

/* A retained message as shown to a callback: owned by the store, valid until the store
 * is next changed or freed. */
struct mqtt_retained {
    struct mqtt_str topic;
    struct mqtt_bytes payload; /* never empty */
    uint8_t qos;
};

/* mqtt_retain_new: an empty store holding at most max_messages messages and max_bytes
 * bytes (SIZE_MAX for no cap). NULL when out of memory. The caller owns it. */
struct mqtt_retain *mqtt_retain_new(size_t max_messages, size_t max_bytes);

/* mqtt_retain_free: free the store and every message. NULL is a no-op. */
void mqtt_retain_free(struct mqtt_retain *r);

/* mqtt_retain_set: retain payload[plen] (copied) with qos for topic[tlen] (copied),
 * replacing the message retained for that topic; an empty payload removes it instead
 * [MQTT-3.3.1-10]. Returns 0; MQTT_ETOPIC or MQTT_EUTF8 for an invalid topic name;
 * -EINVAL for qos > 2; MQTT_ERETAINFULL when storing it would exceed a cap (the previous
 * message, if any, is kept); -ENOMEM (store unchanged). Removing is always possible. */
int mqtt_retain_set(struct mqtt_retain *r, const char *topic, size_t tlen, const void *payload,
                    size_t plen, uint8_t qos);

/* mqtt_retain_get: the message retained for exactly topic[tlen] into *out; 0 or -ENOENT. */
int mqtt_retain_get(const struct mqtt_retain *r, const char *topic, size_t tlen,
                    struct mqtt_retained *out);

/* mqtt_retain_match: call fn(msg, arg) for every retained message whose topic matches
 * filter[flen], in unspecified order. fn returns 0 to go on; a non-zero value stops the
 * walk and is returned (use a negative one). fn must not change the store. Returns the
 * number of messages passed to fn, the value from fn, MQTT_EFILTER or MQTT_EUTF8 for an
 * invalid filter, or -ENOMEM (the scratch stack could not grow; some messages may already
 * have been passed to fn). */
int mqtt_retain_match(struct mqtt_retain *r, const char *filter, size_t flen,
                      int (*fn)(const struct mqtt_retained *msg, void *arg), void *arg);

/* mqtt_retain_count / mqtt_retain_bytes: messages held and the bytes counted against
 * the cap. */
size_t mqtt_retain_count(const struct mqtt_retain *r);
size_t mqtt_retain_bytes(const struct mqtt_retain *r);

#endif
