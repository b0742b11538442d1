/* The subscription tree: an index from topic filters to subscribers.
 *
 * A trie by topic level: each node has literal children (a small array, or a hash map
 * once it has more than a few, see kids.h), one '+' child and one '#' child, and the
 * subscriptions whose filter ends at it. A subscriber is an opaque pointer chosen by the
 * caller (a session, or a handle for a session on another worker); the tree never
 * dereferences it. For each subscriber the tree keeps a record listing its subscriptions,
 * so mqtt_tree_remove_all drops a session's subscriptions in time proportional to their
 * number, and the caller need not remember its filters.
 *
 * Matching calls back once per distinct subscriber with the maximum QoS of all of its
 * matching subscriptions [MQTT-3.3.5-1]. Duplicates are found with a generation counter:
 * each match bumps the tree's counter, and a subscriber's record is marked with it when
 * first seen. The subscribers found are gathered in a scratch array owned by the tree,
 * which grows to the largest match seen and is then reused, so a match allocates nothing
 * in the steady state. See docs/design/mqtt-codec.md for complexity and memory.
 *
 * Not thread-safe, and not reentrant: each broker worker owns its own tree, and no
 * callback may call into the tree it was called from.
 */
#ifndef CERTGATE_MQTT_TREE_H
#define CERTGATE_MQTT_TREE_H

#include <stddef.h>
#include <stdint.h>

struct mqtt_tree;

struct mqtt_tree_stats {
    size_t nodes;         /* trie nodes, the root included */
    size_t subscriptions; /* (filter, subscriber) pairs */
    size_t subscribers;   /* distinct subscribers with at least one subscription */
};

/* mqtt_tree_new: an empty tree, or NULL when out of memory. The caller owns it. */
struct mqtt_tree *mqtt_tree_new(void);

/* mqtt_tree_free: free the tree and its records (never the subscribers). NULL is a no-op. */
void mqtt_tree_free(struct mqtt_tree *t);

/* mqtt_tree_insert: subscribe `subscriber` (non-NULL, borrowed) to filter[len] (copied)
 * with granted QoS qos (0..2). A subscriber has at most one subscription per filter: when
 * it already has this one, only its QoS is replaced [MQTT-3.8.4-3]. Returns 0 when added,
 * 1 when replaced, MQTT_EFILTER or MQTT_EUTF8 for an invalid filter, -EINVAL for a NULL
 * subscriber or qos > 2, -ENOMEM (tree unchanged). */
int mqtt_tree_insert(struct mqtt_tree *t, const char *filter, size_t len, void *subscriber,
                     uint8_t qos);

/* mqtt_tree_remove: remove the subscriber's subscription to exactly this filter (as given
 * in UNSUBSCRIBE: no wildcard expansion). 0, -ENOENT when it has none, MQTT_EFILTER or
 * MQTT_EUTF8 for an invalid filter. Nodes left empty are freed. */
int mqtt_tree_remove(struct mqtt_tree *t, const char *filter, size_t len, void *subscriber);

/* mqtt_tree_remove_all: remove every subscription of subscriber (for a session that ends
 * or is cleaned); returns how many there were (0 when none). */
int mqtt_tree_remove_all(struct mqtt_tree *t, void *subscriber);

/* mqtt_tree_subscriber_count: how many subscriptions subscriber has (for a per-session
 * cap). */
size_t mqtt_tree_subscriber_count(const struct mqtt_tree *t, void *subscriber);

/* mqtt_tree_match: find the subscribers with a filter matching topic[len] (a valid Topic
 * Name; borrowed) and call fn(subscriber, qos, arg) once for each, with the highest QoS
 * among its matching subscriptions; the caller then delivers at min(that, message QoS).
 * Filters starting with a wildcard do not match topics starting with '$' [MQTT-4.7.2-1].
 * The order of the calls is unspecified. fn returns 0 to go on; a non-zero value stops
 * the calls and is returned (use a negative one). fn must not call into the tree.
 * Returns the number of subscribers called back, the value returned by fn, or -ENOMEM
 * (when the scratch space could not grow; no callback was made). */
int mqtt_tree_match(struct mqtt_tree *t, const char *topic, size_t len,
                    int (*fn)(void *subscriber, uint8_t qos, void *arg), void *arg);

/* mqtt_tree_stats: counts of nodes, subscriptions and subscribers. */
void mqtt_tree_stats(const struct mqtt_tree *t, struct mqtt_tree_stats *st);

#endif
