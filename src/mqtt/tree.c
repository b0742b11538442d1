#include "mqtt/tree.h"

#include "core/hmap.h"
#include "mqtt/error.h"
#include "mqtt/kids.h"
#include "mqtt/topic.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum node_kind { KIND_ROOT, KIND_LITERAL, KIND_PLUS, KIND_HASH };

struct client;
struct entry;

/* A subscription as seen from its node: what a match reads, kept contiguous. */
struct slot {
    struct client *client;
    struct entry *entry;
    uint8_t qos;
};

struct node {
    struct node *parent;
    struct node *plus; /* child for a '+' level */
    struct node *hash; /* child for a '#' level (a leaf) */
    struct mqtt_kids kids;
    struct slot *slots; /* the subscriptions whose filter ends here */
    uint32_t nslots;
    uint32_t capslots;
    uint16_t lvl_len; /* a level is at most 65535 bytes, as is the whole filter */
    uint8_t kind;     /* enum node_kind */
    char lvl[];       /* the level text of a literal node */
};

/* A subscription as seen from its subscriber: where to find its slot. */
struct entry {
    struct node *node;
    uint32_t idx; /* in node->slots */
    struct entry *prev;
    struct entry *next;
};

/* Everything the tree knows about one subscriber. */
struct client {
    void *subscriber;
    struct entry *entries;
    size_t nentries;
    uint64_t gen; /* the match that last saw this client */
    uint8_t qos;  /* highest QoS found in that match */
};

struct mqtt_tree {
    struct node *root;
    struct hmap *clients; /* subscriber pointer value -> struct client */
    size_t nodes;
    size_t subscriptions;
    uint64_t gen;
    /* Scratch space for matches, kept between calls. */
    struct client **hits;
    size_t cap_hits;
    struct node **front;
    size_t cap_front;
    struct node **next;
    size_t cap_next;
};

static struct node *node_new(struct mqtt_tree *t, enum node_kind kind, const char *lvl, size_t len)
{
    struct node *n = calloc(1, sizeof(*n) + len);
    if (n == NULL) {
        return NULL;
    }
    n->kind = (uint8_t)kind;
    n->lvl_len = (uint16_t)len;
    if (len > 0) {
        memcpy(n->lvl, lvl, len);
    }
    mqtt_kids_init(&n->kids);
    t->nodes++;
    return n;
}

static void node_free(struct mqtt_tree *t, struct node *n)
{
    mqtt_kids_cleanup(&n->kids);
    free(n->slots);
    free(n);
    t->nodes--;
}

struct mqtt_tree *mqtt_tree_new(void)
{
    struct mqtt_tree *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return NULL;
    }
    t->clients = hmap_new();
    t->root = node_new(t, KIND_ROOT, NULL, 0);
    if (t->clients == NULL || t->root == NULL) {
        hmap_free(t->clients);
        free(t->root);
        free(t);
        return NULL;
    }
    return t;
}

static int free_client(const void *key, size_t klen, void *value, void *arg)
{
    struct client *c = value;
    struct entry *e = c->entries;
    while (e != NULL) {
        struct entry *next = e->next;
        free(e);
        e = next;
    }
    free(c);
    return 0;
}

static int first_child(void *child, void *arg)
{
    *(struct node **)arg = child;
    return 1;
}

void mqtt_tree_free(struct mqtt_tree *t)
{
    if (t == NULL) {
        return;
    }
    hmap_iter(t->clients, free_client, NULL);
    hmap_free(t->clients);
    /* Post-order walk without recursion (a filter may have 32768 levels): detach a child
     * and descend into it; free a node once it has no children left. */
    struct node *n = t->root;
    while (n != NULL) {
        struct node *child = NULL;
        if (n->plus != NULL) {
            child = n->plus;
            n->plus = NULL;
        } else if (n->hash != NULL) {
            child = n->hash;
            n->hash = NULL;
        } else if (mqtt_kids_each(&n->kids, first_child, &child) != 0) {
            mqtt_kids_del(&n->kids, child->lvl, child->lvl_len);
        }
        if (child != NULL) {
            n = child;
            continue;
        }
        struct node *parent = n->parent;
        node_free(t, n);
        n = parent;
    }
    free(t->hits);
    free(t->front);
    free(t->next);
    free(t);
}

static struct client *client_get(const struct mqtt_tree *t, void *subscriber)
{
    return hmap_get(t->clients, &subscriber, sizeof(subscriber));
}

static bool is_plus(struct mqtt_str l)
{
    return l.len == 1 && l.ptr[0] == '+';
}

static bool is_hash(struct mqtt_str l)
{
    return l.len == 1 && l.ptr[0] == '#';
}

/* The child of n for one filter level; created when `create` (NULL if out of memory). */
static struct node *child_for(struct mqtt_tree *t, struct node *n, struct mqtt_str l, bool create)
{
    struct node **special = is_plus(l) ? &n->plus : is_hash(l) ? &n->hash : NULL;
    struct node *c = special != NULL ? *special : mqtt_kids_get(&n->kids, l.ptr, l.len);
    if (c != NULL || !create) {
        return c;
    }
    if (special != NULL) {
        c = node_new(t, is_plus(l) ? KIND_PLUS : KIND_HASH, NULL, 0);
        if (c == NULL) {
            return NULL;
        }
        *special = c;
    } else {
        c = node_new(t, KIND_LITERAL, l.ptr, l.len);
        if (c == NULL) {
            return NULL;
        }
        if (mqtt_kids_put(&n->kids, c->lvl, c->lvl_len, c) < 0) {
            node_free(t, c);
            return NULL;
        }
    }
    c->parent = n;
    return c;
}

/* Free n and its ancestors as long as they hold nothing. */
static void prune(struct mqtt_tree *t, struct node *n)
{
    while (n != t->root && n->nslots == 0 && n->plus == NULL && n->hash == NULL && n->kids.n == 0) {
        struct node *p = n->parent;
        if (n->kind == KIND_PLUS) {
            p->plus = NULL;
        } else if (n->kind == KIND_HASH) {
            p->hash = NULL;
        } else {
            mqtt_kids_del(&p->kids, n->lvl, n->lvl_len);
        }
        node_free(t, n);
        n = p;
    }
}

/* The node a filter ends at, walking (and, when create, building) the path. On -ENOMEM
 * *out is the deepest node reached, for pruning. */
static int walk(struct mqtt_tree *t, const char *filter, size_t len, bool create, struct node **out)
{
    struct mqtt_level_iter it;
    struct mqtt_str l;
    struct node *n = t->root;
    mqtt_level_iter_init(&it, filter, len);
    while (mqtt_level_iter_next(&it, &l)) {
        struct node *c = child_for(t, n, l, create);
        if (c == NULL) {
            *out = n;
            return create ? -ENOMEM : -ENOENT;
        }
        n = c;
    }
    *out = n;
    return 0;
}

/* The slot of client c at node n, scanning whichever list is shorter. */
static struct slot *find_slot(struct node *n, struct client *c)
{
    if (c->nentries <= n->nslots) {
        for (struct entry *e = c->entries; e != NULL; e = e->next) {
            if (e->node == n) {
                return &n->slots[e->idx];
            }
        }
        return NULL;
    }
    for (uint32_t i = 0; i < n->nslots; i++) {
        if (n->slots[i].client == c) {
            return &n->slots[i];
        }
    }
    return NULL;
}

/* Remove the slot of entry e from its node (moving the last slot into its place) and e
 * from its client; frees e. The node is not pruned here. */
static void drop_entry(struct mqtt_tree *t, struct client *c, struct entry *e)
{
    struct node *n = e->node;
    uint32_t last = n->nslots - 1;
    if (e->idx != last) {
        n->slots[e->idx] = n->slots[last];
        n->slots[e->idx].entry->idx = e->idx;
    }
    n->nslots--;
    if (n->nslots == 0) {
        free(n->slots);
        n->slots = NULL;
        n->capslots = 0;
    } else if (n->capslots >= 16 && n->nslots <= n->capslots / 4) {
        struct slot *s = realloc(n->slots, n->capslots / 2 * sizeof(*s));
        if (s != NULL) { /* keeping the larger array is fine too */
            n->slots = s;
            n->capslots /= 2;
        }
    }
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        c->entries = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    }
    c->nentries--;
    t->subscriptions--;
    free(e);
}

static void client_drop(struct mqtt_tree *t, struct client *c)
{
    hmap_del(t->clients, &c->subscriber, sizeof(c->subscriber));
    free(c);
}

int mqtt_tree_insert(struct mqtt_tree *t, const char *filter, size_t len, void *subscriber,
                     uint8_t qos)
{
    struct node *n = NULL;
    struct entry *e = NULL;
    bool new_client = false;
    int rc = mqtt_topic_filter_check(filter, len);
    if (rc < 0) {
        return rc;
    }
    if (subscriber == NULL || qos > 2) {
        return -EINVAL;
    }
    struct client *c = client_get(t, subscriber);
    if (c == NULL) {
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            return -ENOMEM;
        }
        c->subscriber = subscriber;
        if (hmap_put(t->clients, &subscriber, sizeof(subscriber), c, NULL) < 0) {
            free(c);
            return -ENOMEM;
        }
        new_client = true;
    }
    rc = walk(t, filter, len, true, &n);
    if (rc < 0) {
        goto out;
    }
    struct slot *s = find_slot(n, c);
    if (s != NULL) {
        s->qos = qos; /* [MQTT-3.8.4-3]: replace, keep a single subscription */
        return 1;
    }
    rc = -ENOMEM;
    if (n->nslots == n->capslots) {
        if (n->capslots > UINT32_MAX / 2) {
            goto out;
        }
        uint32_t cap = n->capslots ? n->capslots * 2 : 1;
        struct slot *grown = realloc(n->slots, cap * sizeof(*grown));
        if (grown == NULL) {
            goto out;
        }
        n->slots = grown;
        n->capslots = cap;
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        goto out;
    }
    e->node = n;
    e->idx = n->nslots;
    e->next = c->entries;
    if (c->entries != NULL) {
        c->entries->prev = e;
    }
    c->entries = e;
    c->nentries++;
    n->slots[n->nslots].client = c;
    n->slots[n->nslots].entry = e;
    n->slots[n->nslots].qos = qos;
    n->nslots++;
    t->subscriptions++;
    return 0;
out:
    if (n != NULL) {
        prune(t, n);
    }
    if (new_client) {
        client_drop(t, c);
    }
    return rc;
}

int mqtt_tree_remove(struct mqtt_tree *t, const char *filter, size_t len, void *subscriber)
{
    struct node *n = NULL;
    int rc = mqtt_topic_filter_check(filter, len);
    if (rc < 0) {
        return rc;
    }
    struct client *c = client_get(t, subscriber);
    if (c == NULL || walk(t, filter, len, false, &n) < 0) {
        return -ENOENT;
    }
    struct slot *s = find_slot(n, c);
    if (s == NULL) {
        return -ENOENT;
    }
    drop_entry(t, c, s->entry);
    prune(t, n);
    if (c->nentries == 0) {
        client_drop(t, c);
    }
    return 0;
}

int mqtt_tree_remove_all(struct mqtt_tree *t, void *subscriber)
{
    struct client *c = client_get(t, subscriber);
    if (c == NULL) {
        return 0;
    }
    size_t count = c->nentries;
    while (c->entries != NULL) {
        struct node *n = c->entries->node;
        drop_entry(t, c, c->entries);
        prune(t, n);
    }
    client_drop(t, c);
    return count > INT_MAX ? INT_MAX : (int)count;
}

size_t mqtt_tree_subscriber_count(const struct mqtt_tree *t, void *subscriber)
{
    struct client *c = client_get(t, subscriber);
    return c != NULL ? c->nentries : 0;
}

/* Scratch arrays grow by doubling and are kept for the next match. */
static size_t grown_cap(size_t cap, size_t need)
{
    size_t n = cap ? cap : 16;
    while (n < need) {
        n *= 2;
    }
    return n;
}

static int push_hit(struct mqtt_tree *t, size_t *nhits, struct client *c)
{
    if (*nhits == t->cap_hits) {
        size_t cap = grown_cap(t->cap_hits, *nhits + 1);
        struct client **a = realloc(t->hits, cap * sizeof(*a));
        if (a == NULL) {
            return -ENOMEM;
        }
        t->hits = a;
        t->cap_hits = cap;
    }
    t->hits[(*nhits)++] = c;
    return 0;
}

static int push(struct node ***arr, size_t *cap, size_t *n, struct node *node)
{
    if (*n == *cap) {
        size_t c = grown_cap(*cap, *n + 1);
        struct node **a = realloc(*arr, c * sizeof(*a));
        if (a == NULL) {
            return -ENOMEM;
        }
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = node;
    return 0;
}

/* Count the subscriptions at n towards this match. */
static int collect(struct mqtt_tree *t, const struct node *n, size_t *nhits)
{
    for (uint32_t i = 0; i < n->nslots; i++) {
        struct client *c = n->slots[i].client;
        uint8_t qos = n->slots[i].qos;
        if (c->gen != t->gen) {
            if (push_hit(t, nhits, c) < 0) {
                return -ENOMEM;
            }
            c->gen = t->gen;
            c->qos = qos;
        } else if (qos > c->qos) {
            c->qos = qos; /* overlapping subscriptions: the highest QoS wins */
        }
    }
    return 0;
}

int mqtt_tree_match(struct mqtt_tree *t, const char *topic, size_t len,
                    int (*fn)(void *subscriber, uint8_t qos, void *arg), void *arg)
{
    struct mqtt_level_iter it;
    struct mqtt_str l;
    size_t nfront = 0, nhits = 0;
    bool dollar = len > 0 && topic[0] == '$';
    t->gen++;
    if (push(&t->front, &t->cap_front, &nfront, t->root) < 0) {
        return -ENOMEM;
    }
    /* Breadth-first, one topic level at a time: `front` holds the nodes whose filters
     * match the levels consumed so far. A node is reached by one path only, so it is in
     * the front at most once. */
    mqtt_level_iter_init(&it, topic, len);
    for (size_t depth = 0; nfront > 0 && mqtt_level_iter_next(&it, &l); depth++) {
        size_t nnext = 0;
        bool wild = !(depth == 0 && dollar); /* [MQTT-4.7.2-1] */
        for (size_t i = 0; i < nfront; i++) {
            struct node *n = t->front[i];
            struct node *c = mqtt_kids_get(&n->kids, l.ptr, l.len);
            if ((wild && n->hash != NULL && collect(t, n->hash, &nhits) < 0) ||
                (wild && n->plus != NULL && push(&t->next, &t->cap_next, &nnext, n->plus) < 0) ||
                (c != NULL && push(&t->next, &t->cap_next, &nnext, c) < 0)) {
                return -ENOMEM;
            }
        }
        struct node **swap = t->front;
        size_t swap_cap = t->cap_front;
        t->front = t->next;
        t->cap_front = t->cap_next;
        t->next = swap;
        t->cap_next = swap_cap;
        nfront = nnext;
    }
    /* Every level consumed: filters ending here match, and so does a '#' below, which
     * also stands for its parent level ("a/#" matches "a"). */
    for (size_t i = 0; i < nfront; i++) {
        struct node *n = t->front[i];
        if (collect(t, n, &nhits) < 0 || (n->hash != NULL && collect(t, n->hash, &nhits) < 0)) {
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < nhits; i++) {
        int rc = fn(t->hits[i]->subscriber, t->hits[i]->qos, arg);
        if (rc != 0) {
            return rc;
        }
    }
    return nhits > INT_MAX ? INT_MAX : (int)nhits;
}

void mqtt_tree_stats(const struct mqtt_tree *t, struct mqtt_tree_stats *st)
{
    st->nodes = t->nodes;
    st->subscriptions = t->subscriptions;
    st->subscribers = hmap_count(t->clients);
}
