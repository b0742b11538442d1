/* The blocking-work pool: K threads taking jobs from one bounded FIFO queue. */
#define LOG_MODULE "net"

#include "net/internal.h"

#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <stdlib.h>

struct pool_job {
    struct pool_job *next;
    void (*work)(void *arg);
    void (*done)(void *arg);
    struct net_worker *done_on;
    void *arg;
};

struct net_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct pool_job *head, *tail; /* under lock */
    size_t queued;                /* under lock */
    size_t max;
    bool stopping; /* under lock */
    unsigned nthreads, started;
    pthread_t *threads;
    atomic_uint_fast64_t queue_gauge, running, done, rejected;
};

int pool_new(unsigned threads, unsigned queue_max, struct net_pool **out)
{
    struct net_pool *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    p->threads = calloc(threads, sizeof(*p->threads));
    if (p->threads == NULL) {
        free(p);
        return -ENOMEM;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->nthreads = threads;
    p->max = queue_max;
    *out = p;
    return 0;
}

static void *pool_main(void *arg)
{
    struct net_pool *p = arg;
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->head == NULL && !p->stopping) {
            pthread_cond_wait(&p->cond, &p->lock);
        }
        struct pool_job *j = p->head;
        if (j == NULL) { /* stopping and drained */
            pthread_mutex_unlock(&p->lock);
            break;
        }
        p->head = j->next;
        if (p->head == NULL) {
            p->tail = NULL;
        }
        p->queued--;
        atomic_fetch_sub_explicit(&p->queue_gauge, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->running, 1, memory_order_relaxed);
        pthread_mutex_unlock(&p->lock);

        j->work(j->arg);
        atomic_fetch_sub_explicit(&p->running, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_relaxed);
        if (j->done != NULL) {
            if (j->done_on == NULL) {
                j->done(j->arg);
            } else {
                int rc = net_worker_post(j->done_on, j->done, j->arg);
                if (rc < 0) {
                    log_error("pool: cannot hand a result to worker %u (%s); running its done "
                              "callback on the pool thread",
                              net_worker_index(j->done_on), cg_strerror(rc));
                    j->done(j->arg);
                }
            }
        }
        free(j);
    }
    return NULL;
}

int pool_start(struct net_pool *p)
{
    for (unsigned i = 0; i < p->nthreads; i++) {
        int e = pthread_create(&p->threads[i], NULL, pool_main, p);
        if (e != 0) {
            return -e;
        }
        p->started++;
    }
    return 0;
}

void pool_stop(struct net_pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->started; i++) {
        pthread_join(p->threads[i], NULL);
    }
    p->started = 0;
}

void pool_free(struct net_pool *p)
{
    if (p == NULL) {
        return;
    }
    pool_stop(p);
    /* Jobs left only if the pool never ran (server freed without starting): dropped. */
    struct pool_job *j = p->head;
    while (j != NULL) {
        struct pool_job *next = j->next;
        free(j);
        j = next;
    }
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p->threads);
    free(p);
}

void pool_stats(const struct net_pool *p, struct net_stats *out)
{
    out->pool_queue = atomic_load_explicit(&p->queue_gauge, memory_order_relaxed);
    out->pool_running = atomic_load_explicit(&p->running, memory_order_relaxed);
    out->pool_done = atomic_load_explicit(&p->done, memory_order_relaxed);
    out->pool_rejected = atomic_load_explicit(&p->rejected, memory_order_relaxed);
}

int net_pool_submit(struct net_server *srv, void (*work)(void *arg), void (*done)(void *arg),
                    struct net_worker *done_on, void *arg)
{
    struct net_pool *p = srv->pool;
    if (work == NULL) {
        return -EINVAL;
    }
    struct pool_job *j = malloc(sizeof(*j));
    if (j == NULL) {
        return -ENOMEM;
    }
    j->next = NULL;
    j->work = work;
    j->done = done;
    j->done_on = done_on;
    j->arg = arg;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        free(j);
        return -ESHUTDOWN;
    }
    if (p->queued >= p->max) {
        pthread_mutex_unlock(&p->lock);
        free(j);
        atomic_fetch_add_explicit(&p->rejected, 1, memory_order_relaxed);
        return CG_ELIMIT;
    }
    if (p->tail != NULL) {
        p->tail->next = j;
    } else {
        p->head = j;
    }
    p->tail = j;
    p->queued++;
    atomic_fetch_add_explicit(&p->queue_gauge, 1, memory_order_relaxed);
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return 0;
}
