/* Routing: the retained store and the fan-out of a PUBLISH to the matching sessions of its
 * tenant, using the calling worker's replica of the subscription tree (no global lock).
 */
#define LOG_MODULE "broker"

#include "broker/broker_int.h"

#include "core/log.h"

#include <stdlib.h>
#include <string.h>

struct route_ctx {
    struct bworker *w;
    struct bmsg *m;
    const char *topic;
    size_t tlen;
    const void *payload;
    size_t plen;
    uint8_t qos;
    const struct bwaiter *waiter;
    int blocked;
    int err;
};

static int deliver_cb(void *subscriber, uint8_t qos, void *arg)
{
    struct route_ctx *ctx = arg;
    if (ctx->m == NULL) {
        ctx->m = bmsg_new(ctx->topic, ctx->tlen, ctx->payload, ctx->plen, ctx->qos);
        if (ctx->m == NULL) {
            ctx->err = -ENOMEM;
            return -ENOMEM;
        }
    }
    /* Delivered at the lower of the publish QoS and the granted QoS [MQTT-3.8.4-6]. */
    uint8_t dq = qos < ctx->qos ? qos : ctx->qos;
    if (sess_enqueue(ctx->w, subscriber, ctx->m, dq, false, ctx->waiter) == 1) {
        ctx->blocked = 1;
    }
    return 0;
}

int route_publish(struct bworker *w, struct btenant *t, const char *topic, size_t tlen,
                  const void *payload, size_t plen, uint8_t qos, bool retain,
                  const struct bwaiter *waiter)
{
    if (retain && t->retain != NULL) {
        pthread_mutex_lock(&t->retain_lock);
        int rc = mqtt_retain_set(t->retain, topic, tlen, payload, plen, qos);
        pthread_mutex_unlock(&t->retain_lock);
        if (rc < 0) {
            bworker_log(w, "tenant %s: message on '%.*s' not retained: %s", t->id,
                        (int)(tlen > 200 ? 200 : tlen), topic, mqtt_strerror(rc));
        }
    }
    struct mqtt_tree *tree = t->w[w->index].tree;
    if (tree == NULL) {
        return 0;
    }
    struct route_ctx ctx = {.w = w,
                            .topic = topic,
                            .tlen = tlen,
                            .payload = payload,
                            .plen = plen,
                            .qos = qos,
                            .waiter = waiter};
    int rc = mqtt_tree_match(tree, topic, tlen, deliver_cb, &ctx);
    bmsg_unref(ctx.m);
    if (ctx.err < 0 || rc == -ENOMEM) {
        return -ENOMEM;
    }
    return ctx.blocked;
}

struct retained_ctx {
    struct bmsg **v;
    size_t n, cap;
    bool oom;
};

static int collect_cb(const struct mqtt_retained *msg, void *arg)
{
    struct retained_ctx *rc = arg;
    if (rc->n == rc->cap) {
        size_t cap = rc->cap ? rc->cap * 2 : 8;
        struct bmsg **v = realloc(rc->v, cap * sizeof(*v));
        if (v == NULL) {
            rc->oom = true;
            return -ENOMEM;
        }
        rc->v = v;
        rc->cap = cap;
    }
    struct bmsg *m =
        bmsg_new(msg->topic.ptr, msg->topic.len, msg->payload.ptr, msg->payload.len, msg->qos);
    if (m == NULL) {
        rc->oom = true;
        return -ENOMEM;
    }
    rc->v[rc->n++] = m;
    return 0;
}

void route_retained(struct bworker *w, struct bsess *s, const char *filter, size_t flen,
                    uint8_t qos)
{
    struct btenant *t = s->t;
    if (t->retain == NULL) {
        return;
    }
    struct retained_ctx ctx = {0};
    pthread_mutex_lock(&t->retain_lock);
    if (mqtt_retain_count(t->retain) > 0) {
        mqtt_retain_match(t->retain, filter, flen, collect_cb, &ctx);
    }
    pthread_mutex_unlock(&t->retain_lock);
    if (ctx.oom) {
        log_error("tenant %s: retained messages not delivered (out of memory)", t->id);
    }
    for (size_t i = 0; i < ctx.n; i++) {
        struct bmsg *m = ctx.v[i];
        sess_enqueue(w, s, m, m->qos < qos ? m->qos : qos, true, NULL);
        bmsg_unref(m);
    }
    free(ctx.v);
}
