/* Per-source-address connect-rate table (admission control).
 *
 * A bounded map from a source IP address to a token bucket (core/ratelimit.h). When the
 * table is full the least recently seen address is evicted, so memory stays bounded under
 * an address-spraying flood (such a flood is what the global connect rate is for). Keys:
 * the 4-byte IPv4 address (IPv4-mapped IPv6 addresses included) or the 16-byte IPv6
 * address. Not thread-safe: each worker owns its own tables.
 */
#ifndef CERTGATE_NET_ADDRLIMIT_H
#define CERTGATE_NET_ADDRLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct net_addrlimit;

/* net_addrlimit_new: a table allowing `rate` connects per second with bursts of `burst`
 * per address, remembering at most max_entries (>= 1) addresses. NULL on -ENOMEM. */
struct net_addrlimit *net_addrlimit_new(double rate, double burst, size_t max_entries);

/* net_addrlimit_free: NULL is a no-op. */
void net_addrlimit_free(struct net_addrlimit *t);

/* net_addrlimit_take: take one token for the address of sa at monotonic time now_ms.
 * true: admit. false: over the limit, or the table could not allocate (fail closed).
 * Addresses of other families (AF_UNIX) are always admitted. */
bool net_addrlimit_take(struct net_addrlimit *t, const struct sockaddr *sa, int64_t now_ms);

/* net_addrlimit_count: addresses currently remembered. */
size_t net_addrlimit_count(const struct net_addrlimit *t);

#endif
