/* Shared by the broker tests (header-only; each test file is its own executable): a real
 * registry on a temporary SQLite store, a real net server with the broker's protocol on
 * 127.0.0.1 (plain TCP, and optionally TLS with client certificates judged by
 * registry_identify), and a small blocking MQTT client built on the codec.
 */
#ifndef CERTGATE_TEST_BROKER_TEST_H
#define CERTGATE_TEST_BROKER_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth/roles.h"
#include "broker/broker.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "mqtt/codec.h"
#include "net/net.h"
#include "registry/registry.h"
#include "store/store.h"
#include "support/net_testutil.h"
#include "support/testpki.h"
#include "support/testutil.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNUSED_FN __attribute__((unused))
#define BT_ADMIN_PASS "admin-password-1"

/* ---------------------------------------------------------------------------------------
 * Environment: store, registry, net server, broker
 * ------------------------------------------------------------------------------------- */

struct bt_opts {
    unsigned workers;         /* default 2 */
    struct broker_config cfg; /* zero: broker_config_defaults */
    bool cfg_set;
    bool tls;                /* also a TLS listener with client certificates */
    size_t out_highwater;    /* 0: net default */
    unsigned pool_threads;   /* 0: 2 */
    unsigned pool_queue_max; /* 0: net default */
    struct broker_hooks hooks;
};

struct bt_env {
    char *dir;
    struct store *store;
    struct registry *reg;
    struct net_server *net;
    struct broker *broker;
    uint16_t port;     /* plain TCP */
    uint16_t tls_port; /* TLS (0 without) */
    SSL_CTX *server_ctx;
    struct test_cert server;
};

static struct bt_env *bt_verify_env; /* for the verify callback */

/* The TLS verify callback of src/server: every client certificate is judged by the
 * registry; the verdict is recorded on the connection; the handshake proceeds. */
static UNUSED_FN int bt_verify_client(X509_STORE_CTX *xs, void *arg)
{
    struct bt_env *env = arg;
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct net_conn *c = ssl ? net_conn_from_ssl(ssl) : NULL;
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    if (c == NULL || leaf == NULL) {
        return 0;
    }
    struct reg_identity *id = malloc(sizeof(*id));
    if (id == NULL) {
        return 0;
    }
    registry_identify(env->reg, leaf, X509_STORE_CTX_get0_untrusted(xs), time_now_ms(), NULL, id);
    net_conn_set_identity(c, id, free);
    X509_STORE_CTX_set_error(xs, X509_V_OK);
    return 1;
}

static UNUSED_FN void bt_event(const struct reg_event *ev, void *arg)
{
    broker_registry_event(arg, ev);
}

static UNUSED_FN void bt_start(struct bt_env *env, const struct bt_opts *o)
{
    char err[256];
    memset(env, 0, sizeof(*env));
    signal(SIGPIPE, SIG_IGN);
    log_set_level(CG_LOG_WARN);
    if (getenv("BT_DEBUG") != NULL) {
        log_set_level(CG_LOG_DEBUG);
    }
    env->dir = test_tmpdir("broker");
    char path[1024];
    snprintf(path, sizeof(path), "%s/db.sqlite", env->dir);
    struct store_config sc;
    store_config_defaults(&sc);
    sc.path = path;
    sc.durable = false;
    env->store = store_open(&sc, err, sizeof(err));
    assert_non_null(env->store);
    struct registry_config rc;
    registry_config_defaults(&rc);
    rc.store = env->store;
    rc.data_dir = env->dir;
    rc.admin_password = BT_ADMIN_PASS;
    rc.fast_password_hashing = true;
    rc.audit_rate_per_tenant = 1000;
    env->reg = registry_open(&rc, err, sizeof(err));
    assert_non_null(env->reg);

    struct net_config nc;
    net_config_defaults(&nc);
    nc.workers = o->workers ? o->workers : 2;
    nc.pool_threads = o->pool_threads ? o->pool_threads : 2;
    if (o->pool_queue_max) {
        nc.pool_queue_max = o->pool_queue_max;
    }
    nc.drain_ms = 500;
    assert_int_equal(net_server_new(&nc, &env->net), 0);

    struct broker_config bc;
    if (o->cfg_set) {
        bc = o->cfg;
    } else {
        broker_config_defaults(&bc);
    }
    assert_int_equal(broker_new(&bc, env->reg, env->net, &o->hooks, &env->broker), 0);
    registry_set_event_handler(env->reg, bt_event, env->broker);

    struct net_listen_config lc;
    net_listen_config_defaults(&lc);
    lc.address = "127.0.0.1";
    lc.port = 0;
    lc.proto = broker_net_proto();
    lc.proto_arg = env->broker;
    lc.max_input = bc.max_packet + 128 * 1024;
    if (o->out_highwater) {
        lc.out_highwater = o->out_highwater;
        lc.out_lowwater = o->out_highwater / 4;
    }
    int idx = net_server_listen(env->net, &lc);
    assert_true(idx >= 0);
    env->port = net_server_port(env->net, idx);
    if (o->tls) {
        assert_int_equal(test_cert_make("localhost", NULL, false, &env->server), 0);
        SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
        assert_non_null(ctx);
        SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
        assert_int_equal(SSL_CTX_use_certificate(ctx, env->server.cert), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey(ctx, env->server.key), 1);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, NULL);
        SSL_CTX_set_cert_verify_callback(ctx, bt_verify_client, env);
        SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        env->server_ctx = ctx;
        lc.ssl_ctx = ctx;
        idx = net_server_listen(env->net, &lc);
        assert_true(idx >= 0);
        env->tls_port = net_server_port(env->net, idx);
    }
    bt_verify_env = env;
    assert_int_equal(net_server_start(env->net), 0);
}

static UNUSED_FN void bt_stop(struct bt_env *env)
{
    net_server_stop(env->net);
    broker_free(env->broker);
    net_server_free(env->net);
    registry_close(env->reg);
    store_close(env->store);
    SSL_CTX_free(env->server_ctx);
    test_cert_cleanup(&env->server);
    test_rmtree(env->dir);
    free(env->dir);
}

static UNUSED_FN struct principal bt_system(void)
{
    struct principal p;
    principal_system(&p, NULL);
    return p;
}

static UNUSED_FN void bt_tenant(struct bt_env *env, const char *id)
{
    struct principal p = bt_system();
    struct reg_tenant t;
    char why[REG_WHY_MAX] = "";
    memset(&t, 0, sizeof(t));
    str_lcpy(t.id, id, sizeof(t.id));
    str_lcpy(t.company, "test", sizeof(t.company));
    snprintf(t.domain, sizeof(t.domain), "%s.example.com", id);
    snprintf(t.admin_email, sizeof(t.admin_email), "admin@%s.example.com", id);
    int rc = registry_tenant_create(env->reg, &p, &t, "admin", BT_ADMIN_PASS, why);
    if (rc != 0) {
        fprintf(stderr, "tenant %s: %s\n", id, why);
    }
    assert_int_equal(rc, 0);
    reg_tenant_cleanup(&t);
}

static UNUSED_FN void bt_user(struct bt_env *env, const char *tenant, const char *name,
                              const char *pass)
{
    struct principal p = bt_system();
    struct reg_user u;
    char why[REG_WHY_MAX] = "";
    memset(&u, 0, sizeof(u));
    str_lcpy(u.tenant, tenant, sizeof(u.tenant));
    str_lcpy(u.name, name, sizeof(u.name));
    u.enabled = true;
    u.roles = ROLE_INVENTORY_READ;
    int rc = registry_user_create(env->reg, &p, &u, pass, why);
    if (rc != 0) {
        fprintf(stderr, "user %s: %s\n", name, why);
    }
    assert_int_equal(rc, 0);
}

/* A device registered for passwords: user device_<id>. */
static UNUSED_FN void bt_basic_device(struct bt_env *env, const char *tenant, const char *id,
                                      const char *pass)
{
    struct principal p = bt_system();
    struct reg_bulk_row row = {
        .line = 2, .id = id, .credentials = pass, .auth_type = "BASIC", .type = "test", .name = id};
    struct reg_bulk_result res;
    assert_int_equal(registry_bulk_register(env->reg, &p, tenant, &row, 1, &res), 0);
    if (res.status != REG_BULK_CREATED) {
        fprintf(stderr, "device %s: %s\n", id, res.reason);
    }
    assert_int_equal(res.status, REG_BULK_CREATED);
}

static UNUSED_FN void bt_option(struct bt_env *env, const char *tenant, const char *cat,
                                const char *key, const char *value)
{
    struct principal p = bt_system();
    char why[REG_WHY_MAX] = "";
    assert_int_equal(registry_option_set(env->reg, &p, tenant, cat, key, value, why), 0);
}

/* Upload a CA to tenant; its fingerprint into fp (REG_FP_MAX). */
static UNUSED_FN void bt_ca(struct bt_env *env, const char *tenant, X509 *ca, bool autoreg,
                            char *fp)
{
    struct principal p = bt_system();
    char why[REG_WHY_MAX] = "";
    char *pem = testpki_pem(ca);
    struct reg_cert_upload up = {
        .data = pem, .len = strlen(pem), .enabled = true, .auto_registration = autoreg};
    struct reg_cert out;
    memset(&out, 0, sizeof(out));
    int rc = registry_cert_add(env->reg, &p, tenant, &up, &out, why);
    if (rc != 0) {
        fprintf(stderr, "CA: %s\n", why);
    }
    assert_int_equal(rc, 0);
    if (fp != NULL) {
        str_lcpy(fp, out.fingerprint, REG_FP_MAX);
    }
    reg_cert_cleanup(&out);
    free(pem);
}

/* ---------------------------------------------------------------------------------------
 * Certificates for devices
 * ------------------------------------------------------------------------------------- */

struct bt_pki {
    EVP_PKEY *root_key, *int_key;
    X509 *root, *inter;
};

static UNUSED_FN void bt_pki_make(struct bt_pki *p, const char *name)
{
    char subj[128];
    p->root_key = testpki_key_new(TESTPKI_EC_P256);
    p->int_key = testpki_key_new(TESTPKI_EC_P256);
    snprintf(subj, sizeof(subj), "/O=%s/CN=%s root", name, name);
    struct testpki_cert_opts o = {.subject = subj, .ca = true};
    p->root = testpki_cert(p->root_key, &o);
    snprintf(subj, sizeof(subj), "/O=%s/CN=%s intermediate", name, name);
    struct testpki_cert_opts oi = {
        .subject = subj, .ca = true, .issuer = p->root, .issuer_key = p->root_key};
    p->inter = testpki_cert(p->int_key, &oi);
}

static UNUSED_FN void bt_pki_free(struct bt_pki *p)
{
    X509_free(p->root);
    X509_free(p->inter);
    EVP_PKEY_free(p->root_key);
    EVP_PKEY_free(p->int_key);
}

struct bt_device {
    EVP_PKEY *key;
    X509 *cert;
    X509 *chain; /* intermediate sent in the handshake (borrowed) */
};

/* A device certificate CN=cn issued by the intermediate; serial_hex may be NULL. */
static UNUSED_FN void bt_device_make(struct bt_device *d, const struct bt_pki *p, const char *cn,
                                     const char *serial_hex)
{
    char subj[300];
    snprintf(subj, sizeof(subj), "/CN=%s", cn);
    d->key = testpki_key_new(TESTPKI_EC_P256);
    struct testpki_cert_opts o = {.subject = subj,
                                  .issuer = p->inter,
                                  .issuer_key = p->int_key,
                                  .ext_key_usage = "clientAuth",
                                  .serial_hex = serial_hex};
    d->cert = testpki_cert(d->key, &o);
    d->chain = p->inter;
}

static UNUSED_FN void bt_device_free(struct bt_device *d)
{
    X509_free(d->cert);
    EVP_PKEY_free(d->key);
}

static UNUSED_FN SSL_CTX *bt_client_ctx(const struct bt_device *d)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    if (d != NULL) {
        assert_int_equal(SSL_CTX_use_certificate(ctx, d->cert), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey(ctx, d->key), 1);
        if (d->chain != NULL) {
            assert_int_equal(SSL_CTX_add1_chain_cert(ctx, d->chain), 1);
        }
    }
    return ctx;
}

/* ---------------------------------------------------------------------------------------
 * A blocking MQTT client
 * ------------------------------------------------------------------------------------- */

struct mc_pkt;

struct mc {
    struct test_client tc;
    struct buf in;
    uint16_t next_pid;
    int timeout_ms;
    struct mc_pkt *stash; /* packets read while waiting for another type */
    int nstash, capstash;
};

struct mc_pkt {
    int type;
    bool dup, retain, session_present;
    uint8_t qos;
    uint8_t code; /* CONNACK */
    uint16_t pid;
    char topic[512];
    char payload[4096]; /* NUL-terminated copy (truncated) */
    size_t plen;
    uint8_t codes[32]; /* SUBACK */
    size_t ncodes;
};

static UNUSED_FN int mc_open(struct mc *m, uint16_t port, SSL_CTX *ctx)
{
    memset(m, 0, sizeof(*m));
    buf_init(&m->in, 1u << 22);
    m->next_pid = 1;
    m->timeout_ms = 5000;
    if (test_client_connect(&m->tc, port, ctx) < 0) {
        return -1;
    }
    test_client_set_timeout(&m->tc, m->timeout_ms);
    return 0;
}

static UNUSED_FN void mc_close(struct mc *m)
{
    if (m->tc.fd >= 0) {
        test_client_close(&m->tc);
    }
    m->tc.fd = -1;
    buf_cleanup(&m->in);
    free(m->stash);
    m->stash = NULL;
    m->nstash = m->capstash = 0;
}

static UNUSED_FN void mc_set_timeout(struct mc *m, int ms)
{
    m->timeout_ms = ms;
    test_client_set_timeout(&m->tc, ms);
}

static UNUSED_FN int mc_send_buf(struct mc *m, struct buf *b)
{
    int rc = test_client_write(&m->tc, buf_data(b), b->len);
    buf_cleanup(b);
    return rc;
}

static UNUSED_FN int mc_send_raw(struct mc *m, const void *p, size_t n)
{
    return test_client_write(&m->tc, p, n);
}

/* mc_read_wire: the next packet from the socket. 0; -1 timeout or error; -2 closed. */
static UNUSED_FN int mc_read_wire(struct mc *m, struct mc_pkt *pkt)
{
    for (;;) {
        int n = mqtt_frame_split(buf_data(&m->in), m->in.len, 0);
        if (n < 0) {
            return -1;
        }
        if (n > 0) {
            struct mqtt_packet p;
            int rc = mqtt_packet_decode(buf_data(&m->in), (size_t)n, MQTT_FROM_SERVER, NULL, &p);
            if (rc < 0) {
                fprintf(stderr, "client: undecodable packet from the server: %s\n",
                        mqtt_strerror(rc));
                return -1;
            }
            memset(pkt, 0, sizeof(*pkt));
            pkt->type = p.type;
            switch (p.type) {
            case MQTT_CONNACK:
                pkt->code = p.connack.return_code;
                pkt->session_present = p.connack.session_present;
                break;
            case MQTT_PUBLISH:
                pkt->dup = p.publish.dup;
                pkt->qos = p.publish.qos;
                pkt->retain = p.publish.retain;
                pkt->pid = p.publish.packet_id;
                snprintf(pkt->topic, sizeof(pkt->topic), "%.*s", (int)p.publish.topic.len,
                         p.publish.topic.ptr);
                pkt->plen = p.publish.payload.len;
                memcpy(pkt->payload, p.publish.payload.ptr,
                       pkt->plen < sizeof(pkt->payload) - 1 ? pkt->plen : sizeof(pkt->payload) - 1);
                break;
            case MQTT_SUBACK:
                pkt->pid = p.suback.packet_id;
                pkt->ncodes = p.suback.count < 32 ? p.suback.count : 32;
                memcpy(pkt->codes, p.suback.codes, pkt->ncodes);
                break;
            case MQTT_PUBACK:
            case MQTT_PUBREC:
            case MQTT_PUBREL:
            case MQTT_PUBCOMP:
            case MQTT_UNSUBACK:
                pkt->pid = p.ack.packet_id;
                break;
            default:
                break;
            }
            buf_consume(&m->in, (size_t)n);
            return 0;
        }
        uint8_t tmp[16384];
        ssize_t r = test_client_read(&m->tc, tmp, sizeof(tmp));
        if (r == 0) {
            return -2;
        }
        if (r < 0) {
            return -1;
        }
        if (buf_append(&m->in, tmp, (size_t)r) < 0) {
            return -1;
        }
    }
}

/* mc_read: the next packet (stashed ones first). 0; -1 timeout or error; -2 closed. */
static UNUSED_FN int mc_read(struct mc *m, struct mc_pkt *pkt)
{
    if (m->nstash > 0) {
        *pkt = m->stash[0];
        memmove(&m->stash[0], &m->stash[1], (size_t)(m->nstash - 1) * sizeof(*m->stash));
        m->nstash--;
        return 0;
    }
    return mc_read_wire(m, pkt);
}

/* mc_expect: the next packet of `type`; packets of other types read meanwhile are kept
 * for later reads (a server may interleave, e.g. the next PUBLISH before a PUBREL). */
static UNUSED_FN int mc_expect(struct mc *m, int type, struct mc_pkt *pkt)
{
    for (int i = 0; i < m->nstash; i++) {
        if (m->stash[i].type == type) {
            *pkt = m->stash[i];
            memmove(&m->stash[i], &m->stash[i + 1],
                    (size_t)(m->nstash - i - 1) * sizeof(*m->stash));
            m->nstash--;
            return 0;
        }
    }
    for (;;) {
        int rc = mc_read_wire(m, pkt);
        if (rc < 0) {
            return rc;
        }
        if (pkt->type == type) {
            return 0;
        }
        if (m->nstash == m->capstash) {
            int cap = m->capstash ? m->capstash * 2 : 8;
            struct mc_pkt *v = realloc(m->stash, (size_t)cap * sizeof(*v));
            assert_non_null(v);
            m->stash = v;
            m->capstash = cap;
        }
        m->stash[m->nstash++] = *pkt;
    }
}

struct mc_conn_opts {
    const char *client_id;
    const char *user;
    const char *pass;
    bool persistent; /* CleanSession 0 */
    uint16_t keepalive;
    uint8_t level; /* 0: 4 */
    const char *will_topic;
    const char *will_payload;
    uint8_t will_qos;
    bool will_retain;
};

/* mc_connect_opts: open, CONNECT, CONNACK. Returns the CONNACK code, -1 when the server
 * closed without one. */
static UNUSED_FN int mc_connect_opts(struct mc *m, uint16_t port, SSL_CTX *ctx,
                                     const struct mc_conn_opts *o, bool *present)
{
    if (mc_open(m, port, ctx) < 0) {
        return -1;
    }
    struct mqtt_connect c = {0};
    c.level = o->level ? o->level : 4;
    c.clean_session = !o->persistent;
    c.keep_alive = o->keepalive;
    c.client_id = mqtt_str_c(o->client_id);
    if (o->user != NULL) {
        c.has_username = true;
        c.username = mqtt_str_c(o->user);
    }
    if (o->pass != NULL) {
        c.has_password = true;
        c.password.ptr = (const uint8_t *)o->pass;
        c.password.len = strlen(o->pass);
    }
    if (o->will_topic != NULL) {
        c.will = true;
        c.will_topic = mqtt_str_c(o->will_topic);
        c.will_message.ptr = (const uint8_t *)o->will_payload;
        c.will_message.len = o->will_payload ? strlen(o->will_payload) : 0;
        c.will_qos = o->will_qos;
        c.will_retain = o->will_retain;
    }
    struct buf b;
    buf_init(&b, 1u << 20);
    assert_true(mqtt_connect_encode(&b, &c) > 0);
    if (mc_send_buf(m, &b) < 0) {
        return -1;
    }
    struct mc_pkt p;
    if (mc_expect(m, MQTT_CONNACK, &p) < 0) {
        return -1;
    }
    if (present != NULL) {
        *present = p.session_present;
    }
    return p.code;
}

static UNUSED_FN int mc_connect(struct mc *m, uint16_t port, const char *client_id,
                                const char *user, const char *pass, bool persistent)
{
    struct mc_conn_opts o = {
        .client_id = client_id, .user = user, .pass = pass, .persistent = persistent};
    return mc_connect_opts(m, port, NULL, &o, NULL);
}

static UNUSED_FN uint16_t mc_pid(struct mc *m)
{
    uint16_t p = m->next_pid++;
    if (m->next_pid == 0) {
        m->next_pid = 1;
    }
    return p;
}

/* mc_subscribe: one filter; returns the SUBACK code (or -1). */
static UNUSED_FN int mc_subscribe(struct mc *m, const char *filter, uint8_t qos)
{
    struct mqtt_subscription s = {mqtt_str_c(filter), qos};
    struct buf b;
    buf_init(&b, 1u << 20);
    uint16_t pid = mc_pid(m);
    assert_true(mqtt_subscribe_encode(&b, pid, &s, 1) > 0);
    if (mc_send_buf(m, &b) < 0) {
        return -1;
    }
    struct mc_pkt p;
    if (mc_expect(m, MQTT_SUBACK, &p) < 0 || p.pid != pid || p.ncodes != 1) {
        return -1;
    }
    return p.codes[0];
}

static UNUSED_FN int mc_unsubscribe(struct mc *m, const char *filter)
{
    struct mqtt_str f = mqtt_str_c(filter);
    struct buf b;
    buf_init(&b, 1u << 20);
    uint16_t pid = mc_pid(m);
    assert_true(mqtt_unsubscribe_encode(&b, pid, &f, 1) > 0);
    if (mc_send_buf(m, &b) < 0) {
        return -1;
    }
    struct mc_pkt p;
    return mc_expect(m, MQTT_UNSUBACK, &p) == 0 && p.pid == pid ? 0 : -1;
}

/* mc_publish_nowait: send a PUBLISH (returns its packet id). */
static UNUSED_FN uint16_t mc_publish_nowait(struct mc *m, const char *topic, const void *payload,
                                            size_t len, uint8_t qos, bool retain)
{
    struct mqtt_publish p = {
        .qos = qos, .retain = retain, .topic = mqtt_str_c(topic), .payload = {payload, len}};
    if (qos > 0) {
        p.packet_id = mc_pid(m);
    }
    struct buf b;
    buf_init(&b, 1u << 24);
    assert_true(mqtt_publish_encode(&b, &p) > 0);
    if (mc_send_buf(m, &b) < 0) {
        return 0;
    }
    return p.packet_id;
}

static UNUSED_FN int mc_send_ack(struct mc *m, enum mqtt_type type, uint16_t pid)
{
    struct buf b;
    buf_init(&b, 64);
    assert_true(mqtt_ack_encode(&b, type, pid) > 0);
    return mc_send_buf(m, &b);
}

/* mc_publish: PUBLISH and complete its flow (PUBACK, or PUBREC/PUBREL/PUBCOMP). 0 or -1. */
static UNUSED_FN int mc_publish(struct mc *m, const char *topic, const char *payload, uint8_t qos,
                                bool retain)
{
    uint16_t pid = mc_publish_nowait(m, topic, payload, strlen(payload), qos, retain);
    struct mc_pkt p;
    if (qos == 1) {
        return mc_expect(m, MQTT_PUBACK, &p) == 0 && p.pid == pid ? 0 : -1;
    }
    if (qos == 2) {
        if (mc_expect(m, MQTT_PUBREC, &p) < 0 || p.pid != pid) {
            return -1;
        }
        mc_send_ack(m, MQTT_PUBREL, pid);
        return mc_expect(m, MQTT_PUBCOMP, &p) == 0 && p.pid == pid ? 0 : -1;
    }
    return 0;
}

/* mc_recv: the next PUBLISH, acknowledged as its QoS asks (QoS 2: PUBREC, then PUBREL is
 * awaited and answered). 0, -1 timeout, -2 closed. */
static UNUSED_FN int mc_recv(struct mc *m, struct mc_pkt *pkt)
{
    int rc = mc_expect(m, MQTT_PUBLISH, pkt);
    if (rc < 0) {
        return rc;
    }
    if (pkt->qos == 1) {
        mc_send_ack(m, MQTT_PUBACK, pkt->pid);
    } else if (pkt->qos == 2) {
        struct mc_pkt rel;
        mc_send_ack(m, MQTT_PUBREC, pkt->pid);
        if (mc_expect(m, MQTT_PUBREL, &rel) < 0 || rel.pid != pkt->pid) {
            return -1;
        }
        mc_send_ack(m, MQTT_PUBCOMP, pkt->pid);
    }
    return 0;
}

/* mc_nothing: true when no packet arrives within ms (the connection stays open). */
static UNUSED_FN bool mc_nothing(struct mc *m, int ms)
{
    struct mc_pkt p;
    int saved = m->timeout_ms;
    mc_set_timeout(m, ms);
    int rc = mc_read(m, &p);
    mc_set_timeout(m, saved);
    if (rc == 0) {
        fprintf(stderr, "client: unexpected %s (topic '%s')\n", mqtt_type_name(p.type), p.topic);
    }
    return rc == -1;
}

static UNUSED_FN int mc_disconnect(struct mc *m)
{
    struct buf b;
    buf_init(&b, 16);
    assert_true(mqtt_bare_encode(&b, MQTT_DISCONNECT) > 0);
    int rc = mc_send_buf(m, &b);
    test_client_wait_closed(&m->tc, 2000);
    mc_close(m);
    return rc;
}

/* mc_closed: the server closes the connection within ms (any packets before are ignored). */
static UNUSED_FN bool mc_closed(struct mc *m, int ms)
{
    int64_t end = test_now_ms() + ms;
    struct mc_pkt p;
    while (test_now_ms() < end) {
        mc_set_timeout(m, (int)(end - test_now_ms()) + 1);
        int rc = mc_read(m, &p);
        if (rc == -2) {
            return true;
        }
        if (rc == -1) {
            /* A reset also ends here: check that the socket is really gone. */
            return test_client_wait_closed(&m->tc, 1);
        }
    }
    return false;
}

static UNUSED_FN struct broker_stats bt_stats(struct bt_env *env)
{
    struct broker_stats st;
    broker_stats_get(env->broker, &st);
    return st;
}

struct bt_stat_wait {
    struct bt_env *env;
    size_t off;
    uint64_t value;
};

static UNUSED_FN bool bt_stat_ge(void *arg)
{
    struct bt_stat_wait *w = arg;
    struct broker_stats st = bt_stats(w->env);
    uint64_t v;
    memcpy(&v, (const char *)&st + w->off, sizeof(v));
    return v >= w->value;
}

static UNUSED_FN bool bt_stat_eq(void *arg)
{
    struct bt_stat_wait *w = arg;
    struct broker_stats st = bt_stats(w->env);
    uint64_t v;
    memcpy(&v, (const char *)&st + w->off, sizeof(v));
    return v == w->value;
}

#define BT_WAIT_GE(env, field, val, ms)                                                            \
    ({                                                                                             \
        struct bt_stat_wait w_ = {(env), offsetof(struct broker_stats, field), (val)};             \
        test_wait_until(bt_stat_ge, &w_, (ms));                                                    \
    })
#define BT_WAIT_EQ(env, field, val, ms)                                                            \
    ({                                                                                             \
        struct bt_stat_wait w_ = {(env), offsetof(struct broker_stats, field), (val)};             \
        test_wait_until(bt_stat_eq, &w_, (ms));                                                    \
    })

/* Which worker a connection landed on: the worker whose conns_open went up. */
static UNUSED_FN int bt_worker_conns(struct bt_env *env, unsigned i)
{
    struct net_stats st;
    net_worker_stats(net_server_worker(env->net, i), &st);
    return (int)st.conns_open;
}

#endif
