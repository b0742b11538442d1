#include "core/ratelimit.h"

void ratelimit_init(struct ratelimit *rl, double rate, double burst)
{
    rl->rate = rate;
    rl->burst = burst < 1 ? 1 : burst;
    rl->tokens = rl->burst;
    rl->last_ms = -1;
    rl->refused = 0;
}

static void refill(struct ratelimit *rl, int64_t now_ms)
{
    if (rl->last_ms >= 0 && now_ms > rl->last_ms) {
        rl->tokens += (double)(now_ms - rl->last_ms) * rl->rate / 1000.0;
        if (rl->tokens > rl->burst) {
            rl->tokens = rl->burst;
        }
    }
    if (rl->last_ms < 0 || now_ms > rl->last_ms) {
        rl->last_ms = now_ms;
    }
}

bool ratelimit_take(struct ratelimit *rl, int64_t now_ms)
{
    if (rl->rate <= 0) {
        return true;
    }
    refill(rl, now_ms);
    if (rl->tokens >= 1.0) {
        rl->tokens -= 1.0;
        return true;
    }
    rl->refused++;
    return false;
}

bool ratelimit_peek(struct ratelimit *rl, int64_t now_ms)
{
    if (rl->rate <= 0) {
        return true;
    }
    refill(rl, now_ms);
    return rl->tokens >= 1.0;
}
