/* Sessions: messages, queues, the in-flight window, pumping to the client, waiters
 * (back-pressure), and the replica operations that keep every worker's subscription trees
 * in step. See docs/design/broker.md.
 */
#define LOG_MODULE "broker"

#include "broker/broker_int.h"

#include "core/log.h"
#include "core/str.h"

#include <stdlib.h>
#include <string.h>

/* Inbound QoS 2 messages a client may leave waiting for PUBREL. */
#define MAX_INBOUND_QOS2 1024
/* Queue entries popped per lock round while pumping. */
#define PUMP_BATCH 32

/* ---------------------------------------------------------------------------------------
 * Messages
 * ------------------------------------------------------------------------------------- */

struct bmsg *bmsg_new(const char *topic, size_t tlen, const void *payload, size_t plen, uint8_t qos)
{
    if (tlen > UINT32_MAX || plen > UINT32_MAX || tlen + plen < tlen) {
        return NULL;
    }
    struct bmsg *m = malloc(sizeof(*m) + tlen + plen);
    if (m == NULL) {
        return NULL;
    }
    atomic_init(&m->refs, 1);
    m->tlen = (uint32_t)tlen;
    m->plen = (uint32_t)plen;
    m->qos = qos;
    m->secret = false;
    if (tlen > 0) {
        memcpy(m->data, topic, tlen);
    }
    if (plen > 0) {
        memcpy(m->data + tlen, payload, plen);
    }
    return m;
}

void bmsg_ref(struct bmsg *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
}

void bmsg_unref(struct bmsg *m)
{
    if (m == NULL || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    if (m->secret) {
        secure_zero(m->data + m->tlen, m->plen);
    }
    free(m);
}

/* ---------------------------------------------------------------------------------------
 * Session lifecycle
 * ------------------------------------------------------------------------------------- */

struct bsess *sess_new(struct broker *b, struct btenant *t, const char *key, size_t keylen,
                       const char *owner_id, const char *device)
{
    struct bsess *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->key = str_ndup(key, keylen);
    s->owner_id = strdup(owner_id);
    s->device = device != NULL ? strdup(device) : NULL;
    if (s->key == NULL || s->owner_id == NULL || (device != NULL && s->device == NULL)) {
        free(s->key);
        free(s->owner_id);
        free(s->device);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    atomic_init(&s->refs, 1); /* the map's; handed to the REMOVE_ALL operation by destroy */
    atomic_init(&s->owner, -1);
    atomic_init(&s->scheduled, false);
    atomic_init(&s->dead, false);
    atomic_init(&s->nsubs, 0);
    s->keylen = keylen;
    s->t = t;
    s->next_pid = 1;
    s->sdat_qos = -1;
    pthread_mutex_lock(&b->all_lock);
    s->anext = b->all;
    if (b->all != NULL) {
        b->all->aprev = s;
    }
    b->all = s;
    pthread_mutex_unlock(&b->all_lock);
    return s;
}

void sess_ref(struct bsess *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

/* Drop the queue, the in-flight window and the inbound ids (their owner is gone). */
static void sess_drop_state(struct bsess *s)
{
    while (s->qlen > 0) {
        bmsg_unref(s->q[s->qhead].m);
        s->qhead = (s->qhead + 1) % s->qcap;
        s->qlen--;
    }
    free(s->q);
    s->q = NULL;
    s->qcap = s->qhead = 0;
    if (s->infl != NULL) {
        for (uint32_t k = 0; k < s->icount; k++) {
            bmsg_unref(s->infl[(s->ihead + k) % s->icap].m);
        }
        free(s->infl);
        s->infl = NULL;
    }
    s->icount = s->iused = s->icap = s->ihead = 0;
    free(s->q2);
    s->q2 = NULL;
    s->nq2 = s->capq2 = 0;
}

static void waiters_free(struct broker *b, struct bwaiter *list)
{
    while (list != NULL) {
        struct bwaiter *next = list->next;
        if (list->c != NULL) {
            b->tp->unref(list->c);
        }
        free(list);
        list = next;
    }
}

void sess_free_final(struct broker *b, struct bsess *s)
{
    sess_drop_state(s);
    waiters_free(b, s->waiters);
    pthread_mutex_destroy(&s->lock);
    free(s->key);
    free(s->owner_id);
    free(s->device);
    free(s);
}

void sess_unref(struct broker *b, struct bsess *s)
{
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    pthread_mutex_lock(&b->all_lock);
    if (s->aprev != NULL) {
        s->aprev->anext = s->anext;
    } else {
        b->all = s->anext;
    }
    if (s->anext != NULL) {
        s->anext->aprev = s->aprev;
    }
    pthread_mutex_unlock(&b->all_lock);
    sess_free_final(b, s);
}

/* ---------------------------------------------------------------------------------------
 * Waiters
 * ------------------------------------------------------------------------------------- */

struct pubwait {
    atomic_int n;
    void (*done)(void *arg, int rc);
    void *arg;
};

struct pubwait *pubwait_new(void (*done)(void *arg, int rc), void *arg)
{
    struct pubwait *pw = malloc(sizeof(*pw));
    if (pw != NULL) {
        atomic_init(&pw->n, 1);
        pw->done = done;
        pw->arg = arg;
    }
    return pw;
}

void pubwait_release(struct pubwait *pw)
{
    if (atomic_fetch_sub_explicit(&pw->n, 1, memory_order_acq_rel) == 1) {
        if (pw->done != NULL) {
            pw->done(pw->arg, 0);
        }
        free(pw);
    }
}

/* waiter_add: register (once) under s->lock. false when out of memory (then nothing
 * waits: the queue just grows by this message). */
static bool waiter_add(struct broker *b, struct bsess *s, const struct bwaiter *w)
{
    if (w->c != NULL) {
        for (struct bwaiter *x = s->waiters; x != NULL; x = x->next) {
            if (x->c == w->c) {
                return true;
            }
        }
    }
    struct bwaiter *n = malloc(sizeof(*n));
    if (n == NULL) {
        return false;
    }
    *n = *w;
    if (n->c != NULL) {
        b->tp->ref(n->c);
    }
    if (n->pw != NULL) {
        atomic_fetch_add_explicit(&n->pw->n, 1, memory_order_relaxed);
    }
    n->next = s->waiters;
    s->waiters = n;
    return true;
}

void waiters_wake(struct broker *b, struct bwaiter *list)
{
    while (list != NULL) {
        struct bwaiter *next = list->next;
        list->next = NULL;
        if (list->c != NULL) {
            /* The node, with its reference, travels as the message. */
            list->b = b;
            if (b->tp->post(b->env, list->widx, bconn_waiter_resume, list) == 0) {
                list = next;
                continue;
            }
            b->tp->unref(list->c);
        } else if (list->pw != NULL) {
            pubwait_release(list->pw);
        }
        free(list);
        list = next;
    }
}

/* ---------------------------------------------------------------------------------------
 * Queue
 * ------------------------------------------------------------------------------------- */

static int q_push(struct bsess *s, struct bmsg *m, uint8_t qos, bool retain)
{
    if (s->qlen == s->qcap) {
        uint32_t cap = s->qcap ? s->qcap * 2 : 4;
        struct qent *q = malloc(cap * sizeof(*q));
        if (q == NULL) {
            return -ENOMEM;
        }
        for (uint32_t k = 0; k < s->qlen; k++) {
            q[k] = s->q[(s->qhead + k) % s->qcap];
        }
        free(s->q);
        s->q = q;
        s->qcap = cap;
        s->qhead = 0;
    }
    struct qent *e = &s->q[(s->qhead + s->qlen) % s->qcap];
    e->m = m;
    e->qos = qos;
    e->retain = retain;
    s->qlen++;
    return 0;
}

static void wake_add(struct bworker *w, int owner, struct bsess *s)
{
    struct wake_list *wl = &w->wake[owner];
    if (wl->n == wl->cap) {
        size_t cap = wl->cap ? wl->cap * 2 : 16;
        struct bsess **v = realloc(wl->v, cap * sizeof(*v));
        if (v == NULL) {
            /* The owner pumps again on its next acknowledgement, drain or reconnect. */
            atomic_store(&s->scheduled, false);
            log_error("cannot schedule a delivery (out of memory)");
            return;
        }
        wl->v = v;
        wl->cap = cap;
    }
    sess_ref(s);
    wl->v[wl->n++] = s;
}

int sess_enqueue(struct bworker *w, struct bsess *s, struct bmsg *m, uint8_t qos, bool retain,
                 const struct bwaiter *waiter)
{
    struct broker *b = w->b;
    int blocked = 0;
    pthread_mutex_lock(&s->lock);
    if (atomic_load_explicit(&s->dead, memory_order_relaxed)) {
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    int owner = atomic_load_explicit(&s->owner, memory_order_relaxed);
    if (owner < 0) {
        /* Offline persistent session: QoS 0 is not kept [MQTT-3.1.2-5 allows either];
         * QoS 1/2 up to max_queued. */
        if (qos == 0) {
            pthread_mutex_unlock(&s->lock);
            bctr_add(&w->ctr.qos0_dropped, 1);
            return 0;
        }
        if (s->qlen >= (uint32_t)b->cfg.max_queued) {
            pthread_mutex_unlock(&s->lock);
            bctr_add(&w->ctr.queue_dropped, 1);
            return 0;
        }
    }
    if (q_push(s, m, qos, retain) < 0) {
        pthread_mutex_unlock(&s->lock);
        bctr_add(&w->ctr.queue_dropped, 1);
        log_error("a message could not be queued (out of memory)");
        return 0;
    }
    bmsg_ref(m);
    if (owner >= 0 && waiter != NULL && s->qlen >= (uint32_t)b->cfg.max_queued &&
        waiter_add(b, s, waiter)) {
        blocked = 1;
    }
    pthread_mutex_unlock(&s->lock);
    if (owner >= 0 && !atomic_exchange(&s->scheduled, true)) {
        wake_add(w, owner, s);
    }
    return blocked;
}

/* ---------------------------------------------------------------------------------------
 * In-flight window (owner-only)
 *
 * A ring in send order; acknowledged slots become holes that the head skips, so a resend
 * after reconnect keeps the original order [MQTT-4.6.0-1]. At most max_inflight entries are
 * live; the ring has twice that many slots (at most 65535) so that acknowledgements out of
 * order still open the window. Packet ids are allocated sequentially, so the live ids all
 * lie in the span of the ring and never collide (the span is at most 65535 allocations).
 * ------------------------------------------------------------------------------------- */

static uint32_t infl_ring_size(const struct broker *b)
{
    uint32_t n = 2u * (uint32_t)b->cfg.max_inflight;
    return n > 65535 ? 65535 : n;
}

static uint32_t infl_room(const struct broker *b, const struct bsess *s)
{
    uint32_t by_live = (uint32_t)b->cfg.max_inflight - s->iused;
    uint32_t by_span = infl_ring_size(b) - s->icount;
    return by_live < by_span ? by_live : by_span;
}

static int infl_add(struct broker *b, struct bsess *s, const struct qent *e, uint16_t *pid)
{
    if (s->infl == NULL) {
        s->icap = infl_ring_size(b);
        s->infl = calloc(s->icap, sizeof(*s->infl));
        if (s->infl == NULL) {
            s->icap = 0;
            return -ENOMEM;
        }
        s->ihead = s->icount = s->iused = 0;
    }
    struct infl *f = &s->infl[(s->ihead + s->icount) % s->icap];
    f->m = e->m;
    f->pid = s->next_pid;
    f->qos = e->qos;
    f->retain = e->retain;
    f->state = e->qos == 1 ? INFL_PUBACK : INFL_PUBREC;
    s->icount++;
    s->iused++;
    *pid = s->next_pid;
    s->next_pid = (uint16_t)(s->next_pid == 65535 ? 1 : s->next_pid + 1);
    return 0;
}

static struct infl *infl_find(struct bsess *s, uint16_t pid)
{
    for (uint32_t k = 0; k < s->icount; k++) {
        struct infl *f = &s->infl[(s->ihead + k) % s->icap];
        if (f->state != INFL_FREE && f->pid == pid) {
            return f;
        }
    }
    return NULL;
}

static void infl_release(struct bsess *s, struct infl *f)
{
    bmsg_unref(f->m);
    f->m = NULL;
    f->state = INFL_FREE;
    s->iused--;
    while (s->icount > 0 && s->infl[s->ihead].state == INFL_FREE) {
        s->ihead = (s->ihead + 1) % s->icap;
        s->icount--;
    }
    if (s->icount == 0) {
        free(s->infl); /* idle sessions keep no window */
        s->infl = NULL;
        s->icap = s->ihead = 0;
    }
}

/* ---------------------------------------------------------------------------------------
 * Sending (owner-only)
 * ------------------------------------------------------------------------------------- */

static void send_ack(struct bworker *w, struct bconn *bc, enum mqtt_type type, uint16_t pid)
{
    buf_reset(&w->out);
    if (mqtt_ack_encode(&w->out, type, pid) > 0) {
        bconn_write(bc, &w->out);
    }
}

static void send_publish(struct bworker *w, struct bconn *bc, const struct bmsg *m, uint8_t qos,
                         bool retain, bool dup, uint16_t pid)
{
    struct mqtt_publish p = {
        .dup = dup,
        .qos = qos,
        .retain = retain,
        .topic = {bmsg_topic(m), m->tlen},
        .packet_id = pid,
        .payload = {bmsg_payload(m), m->plen},
    };
    buf_reset(&w->out);
    int rc = mqtt_publish_encode(&w->out, &p);
    if (rc < 0) {
        log_error("cannot encode a PUBLISH of %u bytes: %s", m->plen, mqtt_strerror(rc));
        return;
    }
    bconn_write(bc, &w->out);
    bctr_add(&w->ctr.deliveries_out, 1);
}

void sess_pump(struct bworker *w, struct bsess *s)
{
    struct broker *b = w->b;
    if (atomic_load_explicit(&s->owner, memory_order_acquire) != (int)w->index) {
        return;
    }
    struct bconn *bc = s->conn;
    if (bc == NULL || bc->state != BC_CONNECTED) {
        return;
    }
    struct bwaiter *wake = NULL;
    struct qent batch[PUMP_BATCH];
    for (;;) {
        if (b->tp->is_closed(bc->c) || b->tp->over_highwater(bc->c)) {
            break;
        }
        size_t n = 0;
        uint32_t room = infl_room(b, s);
        pthread_mutex_lock(&s->lock);
        while (n < PUMP_BATCH && s->qlen > 0) {
            struct qent *e = &s->q[s->qhead];
            if (e->qos > 0) {
                if (room == 0) {
                    break;
                }
                room--;
            }
            batch[n++] = *e;
            s->qhead = (s->qhead + 1) % s->qcap;
            s->qlen--;
        }
        if (s->waiters != NULL && s->qlen <= (uint32_t)b->cfg.max_queued / 2) {
            struct bwaiter *last = s->waiters;
            while (last->next != NULL) {
                last = last->next;
            }
            last->next = wake;
            wake = s->waiters;
            s->waiters = NULL;
        }
        if (s->qlen == 0 && s->q != NULL) {
            free(s->q); /* idle sessions keep no queue array */
            s->q = NULL;
            s->qcap = s->qhead = 0;
        }
        pthread_mutex_unlock(&s->lock);
        if (n == 0) {
            break;
        }
        for (size_t i = 0; i < n; i++) {
            struct qent *e = &batch[i];
            uint16_t pid = 0;
            if (e->qos > 0 && infl_add(b, s, e, &pid) < 0) {
                log_error("cannot track an outgoing message (out of memory); closing");
                b->tp->close(bc->c, true);
                for (size_t j = i; j < n; j++) {
                    bmsg_unref(batch[j].m);
                }
                goto out;
            }
            send_publish(w, bc, e->m, e->qos, e->retain, false, pid);
            if (e->qos == 0) {
                bmsg_unref(e->m);
            }
        }
    }
out:
    waiters_wake(b, wake);
}

void sess_resend(struct bworker *w, struct bsess *s)
{
    struct bconn *bc = s->conn;
    for (uint32_t k = 0; k < s->icount && bc != NULL; k++) {
        struct infl *f = &s->infl[(s->ihead + k) % s->icap];
        if (f->state == INFL_PUBACK || f->state == INFL_PUBREC) {
            send_publish(w, bc, f->m, f->qos, f->retain, true, f->pid);
        } else if (f->state == INFL_PUBCOMP) {
            send_ack(w, bc, MQTT_PUBREL, f->pid);
        }
    }
}

int sess_ack(struct bworker *w, struct bsess *s, enum mqtt_type type, uint16_t pid)
{
    struct infl *f = s->infl != NULL ? infl_find(s, pid) : NULL;
    switch (type) {
    case MQTT_PUBACK:
        if (f != NULL && f->state == INFL_PUBACK) {
            infl_release(s, f);
            sess_pump(w, s);
        }
        return 0;
    case MQTT_PUBREC:
        if (f != NULL && f->state == INFL_PUBREC) {
            f->state = INFL_PUBCOMP;
            bmsg_unref(f->m);
            f->m = NULL;
        }
        /* Also for an unknown id: lets the client finish its flow. */
        send_ack(w, s->conn, MQTT_PUBREL, pid);
        return 0;
    case MQTT_PUBCOMP:
        if (f != NULL && f->state == INFL_PUBCOMP) {
            infl_release(s, f);
            sess_pump(w, s);
        }
        return 0;
    default:
        return -EINVAL;
    }
}

/* ---------------------------------------------------------------------------------------
 * Inbound QoS 2 ids (owner-only)
 * ------------------------------------------------------------------------------------- */

bool sess_q2_has(const struct bsess *s, uint16_t pid)
{
    for (uint16_t i = 0; i < s->nq2; i++) {
        if (s->q2[i] == pid) {
            return true;
        }
    }
    return false;
}

int sess_q2_add(struct bsess *s, uint16_t pid)
{
    if (s->nq2 == s->capq2) {
        if (s->capq2 >= MAX_INBOUND_QOS2) {
            return CG_ELIMIT;
        }
        uint16_t cap = s->capq2 ? (uint16_t)(s->capq2 * 2) : 4;
        uint16_t *v = realloc(s->q2, cap * sizeof(*v));
        if (v == NULL) {
            return -ENOMEM;
        }
        s->q2 = v;
        s->capq2 = cap;
    }
    s->q2[s->nq2++] = pid;
    return 0;
}

void sess_q2_del(struct bsess *s, uint16_t pid)
{
    for (uint16_t i = 0; i < s->nq2; i++) {
        if (s->q2[i] == pid) {
            s->q2[i] = s->q2[--s->nq2];
            break;
        }
    }
    if (s->nq2 == 0) {
        free(s->q2);
        s->q2 = NULL;
        s->capq2 = 0;
    }
}

/* ---------------------------------------------------------------------------------------
 * Waking owners
 * ------------------------------------------------------------------------------------- */

struct wake_msg {
    struct broker *b;
    size_t n;
    struct bsess *s[];
};

static void wake_run(void *arg)
{
    struct wake_msg *m = arg;
    struct bworker *w = broker_current_worker(m->b);
    for (size_t i = 0; i < m->n; i++) {
        atomic_store(&m->s[i]->scheduled, false);
        if (w != NULL) {
            sess_pump(w, m->s[i]);
        }
        sess_unref(m->b, m->s[i]);
    }
    free(m);
    if (w != NULL) {
        bworker_flush(w);
    }
}

void bworker_flush(struct bworker *w)
{
    struct broker *b = w->b;
    for (unsigned j = 0; j < b->nworkers; j++) {
        struct wake_list *wl = &w->wake[j];
        if (wl->n == 0) {
            continue;
        }
        if (j == w->index) {
            /* Take the list while pumping (pumps never add to it; be safe anyway). */
            struct bsess **v = wl->v;
            size_t n = wl->n, cap = wl->cap;
            wl->v = NULL;
            wl->n = wl->cap = 0;
            for (size_t i = 0; i < n; i++) {
                atomic_store(&v[i]->scheduled, false);
                sess_pump(w, v[i]);
                sess_unref(b, v[i]);
            }
            if (wl->v == NULL) {
                wl->v = v;
                wl->cap = cap;
            } else {
                free(v);
            }
            continue;
        }
        struct wake_msg *m = malloc(sizeof(*m) + wl->n * sizeof(m->s[0]));
        if (m != NULL) {
            m->b = b;
            m->n = wl->n;
            memcpy(m->s, wl->v, wl->n * sizeof(m->s[0]));
            if (b->tp->post(b->env, j, wake_run, m) == 0) {
                wl->n = 0;
                continue;
            }
            free(m);
        }
        /* Not delivered: the owner pumps on its next acknowledgement, drain or reconnect. */
        for (size_t i = 0; i < wl->n; i++) {
            atomic_store(&wl->v[i]->scheduled, false);
            sess_unref(b, wl->v[i]);
        }
        wl->n = 0;
    }
}

/* ---------------------------------------------------------------------------------------
 * Replica operations
 *
 * Every change to a session's subscriptions is posted to every worker (itself included)
 * while holding the session's lock, so all workers see the changes of one session in the
 * same order whichever worker issued them (the post queues are FIFO and the lock orders the
 * posts). SUBACK/UNSUBACK go out when the last worker applied the change.
 * ------------------------------------------------------------------------------------- */

enum rop_kind { ROP_SUB, ROP_UNSUB, ROP_REMOVE_ALL };

struct rop {
    atomic_int remaining;
    enum rop_kind kind;
    struct broker *b;
    struct bsess *s; /* reference */
    void *origin;    /* SUB/UNSUB: the connection (transport reference) */
    unsigned origin_w;
    uint16_t pid;
    int nitems;
    struct rop_item *items;
    uint8_t *codes;
    int ncodes;
};

static void rop_free(struct rop *op)
{
    struct broker *b = op->b;
    for (int i = 0; i < op->nitems; i++) {
        free(op->items[i].filter);
    }
    free(op->items);
    free(op->codes);
    if (op->origin != NULL) {
        b->tp->unref(op->origin);
    }
    if (op->s != NULL) {
        sess_unref(b, op->s);
    }
    free(op);
}

/* rop_done: on the origin worker, after every replica applied a SUB/UNSUB. */
static void rop_done(void *arg)
{
    struct rop *op = arg;
    struct broker *b = op->b;
    void *c = op->origin;
    struct bworker *w = broker_current_worker(b);
    struct bconn *bc = !b->tp->is_closed(c) ? b->tp->get_data(c) : NULL;
    if (w != NULL && bc != NULL && bc->state == BC_CONNECTED && bc->s == op->s) {
        buf_reset(&w->out);
        int rc = op->kind == ROP_SUB
                     ? mqtt_suback_encode(&w->out, op->pid, op->codes, (size_t)op->ncodes)
                     : mqtt_ack_encode(&w->out, MQTT_UNSUBACK, op->pid);
        if (rc > 0) {
            bconn_write(bc, &w->out);
        }
        if (op->kind == ROP_SUB) {
            for (int i = 0; i < op->nitems; i++) {
                route_retained(w, bc->s, op->items[i].filter, op->items[i].len, op->items[i].qos);
            }
        }
        bc->ops_pending--;
        bworker_flush(w);
        bconn_resume(bc);
    }
    rop_free(op);
    if (w != NULL) {
        bworker_flush(w);
    }
}

static void rop_complete(struct rop *op)
{
    struct broker *b = op->b;
    if (op->kind == ROP_REMOVE_ALL) {
        rop_free(op); /* drops the session's last replica-side reference */
        return;
    }
    if (b->tp->post(b->env, op->origin_w, rop_done, op) < 0) {
        rop_free(op);
    }
}

static void rop_apply(void *arg)
{
    struct rop *op = arg;
    struct broker *b = op->b;
    struct bworker *w = broker_current_worker(b);
    if (w != NULL) {
        struct mqtt_tree *tree = op->s->t->w[w->index].tree;
        bool counter = w->index == 0; /* worker 0 keeps the subscription counts */
        int rc;
        switch (op->kind) {
        case ROP_SUB:
            if (atomic_load(&op->s->dead)) {
                break;
            }
            for (int i = 0; i < op->nitems; i++) {
                rc = mqtt_tree_insert(tree, op->items[i].filter, op->items[i].len, op->s,
                                      op->items[i].qos);
                if (rc == 0 && counter) {
                    atomic_fetch_add(&op->s->nsubs, 1);
                    atomic_fetch_add(&b->subscriptions, 1);
                } else if (rc < 0) {
                    log_error("worker %u: subscription not indexed: %s", w->index,
                              mqtt_strerror(rc));
                }
            }
            break;
        case ROP_UNSUB:
            for (int i = 0; i < op->nitems; i++) {
                rc = mqtt_tree_remove(tree, op->items[i].filter, op->items[i].len, op->s);
                if (rc == 0 && counter) {
                    atomic_fetch_sub(&op->s->nsubs, 1);
                    atomic_fetch_sub(&b->subscriptions, 1);
                }
            }
            break;
        case ROP_REMOVE_ALL:
            rc = mqtt_tree_remove_all(tree, op->s);
            if (rc > 0 && counter) {
                atomic_fetch_sub(&op->s->nsubs, rc);
                atomic_fetch_sub(&b->subscriptions, rc);
            }
            break;
        }
    }
    if (atomic_fetch_sub_explicit(&op->remaining, 1, memory_order_acq_rel) == 1) {
        rop_complete(op);
    }
}

/* rop_post: post op to every worker under the session's lock. Returns how many posts
 * failed (those workers never apply it). Caller holds no lock. */
static unsigned rop_post(struct broker *b, struct rop *op)
{
    unsigned failed = 0;
    struct bsess *s = op->s;
    /* The last worker may complete op (and drop what may be the last reference to s)
     * before we unlock: hold one of our own across the posts. */
    sess_ref(s);
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < b->nworkers; i++) {
        if (b->tp->post(b->env, i, rop_apply, op) < 0) {
            failed++;
        }
    }
    pthread_mutex_unlock(&s->lock);
    sess_unref(b, s);
    return failed;
}

int sess_subscribe_broadcast(struct bconn *bc, bool unsubscribe, uint16_t pid,
                             struct rop_item *items, int nitems, uint8_t *codes, int ncodes)
{
    struct broker *b = bc->b;
    struct rop *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        for (int i = 0; i < nitems; i++) {
            free(items[i].filter);
        }
        free(items);
        free(codes);
        return -ENOMEM;
    }
    atomic_init(&op->remaining, (int)b->nworkers);
    op->kind = unsubscribe ? ROP_UNSUB : ROP_SUB;
    op->b = b;
    op->s = bc->s;
    sess_ref(op->s);
    op->origin = bc->c;
    b->tp->ref(bc->c);
    op->origin_w = bc->w->index;
    op->pid = pid;
    op->items = items;
    op->nitems = nitems;
    op->codes = codes;
    op->ncodes = ncodes;
    bc->ops_pending++;
    unsigned failed = rop_post(b, op);
    if (failed > 0) {
        log_error("a subscription change could not reach %u worker(s)", failed);
        for (unsigned i = 0; i < failed; i++) {
            if (atomic_fetch_sub_explicit(&op->remaining, 1, memory_order_acq_rel) == 1) {
                rop_complete(op);
            }
        }
    }
    return 0;
}

void sess_destroy(struct broker *b, struct bsess *s)
{
    atomic_store(&s->dead, true);
    pthread_mutex_lock(&s->lock);
    struct bwaiter *wl = s->waiters;
    s->waiters = NULL;
    /* Offline and out of the map: nobody else touches the owner-only state. */
    sess_drop_state(s);
    pthread_mutex_unlock(&s->lock);
    waiters_wake(b, wl);
    struct rop *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        /* The replicas keep pointing at it: it must stay allocated (broker_free frees). */
        log_error("cannot drop a session's subscriptions (out of memory)");
        return;
    }
    atomic_init(&op->remaining, (int)b->nworkers);
    op->kind = ROP_REMOVE_ALL;
    op->b = b;
    op->s = s; /* takes over the map's reference */
    if (rop_post(b, op) > 0) {
        /* A worker that did not get it still indexes the session: leave both allocated
         * until broker_free rather than risk a dangling subscriber. */
        log_error("a session's subscriptions could not be dropped on every worker");
    }
}
