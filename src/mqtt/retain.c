#include "mqtt/retain.h"

#include "mqtt/error.h"
#include "mqtt/kids.h"
#include "mqtt/topic.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One retained message: the view handed to callbacks, then topic and payload bytes. */
struct rmsg {
    struct mqtt_retained view;
    size_t size; /* bytes counted against the cap: topic + payload */
    uint8_t data[];
};

struct rnode {
    struct rnode *parent;
    struct mqtt_kids kids;
    struct rmsg *msg; /* retained for the topic ending here, or NULL */
    size_t lvl_len;
    char lvl[];
};

/* Walk state: a node and the offset of the next filter level to match below it. */
#define OFF_DONE SIZE_MAX      /* the filter is consumed: the node itself matches */
#define OFF_ALL (SIZE_MAX - 1) /* inside a '#': the node and its whole subtree match */
struct item {
    struct rnode *node;
    size_t off;
};

struct mqtt_retain {
    struct rnode *root;
    size_t max_messages;
    size_t max_bytes;
    size_t count;
    size_t bytes;
    struct item *stack; /* scratch for mqtt_retain_match, kept between calls */
    size_t cap_stack;
};

static struct rnode *rnode_new(const char *lvl, size_t len)
{
    struct rnode *n = calloc(1, sizeof(*n) + len);
    if (n == NULL) {
        return NULL;
    }
    mqtt_kids_init(&n->kids);
    n->lvl_len = len;
    if (len > 0) {
        memcpy(n->lvl, lvl, len);
    }
    return n;
}

static void rnode_free(struct rnode *n)
{
    mqtt_kids_cleanup(&n->kids);
    free(n->msg);
    free(n);
}

struct mqtt_retain *mqtt_retain_new(size_t max_messages, size_t max_bytes)
{
    struct mqtt_retain *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->root = rnode_new(NULL, 0);
    if (r->root == NULL) {
        free(r);
        return NULL;
    }
    r->max_messages = max_messages;
    r->max_bytes = max_bytes;
    return r;
}

static int first_child(void *child, void *arg)
{
    *(struct rnode **)arg = child;
    return 1;
}

void mqtt_retain_free(struct mqtt_retain *r)
{
    if (r == NULL) {
        return;
    }
    /* Post-order without recursion: topics may have 32768 levels. */
    struct rnode *n = r->root;
    while (n != NULL) {
        struct rnode *child = NULL;
        if (mqtt_kids_each(&n->kids, first_child, &child) != 0) {
            mqtt_kids_del(&n->kids, child->lvl, child->lvl_len);
            n = child;
            continue;
        }
        struct rnode *parent = n->parent;
        rnode_free(n);
        n = parent;
    }
    free(r->stack);
    free(r);
}

/* The node for topic[tlen]; created along the way when `create`. NULL when absent or out
 * of memory; then *deepest (if not NULL) is the last node reached, for pruning. */
static struct rnode *find(struct mqtt_retain *r, const char *topic, size_t tlen, bool create,
                          struct rnode **deepest)
{
    struct mqtt_level_iter it;
    struct mqtt_str l;
    struct rnode *n = r->root;
    mqtt_level_iter_init(&it, topic, tlen);
    while (mqtt_level_iter_next(&it, &l)) {
        struct rnode *c = mqtt_kids_get(&n->kids, l.ptr, l.len);
        if (c == NULL && create) {
            c = rnode_new(l.ptr, l.len);
            if (c != NULL && mqtt_kids_put(&n->kids, c->lvl, c->lvl_len, c) < 0) {
                rnode_free(c);
                c = NULL;
            }
            if (c != NULL) {
                c->parent = n;
            }
        }
        if (c == NULL) {
            if (deepest != NULL) {
                *deepest = n;
            }
            return NULL;
        }
        n = c;
    }
    return n;
}

/* Free n and its ancestors as long as they hold nothing. */
static void prune(struct mqtt_retain *r, struct rnode *n)
{
    while (n != r->root && n->msg == NULL && n->kids.n == 0) {
        struct rnode *p = n->parent;
        mqtt_kids_del(&p->kids, n->lvl, n->lvl_len);
        rnode_free(n);
        n = p;
    }
}

int mqtt_retain_set(struct mqtt_retain *r, const char *topic, size_t tlen, const void *payload,
                    size_t plen, uint8_t qos)
{
    struct rmsg *m = NULL;
    int rc = mqtt_topic_name_check(topic, tlen);
    if (rc < 0) {
        return rc;
    }
    if (qos > 2) {
        return -EINVAL;
    }
    struct rnode *n = find(r, topic, tlen, false, NULL);
    struct rmsg *old = n != NULL ? n->msg : NULL;
    if (plen == 0) {
        if (old != NULL) {
            r->count--;
            r->bytes -= old->size;
            free(old);
            n->msg = NULL;
            prune(r, n);
        }
        return 0;
    }
    /* Cap check without overflow: plen may be anything, tlen <= 65535. */
    size_t base = r->bytes - (old != NULL ? old->size : 0);
    if ((old == NULL && r->count >= r->max_messages) || plen > r->max_bytes ||
        tlen > r->max_bytes - plen || base > r->max_bytes - plen - tlen) {
        return MQTT_ERETAINFULL;
    }
    if (plen > SIZE_MAX - sizeof(*m) - tlen) {
        return -ENOMEM;
    }
    m = malloc(sizeof(*m) + tlen + plen);
    if (m == NULL) {
        return -ENOMEM;
    }
    memcpy(m->data, topic, tlen);
    memcpy(m->data + tlen, payload, plen);
    m->view.topic.ptr = (const char *)m->data;
    m->view.topic.len = tlen;
    m->view.payload.ptr = m->data + tlen;
    m->view.payload.len = plen;
    m->view.qos = qos;
    m->size = tlen + plen;
    if (n == NULL) {
        struct rnode *deepest = r->root;
        n = find(r, topic, tlen, true, &deepest);
        if (n == NULL) {
            prune(r, deepest);
            free(m);
            return -ENOMEM;
        }
    }
    if (old != NULL) {
        r->bytes -= old->size;
        r->count--;
        free(old);
    }
    n->msg = m;
    r->bytes += m->size;
    r->count++;
    return 0;
}

int mqtt_retain_get(const struct mqtt_retain *r, const char *topic, size_t tlen,
                    struct mqtt_retained *out)
{
    struct rnode *n = find((struct mqtt_retain *)r, topic, tlen, false, NULL);
    if (n == NULL || n->msg == NULL) {
        return -ENOENT;
    }
    *out = n->msg->view;
    return 0;
}

struct walk {
    struct mqtt_retain *r;
    size_t depth; /* items on the stack */
    size_t off;   /* offset to push children with */
    bool skip_dollar;
};

static int push(struct walk *w, struct rnode *n, size_t off)
{
    struct mqtt_retain *r = w->r;
    if (w->depth == r->cap_stack) {
        size_t cap = r->cap_stack ? r->cap_stack * 2 : 32;
        struct item *s = realloc(r->stack, cap * sizeof(*s));
        if (s == NULL) {
            return -ENOMEM;
        }
        r->stack = s;
        r->cap_stack = cap;
    }
    r->stack[w->depth].node = n;
    r->stack[w->depth].off = off;
    w->depth++;
    return 0;
}

static int push_child(void *child, void *arg)
{
    struct walk *w = arg;
    struct rnode *c = child;
    if (w->skip_dollar && c->lvl_len > 0 && c->lvl[0] == '$') {
        return 0; /* [MQTT-4.7.2-1] */
    }
    return push(w, c, w->off);
}

static int push_children(struct walk *w, struct rnode *n, size_t off, bool wildcard)
{
    w->off = off;
    w->skip_dollar = wildcard && n == w->r->root;
    return mqtt_kids_each(&n->kids, push_child, w);
}

int mqtt_retain_match(struct mqtt_retain *r, const char *filter, size_t flen,
                      int (*fn)(const struct mqtt_retained *msg, void *arg), void *arg)
{
    struct walk w = {r, 0, 0, false};
    size_t found = 0;
    int rc = mqtt_topic_filter_check(filter, flen);
    if (rc < 0) {
        return rc;
    }
    /* Depth-first with an explicit stack (no recursion on 32768-level topics). */
    if (push(&w, r->root, 0) < 0) {
        return -ENOMEM;
    }
    while (w.depth > 0) {
        struct item it = r->stack[--w.depth];
        struct rnode *n = it.node;
        bool emit = false;
        rc = 0;
        if (it.off == OFF_DONE) {
            emit = true;
        } else if (it.off == OFF_ALL) {
            emit = true;
            rc = push_children(&w, n, OFF_ALL, false);
        } else {
            const char *lvl = filter + it.off;
            const char *slash = memchr(lvl, '/', flen - it.off);
            size_t len = slash != NULL ? (size_t)(slash - lvl) : flen - it.off;
            size_t next = slash != NULL ? it.off + len + 1 : OFF_DONE;
            if (len == 1 && lvl[0] == '#') {
                emit = true; /* '#' includes the parent level */
                rc = push_children(&w, n, OFF_ALL, true);
            } else if (len == 1 && lvl[0] == '+') {
                rc = push_children(&w, n, next, true);
            } else {
                struct rnode *c = mqtt_kids_get(&n->kids, lvl, len);
                rc = c != NULL ? push(&w, c, next) : 0;
            }
        }
        if (rc < 0) {
            return rc;
        }
        if (emit && n->msg != NULL) {
            found++;
            rc = fn(&n->msg->view, arg);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return found > INT_MAX ? INT_MAX : (int)found;
}

size_t mqtt_retain_count(const struct mqtt_retain *r)
{
    return r->count;
}

size_t mqtt_retain_bytes(const struct mqtt_retain *r)
{
    return r->bytes;
}
