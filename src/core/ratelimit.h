/* Token-bucket rate limiting (per-source tables of buckets live with their users, e.g.
 * net/addrlimit.h).
 *
 * A bucket holds up to `burst` tokens and refills at `rate` tokens per second. Not
 * thread-safe by itself: each bucket or table belongs to one thread, or the caller locks.
 */
#ifndef CERTGATE_CORE_RATELIMIT_H
#define CERTGATE_CORE_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct ratelimit {
    double rate;      /* tokens per second; <= 0 means unlimited */
    double burst;     /* bucket size */
    double tokens;    /* current tokens */
    int64_t last_ms;  /* last refill, monotonic ms */
    uint64_t refused; /* calls answered false since init */
};

/* ratelimit_init: a full bucket. rate <= 0 disables the limit. */
void ratelimit_init(struct ratelimit *rl, double rate, double burst);

/* ratelimit_take: take one token at monotonic time now_ms; false when none is left. */
bool ratelimit_take(struct ratelimit *rl, int64_t now_ms);

/* ratelimit_peek: whether a token is available, without taking it. */
bool ratelimit_peek(struct ratelimit *rl, int64_t now_ms);

#endif
