/* Fuzz target: the broker's per-connection state machine, driven without sockets.
 *
 * The broker runs over an in-memory transport (struct broker_transport): two "workers"
 * whose posted messages go to one FIFO run by this harness (so every run is deterministic),
 * a "pool" that runs the work at once and posts the done callback, and connections whose
 * input is fed by the harness and whose output is checked. The registry is real (SQLite in
 * a temporary directory, made once): tenant t1 with a CA, certificate devices "fz" and
 * "fz2", and a user "watcher".
 *
 * Input: byte 0 selects the mode: bit 0 gives connection A a certificate identity (device
 * "fz" of t1) or none (user name and password from the CONNECT); bits 1-2 the chunk size the
 * stream is fed in (1, 7, 61 bytes or all at once); bit 3 a persistent watcher; bit 4 a lazy
 * watcher; bits 5-7 a registry event delivered half-way (none, anchor removed, serial
 * revoked, device fz removed, user app removed, tenant suspended). The rest is the byte
 * stream client A sends. A watcher connection B on the other worker (user watcher,
 * subscribed to '#' at QoS 2 and to devices/fz/#) acknowledges what it receives — the lazy
 * one only once A is held back — so messages A publishes cross workers, fill queues and
 * in-flight windows, and pause A.
 *
 * Checks: everything the broker writes decodes as server-to-client MQTT; at most one
 * CONNACK per connection, and nothing but CONNACK before it; the broker never writes to a
 * closed connection's peer after on_close; no leak, no memory error (ASan/UBSan).
 */
#include "broker/broker_int.h"

#include "core/err.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "mqtt/codec.h"
#include "pki/issue.h"
#include "registry/registry.h"
#include "store/store.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define NWORKERS 2
#define OUT_HW 1024
#define MAX_STEPS 20000

/* ---- the in-memory environment ---- */

struct fconn {
    struct buf in;
    struct buf out;
    int refs;
    bool closed;     /* close requested */
    bool close_done; /* on_close called */
    bool paused;
    bool above_hw;
    bool opened;
    unsigned worker;
    unsigned timer_ms;
    void *data;
    struct reg_identity *identity;
    uint64_t id;
    char peer[64];
    int connacks;
    bool is_watcher;
};

struct fmsg {
    struct fmsg *next;
    unsigned worker;
    void (*fn)(void *);
    void *arg;
};

static struct fmsg *q_head, *q_tail;
static int current = -1;
static struct registry *reg;
static char anchor_fp[REG_FP_MAX];
static uint64_t next_id = 1;

static int f_write(void *c, const void *p, size_t n)
{
    struct fconn *fc = c;
    CHECK(current == (int)fc->worker);
    if (fc->closed) {
        return -EPIPE;
    }
    int rc = buf_append(&fc->out, p, n);
    if (rc < 0) {
        return rc;
    }
    if (fc->out.len >= OUT_HW) {
        fc->above_hw = true;
    }
    return 0;
}

static void f_close(void *c, bool now)
{
    struct fconn *fc = c;
    if (!fc->close_done) {
        fc->closed = true;
    }
}

static void f_pause(void *c, bool pause)
{
    struct fconn *fc = c;
    if (!fc->closed) {
        fc->paused = pause;
    }
}

static void f_set_timer(void *c, unsigned ms)
{
    ((struct fconn *)c)->timer_ms = ms;
}

static bool f_over_hw(void *c)
{
    return ((struct fconn *)c)->above_hw;
}

static struct buf *f_input(void *c)
{
    return &((struct fconn *)c)->in;
}

static const struct reg_identity *f_identity(void *c)
{
    return ((struct fconn *)c)->identity;
}

static void f_drop_identity(void *c)
{
    struct fconn *fc = c;
    free(fc->identity);
    fc->identity = NULL;
}

static const char *f_peer(void *c)
{
    return ((struct fconn *)c)->peer;
}

static void fconn_free(struct fconn *fc)
{
    buf_cleanup(&fc->in);
    buf_cleanup(&fc->out);
    free(fc->identity);
    free(fc);
}

static void f_ref(void *c)
{
    ((struct fconn *)c)->refs++;
}

static void f_unref(void *c)
{
    struct fconn *fc = c;
    CHECK(fc->refs > 0);
    if (--fc->refs == 0) {
        CHECK(fc->close_done || !fc->opened);
        fconn_free(fc);
    }
}

static bool f_is_closed(void *c)
{
    return ((struct fconn *)c)->closed;
}

static unsigned f_worker_of(void *c)
{
    return ((struct fconn *)c)->worker;
}

static void f_set_data(void *c, void *d)
{
    ((struct fconn *)c)->data = d;
}

static void *f_get_data(void *c)
{
    return ((struct fconn *)c)->data;
}

static uint64_t f_id(void *c)
{
    return ((struct fconn *)c)->id;
}

static unsigned f_nworkers(void *env)
{
    return NWORKERS;
}

static int f_current(void *env)
{
    return current;
}

static int f_post(void *env, unsigned worker, void (*fn)(void *), void *arg)
{
    CHECK(worker < NWORKERS);
    struct fmsg *m = malloc(sizeof(*m));
    if (m == NULL) {
        return -ENOMEM;
    }
    m->next = NULL;
    m->worker = worker;
    m->fn = fn;
    m->arg = arg;
    if (q_tail != NULL) {
        q_tail->next = m;
    } else {
        q_head = m;
    }
    q_tail = m;
    return 0;
}

static int f_pool(void *env, void (*work)(void *), void (*done)(void *), unsigned worker, void *arg)
{
    int saved = current;
    current = -1; /* work runs off the workers */
    work(arg);
    current = saved;
    return f_post(env, worker, done, arg);
}

static const struct broker_transport fuzz_transport = {
    .write = f_write,
    .close = f_close,
    .pause_reading = f_pause,
    .set_timer = f_set_timer,
    .over_highwater = f_over_hw,
    .input = f_input,
    .identity = f_identity,
    .drop_identity = f_drop_identity,
    .peer = f_peer,
    .ref = f_ref,
    .unref = f_unref,
    .is_closed = f_is_closed,
    .worker_of = f_worker_of,
    .set_data = f_set_data,
    .get_data = f_get_data,
    .id = f_id,
    .nworkers = f_nworkers,
    .current_worker = f_current,
    .post = f_post,
    .pool_submit = f_pool,
};

/* ---- the harness ---- */

static struct broker *broker;
static struct fconn *conns[2];
static bool lazy_watcher;
static struct buf held; /* the lazy watcher's acknowledgements not yet sent */

/* Whether A waits for a subscriber queue to drain (what the lazy watcher waits for). */
static bool a_blocked(void)
{
    struct fconn *a = conns[0];
    struct bconn *bc = a != NULL && !a->closed ? a->data : NULL;
    return bc != NULL && (bc->pub_blocked || a->paused);
}

static void run_messages(void)
{
    int steps = 0;
    while (q_head != NULL) {
        struct fmsg *m = q_head;
        q_head = m->next;
        if (q_head == NULL) {
            q_tail = NULL;
        }
        current = (int)m->worker;
        m->fn(m->arg);
        current = -1;
        free(m);
        CHECK(++steps < 10 * MAX_STEPS);
    }
}

static void call_on_data(struct fconn *fc)
{
    if (fc->closed || fc->paused || fc->in.len == 0) {
        return;
    }
    current = (int)fc->worker;
    bconn_on_data(broker, fc);
    current = -1;
}

/* Check what the broker wrote; the watcher answers its deliveries. */
static void drain_output(struct fconn *fc)
{
    struct buf answers;
    buf_init(&answers, 1u << 20);
    size_t pos = 0;
    while (pos < fc->out.len) {
        int n = mqtt_frame_split(buf_data(&fc->out) + pos, fc->out.len - pos, 0);
        CHECK(n > 0); /* the broker writes whole packets */
        struct mqtt_packet p;
        int rc =
            mqtt_packet_decode(buf_data(&fc->out) + pos, (size_t)n, MQTT_FROM_SERVER, NULL, &p);
        if (rc != 0) {
            fprintf(stderr, "undecodable packet from the broker: %s\n", mqtt_strerror(rc));
        }
        CHECK(rc == 0);
        if (p.type == MQTT_CONNACK) {
            CHECK(++fc->connacks == 1);
        } else {
            CHECK(fc->connacks == 1); /* nothing before CONNACK */
        }
        if (fc->is_watcher) {
            if (p.type == MQTT_PUBLISH && p.publish.qos == 1) {
                mqtt_ack_encode(&answers, MQTT_PUBACK, p.publish.packet_id);
            } else if (p.type == MQTT_PUBLISH && p.publish.qos == 2) {
                mqtt_ack_encode(&answers, MQTT_PUBREC, p.publish.packet_id);
            } else if (p.type == MQTT_PUBREL) {
                mqtt_ack_encode(&answers, MQTT_PUBCOMP, p.ack.packet_id);
            }
        }
        pos += (size_t)n;
    }
    buf_reset(&fc->out);
    if (fc->is_watcher && lazy_watcher) {
        buf_append(&held, buf_data(&answers), answers.len);
        buf_reset(&answers);
        if (a_blocked() || fc->above_hw) {
            buf_append(&answers, buf_data(&held), held.len);
            buf_reset(&held);
        }
    }
    if (fc->above_hw) {
        fc->above_hw = false;
        if (!fc->closed) {
            current = (int)fc->worker;
            bconn_on_drain(broker, fc);
            current = -1;
        }
    }
    if (answers.len > 0 && !fc->closed) {
        buf_append(&fc->in, buf_data(&answers), answers.len);
        call_on_data(fc);
    }
    buf_cleanup(&answers);
}

static void close_done(struct fconn *fc, bool shutdown)
{
    if (fc->closed && !fc->close_done) {
        fc->close_done = true;
        current = (int)fc->worker;
        bconn_on_close(broker, fc, shutdown);
        current = -1;
        buf_cleanup(&fc->in);
    }
}

/* One round of the loop: messages, output, closes, resumed reads. */
static void settle(void)
{
    for (int round = 0; round < 64; round++) {
        run_messages();
        bool more = false;
        for (int i = 0; i < 2; i++) {
            struct fconn *fc = conns[i];
            if (fc == NULL) {
                continue;
            }
            if (fc->out.len > 0) {
                drain_output(fc);
                more = true;
            }
            if (fc->closed && !fc->close_done) {
                close_done(fc, false);
                more = true;
            }
        }
        if (!more && q_head == NULL && lazy_watcher && held.len > 0 && a_blocked()) {
            /* A waits: the watcher finally acknowledges. */
            struct fconn *b = conns[1];
            if (b != NULL && !b->closed) {
                buf_append(&b->in, buf_data(&held), held.len);
                buf_reset(&held);
                call_on_data(b);
                more = true;
            }
        }
        if (!more && q_head == NULL) {
            return;
        }
    }
}

static struct fconn *fconn_new(unsigned worker, const char *peer)
{
    struct fconn *fc = calloc(1, sizeof(*fc));
    CHECK(fc != NULL);
    buf_init(&fc->in, 1u << 20);
    buf_init(&fc->out, 8u << 20);
    fc->refs = 1;
    fc->worker = worker;
    fc->id = next_id++;
    snprintf(fc->peer, sizeof(fc->peer), "%s", peer);
    return fc;
}

static void fconn_open(struct fconn *fc)
{
    current = (int)fc->worker;
    int rc = bconn_on_open(broker, fc);
    current = -1;
    CHECK(rc == 0);
    fc->opened = true;
}

static struct reg_identity *identity_for(const char *device)
{
    struct reg_identity *id = calloc(1, sizeof(*id));
    CHECK(id != NULL);
    id->accepted = true;
    str_lcpy(id->reason, "ok", sizeof(id->reason));
    str_lcpy(id->tenant, "t1", sizeof(id->tenant));
    str_lcpy(id->device_id, device, sizeof(id->device_id));
    str_lcpy(id->anchor_fp, anchor_fp, sizeof(id->anchor_fp));
    id->nserials = 2;
    str_lcpy(id->serials[0], "1a2b", sizeof(id->serials[0]));
    str_lcpy(id->serials[1], "3c4d", sizeof(id->serials[1]));
    return id;
}

static void feed(struct fconn *fc, const uint8_t *data, size_t len)
{
    if (fc->closed) {
        return;
    }
    buf_append(&fc->in, data, len); /* beyond the cap: dropped, as a closed socket would */
    call_on_data(fc);
}

static void watcher_script(struct fconn *b, bool persistent)
{
    struct buf w;
    buf_init(&w, 4096);
    struct mqtt_connect c = {.level = 4,
                             .clean_session = !persistent,
                             .keep_alive = 30,
                             .client_id = MQTT_STR("watcher-1"),
                             .has_username = true,
                             .username = MQTT_STR("t1/watcher"),
                             .has_password = true,
                             .password = {(const uint8_t *)"watcher-pass", 12}};
    mqtt_connect_encode(&w, &c);
    struct mqtt_subscription subs[] = {{MQTT_STR("#"), 2}, {MQTT_STR("devices/fz/#"), 1}};
    mqtt_subscribe_encode(&w, 1, subs, 2);
    feed(b, buf_data(&w), w.len);
    buf_cleanup(&w);
}

static int issue_token(void *arg, const struct reg_identity *id, char **token)
{
    CHECK(id->accepted && id->nserials > 0);
    if (id->device_id[0] == 'x') {
        return -EIO; /* a failing issuer */
    }
    *token = strdup("eyJhbGciOiJFUzI1NiJ9.e30.c2ln");
    return *token != NULL ? 0 : -ENOMEM;
}

static void registry_event(int kind)
{
    struct reg_event ev;
    memset(&ev, 0, sizeof(ev));
    str_lcpy(ev.tenant, "t1", sizeof(ev.tenant));
    str_lcpy(ev.actor, "fuzz", sizeof(ev.actor));
    switch (kind) {
    case 1:
        ev.kind = REG_EVENT_ANCHOR_REMOVED;
        str_lcpy(ev.fingerprint, anchor_fp, sizeof(ev.fingerprint));
        break;
    case 2:
        ev.kind = REG_EVENT_SERIAL_REVOKED;
        str_lcpy(ev.serial_hex, "3c4d", sizeof(ev.serial_hex));
        break;
    case 3:
        ev.kind = REG_EVENT_DEVICE_REMOVED;
        str_lcpy(ev.device_id, "fz", sizeof(ev.device_id));
        str_lcpy(ev.user, "device_fz", sizeof(ev.user));
        break;
    case 4:
        ev.kind = REG_EVENT_USER_REMOVED;
        str_lcpy(ev.user, "app", sizeof(ev.user));
        break;
    case 5:
        ev.kind = REG_EVENT_TENANT_SUSPENDED;
        break;
    default:
        return;
    }
    broker_registry_event(broker, &ev);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256], why[REG_WHY_MAX];
    log_set_level(getenv("FUZZ_DEBUG") != NULL ? CG_LOG_DEBUG : CG_LOG_ERROR);
    char dir[] = "/tmp/fuzz_mqtt_session.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/db.sqlite", dir);
    struct store_config sc;
    store_config_defaults(&sc);
    sc.path = path;
    sc.durable = false;
    struct store *st = store_open(&sc, err, sizeof(err));
    CHECK(st != NULL);
    struct registry_config rc;
    registry_config_defaults(&rc);
    rc.store = st;
    rc.data_dir = dir;
    rc.admin_password = "fuzz-admin-pass";
    rc.fast_password_hashing = true;
    reg = registry_open(&rc, err, sizeof(err));
    CHECK(reg != NULL);
    struct principal sys;
    principal_system(&sys, NULL);
    struct reg_tenant t = {0};
    str_lcpy(t.id, "t1", sizeof(t.id));
    str_lcpy(t.company, "fuzz", sizeof(t.company));
    str_lcpy(t.domain, "t1.example.com", sizeof(t.domain));
    str_lcpy(t.admin_email, "admin@t1.example.com", sizeof(t.admin_email));
    CHECK(registry_tenant_create(reg, &sys, &t, "admin", "fuzz-admin-pass", why) == 0);
    reg_tenant_cleanup(&t);
    struct reg_user u = {.enabled = true};
    str_lcpy(u.tenant, "t1", sizeof(u.tenant));
    str_lcpy(u.name, "watcher", sizeof(u.name));
    CHECK(registry_user_create(reg, &sys, &u, "watcher-pass", why) == 0);
    str_lcpy(u.name, "app", sizeof(u.name));
    CHECK(registry_user_create(reg, &sys, &u, "app-pass-1", why) == 0);
    struct reg_bulk_row rows[] = {
        {.line = 2, .id = "fz", .auth_type = "CERTIFICATES"},
        {.line = 3, .id = "fz2", .auth_type = "CERTIFICATES"},
        {.line = 4, .id = "dev1", .auth_type = "BASIC", .credentials = "dev1-pass"},
    };
    struct reg_bulk_result res[3];
    CHECK(registry_bulk_register(reg, &sys, "t1", rows, 3, res) == 0);
    /* A CA, so that the recorded identities' anchor is trusted. */
    EVP_PKEY *key = NULL;
    X509 *ca = NULL;
    CHECK(pki_issue_key_new(PKI_ISSUE_KEY_EC_P256, &key) == 0);
    struct pki_issue_request req;
    pki_issue_request_init(&req, PKI_ISSUE_ROOT_CA, "CN=fuzz root", time_now_ms(), 3650);
    CHECK(pki_issue_cert(&req, key, NULL, NULL, &ca, why, sizeof(why)) == 0);
    unsigned char *der = NULL;
    int dlen = i2d_X509(ca, &der);
    CHECK(dlen > 0);
    struct reg_cert_upload up = {.data = der, .len = (size_t)dlen, .enabled = true};
    struct reg_cert out = {0};
    CHECK(registry_cert_add(reg, &sys, "t1", &up, &out, why) == 0);
    str_lcpy(anchor_fp, out.fingerprint, sizeof(anchor_fp));
    reg_cert_cleanup(&out);
    OPENSSL_free(der);
    X509_free(ca);
    EVP_PKEY_free(key);
    /* The registry and store stay open for the process's life (the fuzzer never returns). */
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    uint8_t mode = data[0];
    data++;
    size--;
    static const size_t chunks[] = {1, 7, 61, SIZE_MAX};
    size_t chunk = chunks[(mode >> 1) & 3];

    struct broker_config cfg;
    broker_config_defaults(&cfg);
    cfg.max_packet = 4096;
    cfg.max_queued = 8;
    cfg.max_inflight = 3;
    cfg.max_client_id = 64;
    cfg.retained_max = 16;
    cfg.retained_bytes = 4096;
    struct broker_hooks hooks = {.issue_token = issue_token};
    lazy_watcher = (mode & 16) != 0;
    int event = (mode >> 5) & 7;
    buf_init(&held, 1u << 20);
    CHECK(broker_new_transport(&cfg, reg, &fuzz_transport, NULL, &hooks, &broker) == 0);

    static unsigned input_no;
    input_no++;
    char peer[64];
    snprintf(peer, sizeof(peer), "10.%u.%u.%u:1883", (input_no >> 16) & 255, (input_no >> 8) & 255,
             input_no & 255);
    struct fconn *b = fconn_new(1, "10.255.255.1:1883");
    b->is_watcher = true;
    conns[1] = b;
    fconn_open(b);
    watcher_script(b, (mode & 8) != 0);
    settle();

    struct fconn *a = fconn_new(0, peer);
    if (mode & 1) {
        a->identity = identity_for("fz");
    }
    conns[0] = a;
    fconn_open(a);
    bool event_sent = false;
    for (size_t off = 0; off < size && !a->closed;) {
        size_t n = size - off < chunk ? size - off : chunk;
        if (!event_sent && off >= size / 2) {
            registry_event(event);
            event_sent = true;
            settle();
        }
        if (a->paused) {
            settle();
            if (a->paused) {
                break; /* back-pressure that does not clear: the client waits */
            }
        }
        feed(a, data + off, n);
        off += n;
        settle();
    }
    /* Timers: keep-alive (or the CONNECT timeout) expires. */
    if (!a->closed && a->timer_ms > 0) {
        current = 0;
        bconn_on_timeout(broker, a);
        current = -1;
        settle();
    }
    /* Shut down like net_server_stop: close everything, run what is left. */
    for (int i = 0; i < 2; i++) {
        f_close(conns[i], true);
    }
    settle();
    for (int i = 0; i < 2; i++) {
        close_done(conns[i], true);
    }
    run_messages();
    for (int i = 0; i < 2; i++) {
        f_unref(conns[i]);
        conns[i] = NULL;
    }
    broker_free(broker);
    broker = NULL;
    buf_cleanup(&held);
    CHECK(q_head == NULL);
    return 0;
}
