/* One HTTPS connection: requests are parsed on the worker, executed one at a time on the
 * blocking pool (rest_handle), and answered in order. While a request is at the pool the
 * connection does not read, so pipelined requests wait in the socket. */
#define LOG_MODULE "http"
#include "server/http_conn.h"

#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "http/response.h"
#include "registry/registry.h"
#include "server/rest.h"
#include "server/server.h"

#include <stdlib.h>
#include <string.h>

struct http_conn {
    struct server *srv;
    struct net_conn *c;
    struct http_parser parser;
    bool busy;          /* a job is at the pool */
    bool continue_sent; /* "100 Continue" answered for the current request */
};

static void answer_error(struct net_conn *c, int status)
{
    struct buf out;
    buf_init(&out, 4096);
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "{\"error\":\"general/%s\",\"message\":\"the request could not be read: %s\","
                     "\"info\":\"https://www.cumulocity.com/guides/reference-guide/"
                     "#error_reporting\"}",
                     http_status_reason(status), http_status_reason(status));
    struct http_response r = {.status = status,
                              .content_type = "application/vnd.com.nsn.cumulocity.error+json",
                              .body = body,
                              .body_len = n > 0 ? (size_t)n : 0,
                              .close = true};
    if (http_response_write(&out, &r) == 0) {
        net_conn_write(c, buf_data(&out), out.len);
    }
    buf_cleanup(&out);
    net_conn_close(c, NET_CLOSE_FLUSH);
}

/* Copy the parsed request out of the connection's buffer so the pool can keep it. */
static struct rest_job *job_new(struct http_conn *hc, const struct http_request *req,
                                const uint8_t *base)
{
    struct rest_job *job = calloc(1, sizeof(*job));
    if (job == NULL) {
        return NULL;
    }
    job->srv = hc->srv;
    job->req = *req;
    job->raw = malloc(req->head_len + 1);
    job->body = malloc(req->body_len + 1);
    struct http_header *headers = calloc(req->nheaders ? req->nheaders : 1, sizeof(*headers));
    if (job->raw == NULL || job->body == NULL || headers == NULL) {
        free(job->raw);
        free(job->body);
        free(headers);
        free(job);
        return NULL;
    }
    memcpy(job->raw, base, req->head_len);
    job->raw[req->head_len] = 0;
    if (req->body_len > 0) {
        memcpy(job->body, req->body, req->body_len);
    }
    job->body_len = req->body_len;
    job->req.body = job->body;
#define REBASE(span)                                                                               \
    do {                                                                                           \
        if ((span).ptr != NULL) {                                                                  \
            (span).ptr = job->raw + ((const uint8_t *)(span).ptr - base);                          \
        }                                                                                          \
    } while (0)
    REBASE(job->req.method);
    REBASE(job->req.target);
    REBASE(job->req.path);
    REBASE(job->req.query);
    for (size_t i = 0; i < req->nheaders; i++) {
        headers[i] = req->headers[i];
        REBASE(headers[i].name);
        REBASE(headers[i].value);
    }
#undef REBASE
    job->req.headers = headers;
    const struct reg_identity *id = net_conn_identity(hc->c);
    if (id != NULL) {
        job->tls = malloc(sizeof(*job->tls));
        if (job->tls == NULL) {
            free(job->raw);
            free(job->body);
            free(headers);
            free(job);
            return NULL;
        }
        *job->tls = *id;
    }
    SSL *ssl = net_conn_ssl(hc->c);
    X509 *peer = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    if (peer != NULL && X509_up_ref(peer)) {
        job->peer_cert = peer;
    }
    str_lcpy(job->peer, net_conn_peer_addr(hc->c)->text, sizeof(job->peer));
    job->keep_alive = req->keep_alive;
    buf_init(&job->response, hc->srv->cfg.http_max_body + (64u << 20));
    return job;
}

static void job_free(struct rest_job *job)
{
    free(job->raw);
    if (job->body != NULL) {
        secure_zero(job->body, job->body_len);
    }
    free(job->body);
    free((void *)job->req.headers);
    free(job->tls);
    X509_free(job->peer_cert);
    buf_cleanup(&job->response);
    free(job);
}

struct pending {
    struct http_conn *hc;
    struct net_conn *c;
    struct rest_job *job;
};

static int process(struct http_conn *hc);

static void job_work(void *arg)
{
    struct pending *p = arg;
    rest_handle(p->job);
}

static void job_done(void *arg)
{
    struct pending *p = arg;
    struct net_conn *c = p->c;
    if (!net_conn_is_closed(c)) {
        struct http_conn *hc = p->hc;
        hc->busy = false;
        if (net_conn_write(c, buf_data(&p->job->response), p->job->response.len) < 0) {
            net_conn_close(c, NET_CLOSE_NOW);
        } else if (!p->job->keep_alive) {
            net_conn_close(c, NET_CLOSE_FLUSH);
        } else {
            net_conn_set_timer(c, (unsigned)hc->srv->cfg.http_idle_timeout_s * 1000);
            net_conn_pause_reading(c, false);
            if (process(hc) < 0) {
                net_conn_close(c, NET_CLOSE_FLUSH);
            }
        }
    }
    job_free(p->job);
    net_conn_unref(c);
    free(p);
}

/* Parse what is buffered; hand a complete request to the pool. <0 closes. */
static int process(struct http_conn *hc)
{
    struct net_conn *c = hc->c;
    struct buf *in = net_conn_input(c);
    if (hc->busy || in->len == 0) {
        return 0;
    }
    struct http_request req;
    int rc = http_parser_feed(&hc->parser, buf_data(in), in->len, &req);
    if (rc == HTTP_PARSE_MORE) {
        return 0;
    }
    if (rc < 0) {
        log_debug("bad request from %s: %s", net_conn_peer_addr(c)->text,
                  http_parser_error(&hc->parser));
        answer_error(c, http_parser_status(&hc->parser));
        return 0;
    }
    if (rc == HTTP_PARSE_HEAD) {
        if (req.expect_continue && !hc->continue_sent) {
            hc->continue_sent = true;
            struct buf cont;
            buf_init(&cont, 64);
            if (http_response_write_continue(&cont) == 0) {
                net_conn_write(c, buf_data(&cont), cont.len);
            }
            buf_cleanup(&cont);
        }
        return 0;
    }
    struct pending *p = calloc(1, sizeof(*p));
    struct rest_job *job = p ? job_new(hc, &req, buf_data(in)) : NULL;
    if (job == NULL) {
        free(p);
        answer_error(c, 503);
        return 0;
    }
    job->local_port = hc->srv->cfg.https_port;
    buf_consume(in, req.consumed);
    http_parser_reset(&hc->parser);
    hc->continue_sent = false;
    p->hc = hc;
    p->c = c;
    p->job = job;
    hc->busy = true;
    net_conn_ref(c);
    net_conn_pause_reading(c, true);
    net_conn_set_timer(c, 0);
    if (net_pool_submit(hc->srv->net, job_work, job_done, net_conn_worker(c), p) < 0) {
        hc->busy = false;
        net_conn_unref(c);
        job_free(job);
        free(p);
        answer_error(c, 503);
    }
    return 0;
}

static int on_open(struct net_conn *c)
{
    struct server *srv = net_conn_proto_arg(c);
    struct http_conn *hc = calloc(1, sizeof(*hc));
    if (hc == NULL) {
        return -ENOMEM;
    }
    hc->srv = srv;
    hc->c = c;
    struct http_limits lim;
    http_limits_default(&lim);
    lim.max_body = srv->cfg.http_max_body;
    if (http_parser_init(&hc->parser, &lim) < 0) {
        free(hc);
        return -EINVAL;
    }
    net_conn_set_data(c, hc);
    net_conn_set_timer(c, (unsigned)srv->cfg.http_idle_timeout_s * 1000);
    return 0;
}

static int on_data(struct net_conn *c)
{
    struct http_conn *hc = net_conn_get_data(c);
    return process(hc);
}

static void on_timeout(struct net_conn *c)
{
    net_conn_close(c, NET_CLOSE_NOW);
}

static void on_close(struct net_conn *c, int reason)
{
    struct http_conn *hc = net_conn_get_data(c);
    if (hc == NULL) {
        return;
    }
    http_parser_cleanup(&hc->parser);
    net_conn_set_data(c, NULL);
    free(hc);
}

static const struct net_proto proto = {
    .name = "https",
    .on_open = on_open,
    .on_data = on_data,
    .on_timeout = on_timeout,
    .on_close = on_close,
};

const struct net_proto *http_conn_proto(void)
{
    return &proto;
}
