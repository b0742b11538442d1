/* Verified-credential cache: remembers for a short time that a (tenant, user, password)
 * triple passed password_verify, so a keep-alive client sending Basic credentials on
 * every request pays the argon2 cost once per TTL instead of once per request.
 *
 * What is stored: per (tenant, user), the HMAC-SHA256 of tenant, user and password under
 * a random key made when the cache is created (never written anywhere), and an expiry
 * time. The password itself is never stored, and the MAC cannot be checked offline by
 * anyone who reads process memory without the key either. A lookup with another password
 * misses (constant-time MAC comparison) and does not disturb the entry.
 *
 * Expiry: TTL from the moment of the put (a hit does not extend it). Invalidation: by
 * user (password changed, user disabled or deleted), by tenant, or everything. Capacity:
 * at most max_entries users; the entry closest to expiry is evicted first.
 *
 * Threads: every function may be called from any thread; one mutex guards the table.
 * Times are the caller's monotonic milliseconds (time_mono_ms()).
 */
#ifndef CERTGATE_AUTH_CREDCACHE_H
#define CERTGATE_AUTH_CREDCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default TTL and capacity. */
#define CREDCACHE_DEFAULT_TTL_MS 60000
#define CREDCACHE_DEFAULT_MAX 10000
/* tenant and user names longer than this are never cached (put refuses, check misses). */
#define CREDCACHE_NAME_MAX 255

struct credcache;

/* credcache_new: an empty cache. ttl_ms > 0, max_entries > 0. NULL on allocation
 * failure, bad arguments, or if the random key cannot be made. */
struct credcache *credcache_new(size_t max_entries, int64_t ttl_ms);

/* credcache_free: zero the key and free everything. NULL is a no-op. No other thread may
 * use the cache any more. */
void credcache_free(struct credcache *cc);

/* credcache_check: true only if (tenant, user, pw[len]) was put within the TTL and not
 * invalidated since. Any thread. */
bool credcache_check(struct credcache *cc, const char *tenant, const char *user, const char *pw,
                     size_t len, int64_t now_ms);

/* credcache_put: remember that (tenant, user, pw[len]) was just verified, replacing any
 * earlier entry of that user. Call only after password_verify returned 0 for exactly
 * these values. 0, -EINVAL (empty or over-long names, pw longer than 1024 bytes) or
 * -ENOMEM / CG_ECRYPTO (nothing cached; harmless). Any thread. */
int credcache_put(struct credcache *cc, const char *tenant, const char *user, const char *pw,
                  size_t len, int64_t now_ms);

/* credcache_invalidate_user: forget the user's entry. Any thread. */
void credcache_invalidate_user(struct credcache *cc, const char *tenant, const char *user);

/* credcache_invalidate_tenant: forget every entry of the tenant. O(entries). Any thread. */
void credcache_invalidate_tenant(struct credcache *cc, const char *tenant);

/* credcache_flush: forget everything (e.g. after a bulk change of users). Any thread. */
void credcache_flush(struct credcache *cc);

/* credcache_count: entries held, expired ones not yet dropped included. Any thread. */
size_t credcache_count(struct credcache *cc);

#endif
