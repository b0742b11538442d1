/* Login-failure limiter: exponential back-off per key, bounded memory.
 *
 * The caller checks and records under two keys per attempt: one for the account
 * ("u:<tenant>/<user>") and one for the source ("ip:<address>"). A key may fail
 * `free_failures` times without delay; each further failure blocks it for base_delay,
 * then twice that, and so on up to max_delay. A success clears the key. A key with no
 * failure for `forget_after` (and no block in force) is forgotten.
 *
 * Memory: only failures create entries (checking an unknown key allocates nothing); at
 * most max_entries keys are kept. When the table is full, expired entries are swept and,
 * if it is still full, the least recently failed key is evicted (its back-off is lost:
 * an attacker who can fail from that many distinct keys could shorten some blocks; the
 * per-source key and the cap keep that bounded). Keys longer than LOGINLIMIT_KEY_MAX bytes
 * are replaced by their SHA-256, so an entry never holds more than that.
 *
 * Threads: every function may be called from any thread; one mutex guards the table.
 * Times are the caller's monotonic milliseconds (time_mono_ms()).
 */
#ifndef CERTGATE_AUTH_LOGINLIMIT_H
#define CERTGATE_AUTH_LOGINLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGINLIMIT_KEY_MAX 128

struct loginlimit_config {
    uint32_t free_failures;  /* failures allowed before any delay (e.g. 5) */
    int64_t base_delay_ms;   /* first delay (e.g. 1000) */
    int64_t max_delay_ms;    /* largest delay (e.g. 15 min) */
    int64_t forget_after_ms; /* an idle key is dropped after this (e.g. 1 h) */
    size_t max_entries;      /* cap on keys kept (e.g. 100000) */
};

struct loginlimit;

/* loginlimit_config_default: free 5, base 1 s, max 15 min, forget after 1 h, 100000 keys. */
void loginlimit_config_default(struct loginlimit_config *cfg);

/* loginlimit_new: an empty limiter with a copy of cfg. NULL on allocation failure or an
 * invalid config (base or max delay <= 0, max < base, forget <= 0, max_entries == 0). */
struct loginlimit *loginlimit_new(const struct loginlimit_config *cfg);

/* loginlimit_free: free the limiter. NULL is a no-op. No other thread may use it. */
void loginlimit_free(struct loginlimit *ll);

/* loginlimit_allowed: whether an attempt for `key` may proceed at now_ms (false while the
 * key is blocked). Does not record anything. Any thread. */
bool loginlimit_allowed(struct loginlimit *ll, const char *key, int64_t now_ms);

/* loginlimit_retry_after_ms: milliseconds until `key` is allowed again (0 if allowed now),
 * for a Retry-After header. Any thread. */
int64_t loginlimit_retry_after_ms(struct loginlimit *ll, const char *key, int64_t now_ms);

/* loginlimit_record_failure: count a failed attempt for `key` at now_ms and extend its
 * block. 0, or -ENOMEM (nothing recorded: the caller should deny anyway). Any thread. */
int loginlimit_record_failure(struct loginlimit *ll, const char *key, int64_t now_ms);

/* loginlimit_record_success: forget `key`'s failures. Any thread. */
void loginlimit_record_success(struct loginlimit *ll, const char *key);

/* loginlimit_count: keys currently tracked. Any thread. */
size_t loginlimit_count(struct loginlimit *ll);

#endif
