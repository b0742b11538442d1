#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "mqtt/codec.h"

#include <stdlib.h>
#include <string.h>

/* Byte vectors are written by hand from the MQTT 3.1.1 specification. V(...) makes a
 * compound literal array and its length. */
#define V(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

static void decode_ok(const uint8_t *data, size_t len, enum mqtt_dir dir, struct mqtt_packet *p)
{
    int rc = mqtt_packet_decode(data, len, dir, NULL, p);
    if (rc != 0) {
        fail_msg("decode failed: %d (%s)", rc, mqtt_strerror(rc));
    }
    /* The splitter agrees on the length. */
    assert_int_equal(mqtt_frame_split(data, len, 0), (int)len);
}

static void expect_err(const uint8_t *data, size_t len, enum mqtt_dir dir, int want)
{
    struct mqtt_packet p;
    memset(&p, 0xa5, sizeof(p));
    struct mqtt_packet before = p;
    int rc = mqtt_packet_decode(data, len, dir, NULL, &p);
    if (rc != want) {
        fail_msg("decode: got %d (%s), want %d (%s)", rc, mqtt_strerror(rc), want,
                 mqtt_strerror(want));
    }
    /* *out is untouched on failure. */
    assert_memory_equal(&p, &before, sizeof(p));
}

/* Compare what an encoder appended (rc and the buffer) with the expected bytes, and the
 * size-only call with the same length. */
static void expect_bytes(struct buf *b, int rc, int size_rc, const uint8_t *want, size_t len)
{
    if (rc < 0) {
        fail_msg("encode failed: %d (%s)", rc, mqtt_strerror(rc));
    }
    assert_int_equal(rc, (int)len);
    assert_int_equal(size_rc, (int)len);
    assert_int_equal(b->len, len);
    assert_memory_equal(buf_data(b), want, len);
    buf_reset(b);
}

static bool str_is(struct mqtt_str s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static bool bytes_are(struct mqtt_bytes s, const void *want, size_t len)
{
    return s.len == len && (len == 0 || memcmp(s.ptr, want, len) == 0);
}

/* ---- vectors, both ways ---- */

/* mosquitto_pub -V mqttv311 -i test -t a -m b: CONNECT, clean session, keep alive 60. */
static const uint8_t connect_mosquitto[] = {0x10, 0x10, 0x00, 0x04, 'M',  'Q', 'T', 'T', 0x04,
                                            0x02, 0x00, 0x3c, 0x00, 0x04, 't', 'e', 's', 't'};

static void connect_minimal(void **state)
{
    struct mqtt_packet p;
    struct buf b;
    buf_init(&b, 1024);
    decode_ok(connect_mosquitto, sizeof(connect_mosquitto), MQTT_FROM_CLIENT, &p);
    assert_int_equal(p.type, MQTT_CONNECT);
    const struct mqtt_connect *c = &p.connect;
    assert_int_equal(c->level, 4);
    assert_true(c->clean_session);
    assert_int_equal(c->keep_alive, 60);
    assert_true(str_is(c->client_id, "test"));
    /* Zero copy: the client id points into the input. */
    assert_ptr_equal(c->client_id.ptr, (const char *)connect_mosquitto + 14);
    assert_false(c->will);
    assert_false(c->has_username);
    assert_false(c->has_password);
    expect_bytes(&b, mqtt_connect_encode(&b, c), mqtt_connect_encode(NULL, c), connect_mosquitto,
                 sizeof(connect_mosquitto));
    buf_cleanup(&b);
}

/* Will (QoS 1, retained), user name and a binary password with a NUL. */
static const uint8_t connect_full[] = {0x10, 0x20, 0x00, 0x04, 'M',  'Q',  'T', 'T',  0x04,
                                       0xee, 0x00, 0x0a, 0x00, 0x02, 'c',  '1', 0x00, 0x03,
                                       'w',  '/',  't',  0x00, 0x03, 'b',  'y', 'e',  0x00,
                                       0x01, 'u',  0x00, 0x03, 'p',  0x00, 'w'};

static void connect_with_everything(void **state)
{
    struct mqtt_packet p;
    struct buf b;
    buf_init(&b, 1024);
    decode_ok(connect_full, sizeof(connect_full), MQTT_FROM_CLIENT, &p);
    const struct mqtt_connect *c = &p.connect;
    assert_int_equal(c->level, 4);
    assert_true(c->clean_session);
    assert_int_equal(c->keep_alive, 10);
    assert_true(str_is(c->client_id, "c1"));
    assert_true(c->will);
    assert_int_equal(c->will_qos, 1);
    assert_true(c->will_retain);
    assert_true(str_is(c->will_topic, "w/t"));
    assert_true(bytes_are(c->will_message, "bye", 3));
    assert_true(c->has_username);
    assert_true(str_is(c->username, "u"));
    assert_true(c->has_password);
    assert_true(bytes_are(c->password, "p\0w", 3));
    expect_bytes(&b, mqtt_connect_encode(&b, c), mqtt_connect_encode(NULL, c), connect_full,
                 sizeof(connect_full));

    /* The same built by hand, as the bench client would. */
    struct mqtt_connect hand = {
        .level = 4,
        .clean_session = true,
        .keep_alive = 10,
        .client_id = MQTT_STR("c1"),
        .will = true,
        .will_qos = 1,
        .will_retain = true,
        .will_topic = MQTT_STR("w/t"),
        .will_message = {(const uint8_t *)"bye", 3},
        .has_username = true,
        .username = MQTT_STR("u"),
        .has_password = true,
        .password = {(const uint8_t *)"p\0w", 3},
    };
    expect_bytes(&b, mqtt_connect_encode(&b, &hand), mqtt_connect_encode(NULL, &hand), connect_full,
                 sizeof(connect_full));
    buf_cleanup(&b);
}

/* An MQTT 3.1 client: "MQIsdp", level 3. */
static const uint8_t connect_v31[] = {0x10, 0x12, 0x00, 0x06, 'M',  'Q',  'I', 's', 'd', 'p',
                                      0x03, 0x02, 0x00, 0x3c, 0x00, 0x04, 't', 'e', 's', 't'};

static void connect_mqtt31(void **state)
{
    struct mqtt_packet p;
    struct buf b;
    buf_init(&b, 1024);
    decode_ok(connect_v31, sizeof(connect_v31), MQTT_FROM_CLIENT, &p);
    assert_int_equal(p.connect.level, 3);
    assert_true(str_is(p.connect.client_id, "test"));
    expect_bytes(&b, mqtt_connect_encode(&b, &p.connect), mqtt_connect_encode(NULL, &p.connect),
                 connect_v31, sizeof(connect_v31));
    buf_cleanup(&b);
}

static void connack_vectors(void **state)
{
    struct mqtt_packet p;
    struct buf b;
    buf_init(&b, 64);
    static const uint8_t accepted[] = {0x20, 0x02, 0x00, 0x00};
    static const uint8_t present[] = {0x20, 0x02, 0x01, 0x00};
    static const uint8_t refused[] = {0x20, 0x02, 0x00, 0x05};
    decode_ok(accepted, 4, MQTT_FROM_SERVER, &p);
    assert_int_equal(p.type, MQTT_CONNACK);
    assert_false(p.connack.session_present);
    assert_int_equal(p.connack.return_code, 0);
    decode_ok(present, 4, MQTT_FROM_SERVER, &p);
    assert_true(p.connack.session_present);
    decode_ok(refused, 4, MQTT_FROM_SERVER, &p);
    assert_int_equal(p.connack.return_code, MQTT_CONNACK_NOT_AUTHORIZED);
    expect_bytes(&b, mqtt_connack_encode(&b, false, 0), mqtt_connack_encode(NULL, false, 0),
                 accepted, 4);
    expect_bytes(&b, mqtt_connack_encode(&b, true, 0), mqtt_connack_encode(NULL, true, 0), present,
                 4);
    expect_bytes(&b, mqtt_connack_encode(&b, false, 5), mqtt_connack_encode(NULL, false, 5),
                 refused, 4);
    buf_cleanup(&b);
}

static void publish_vectors(void **state)
{
    struct mqtt_packet p;
    struct buf b;
    buf_init(&b, 1024);
    /* mosquitto_pub -t a -m b */
    static const uint8_t q0[] = {0x30, 0x04, 0x00, 0x01, 'a', 'b'};
    /* QoS 1, DUP, RETAIN, id 0x1234 */
    static const uint8_t q1[] = {0x3b, 0x08, 0x00, 0x03, 'a', '/', 'b', 0x12, 0x34, 'x'};
    /* QoS 2, id 1, empty payload */
    static const uint8_t q2[] = {0x34, 0x07, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x01};

    decode_ok(q0, sizeof(q0), MQTT_FROM_CLIENT, &p);
    assert_int_equal(p.type, MQTT_PUBLISH);
    assert_int_equal(p.publish.qos, 0);
    assert_false(p.publish.dup);
    assert_false(p.publish.retain);
    assert_true(str_is(p.publish.topic, "a"));
    assert_int_equal(p.publish.packet_id, 0);
    assert_true(bytes_are(p.publish.payload, "b", 1));
    assert_ptr_equal(p.publish.payload.ptr, q0 + 5);
    expect_bytes(&b, mqtt_publish_encode(&b, &p.publish), mqtt_publish_encode(NULL, &p.publish), q0,
                 sizeof(q0));

    decode_ok(q1, sizeof(q1), MQTT_FROM_SERVER, &p);
    assert_int_equal(p.publish.qos, 1);
    assert_true(p.publish.dup);
    assert_true(p.publish.retain);
    assert_true(str_is(p.publish.topic, "a/b"));
    assert_int_equal(p.publish.packet_id, 0x1234);
    assert_true(bytes_are(p.publish.payload, "x", 1));
    expect_bytes(&b, mqtt_publish_encode(&b, &p.publish), mqtt_publish_encode(NULL, &p.publish), q1,
                 sizeof(q1));

    decode_ok(q2, sizeof(q2), MQTT_FROM_CLIENT, &p);
    assert_int_equal(p.publish.qos, 2);
    assert_int_equal(p.publish.packet_id, 1);
    assert_int_equal(p.publish.payload.len, 0);
    struct mqtt_publish hand = {.qos = 2, .topic = MQTT_STR("a/b"), .packet_id = 1};
    expect_bytes(&b, mqtt_publish_encode(&b, &hand), mqtt_publish_encode(NULL, &hand), q2,
                 sizeof(q2));
    /* For QoS 0 the packet id is not written whatever it holds. */
    struct mqtt_publish q0hand = {
        .topic = MQTT_STR("a"), .packet_id = 77, .payload = {(const uint8_t *)"b", 1}};
    expect_bytes(&b, mqtt_publish_encode(&b, &q0hand), mqtt_publish_encode(NULL, &q0hand), q0,
                 sizeof(q0));
    buf_cleanup(&b);
}

static void ack_vectors(void **state)
{
    static const struct {
        enum mqtt_type type;
        uint8_t first;
        enum mqtt_dir dir;
    } acks[] = {
        {MQTT_PUBACK, 0x40, MQTT_FROM_CLIENT},   {MQTT_PUBREC, 0x50, MQTT_FROM_CLIENT},
        {MQTT_PUBREL, 0x62, MQTT_FROM_CLIENT},   {MQTT_PUBCOMP, 0x70, MQTT_FROM_CLIENT},
        {MQTT_PUBACK, 0x40, MQTT_FROM_SERVER},   {MQTT_PUBREC, 0x50, MQTT_FROM_SERVER},
        {MQTT_PUBREL, 0x62, MQTT_FROM_SERVER},   {MQTT_PUBCOMP, 0x70, MQTT_FROM_SERVER},
        {MQTT_UNSUBACK, 0xb0, MQTT_FROM_SERVER},
    };
    struct buf b;
    buf_init(&b, 64);
    for (size_t i = 0; i < sizeof(acks) / sizeof(acks[0]); i++) {
        uint8_t v[4] = {acks[i].first, 0x02, 0x12, 0x34};
        struct mqtt_packet p;
        decode_ok(v, 4, acks[i].dir, &p);
        assert_int_equal(p.type, acks[i].type);
        assert_int_equal(p.ack.packet_id, 0x1234);
        expect_bytes(&b, mqtt_ack_encode(&b, acks[i].type, 0x1234),
                     mqtt_ack_encode(NULL, acks[i].type, 0x1234), v, 4);
    }
    buf_cleanup(&b);
}

static const uint8_t subscribe_vec[] = {0x82, 0x0e, 0x00, 0x0a, 0x00, 0x03, 'a', '/',
                                        'b',  0x01, 0x00, 0x03, 'c',  '/',  '#', 0x02};

static void subscribe_vectors(void **state)
{
    struct mqtt_packet p;
    struct mqtt_filter_iter it;
    struct mqtt_str f;
    uint8_t qos = 9;
    struct buf b;
    buf_init(&b, 1024);
    decode_ok(subscribe_vec, sizeof(subscribe_vec), MQTT_FROM_CLIENT, &p);
    assert_int_equal(p.type, MQTT_SUBSCRIBE);
    assert_int_equal(p.subscribe.packet_id, 10);
    assert_int_equal(p.subscribe.count, 2);
    mqtt_filter_iter_init(&it, &p);
    assert_true(mqtt_filter_iter_next(&it, &f, &qos));
    assert_true(str_is(f, "a/b"));
    assert_int_equal(qos, 1);
    assert_true(mqtt_filter_iter_next(&it, &f, &qos));
    assert_true(str_is(f, "c/#"));
    assert_int_equal(qos, 2);
    assert_false(mqtt_filter_iter_next(&it, &f, &qos));
    struct mqtt_subscription subs[] = {{MQTT_STR("a/b"), 1}, {MQTT_STR("c/#"), 2}};
    expect_bytes(&b, mqtt_subscribe_encode(&b, 10, subs, 2),
                 mqtt_subscribe_encode(NULL, 10, subs, 2), subscribe_vec, sizeof(subscribe_vec));

    static const uint8_t suback[] = {0x90, 0x04, 0x00, 0x0a, 0x01, 0x80};
    decode_ok(suback, sizeof(suback), MQTT_FROM_SERVER, &p);
    assert_int_equal(p.type, MQTT_SUBACK);
    assert_int_equal(p.suback.packet_id, 10);
    assert_int_equal(p.suback.count, 2);
    assert_int_equal(p.suback.codes[0], 1);
    assert_int_equal(p.suback.codes[1], MQTT_SUBACK_FAILURE);
    static const uint8_t codes[] = {1, MQTT_SUBACK_FAILURE};
    expect_bytes(&b, mqtt_suback_encode(&b, 10, codes, 2), mqtt_suback_encode(NULL, 10, codes, 2),
                 suback, sizeof(suback));

    static const uint8_t unsub[] = {0xa2, 0x0c, 0x00, 0x0b, 0x00, 0x03, 'a',
                                    '/',  'b',  0x00, 0x03, '+',  '/',  '#'};
    decode_ok(unsub, sizeof(unsub), MQTT_FROM_CLIENT, &p);
    assert_int_equal(p.type, MQTT_UNSUBSCRIBE);
    assert_int_equal(p.subscribe.packet_id, 11);
    assert_int_equal(p.subscribe.count, 2);
    mqtt_filter_iter_init(&it, &p);
    assert_true(mqtt_filter_iter_next(&it, &f, &qos));
    assert_true(str_is(f, "a/b"));
    assert_int_equal(qos, 0);
    assert_true(mqtt_filter_iter_next(&it, &f, &qos));
    assert_true(str_is(f, "+/#"));
    assert_false(mqtt_filter_iter_next(&it, &f, &qos));
    struct mqtt_str filters[] = {MQTT_STR("a/b"), MQTT_STR("+/#")};
    expect_bytes(&b, mqtt_unsubscribe_encode(&b, 11, filters, 2),
                 mqtt_unsubscribe_encode(NULL, 11, filters, 2), unsub, sizeof(unsub));

    /* An iterator over a packet without filters yields nothing. */
    struct mqtt_packet ping = {.type = MQTT_PINGREQ};
    mqtt_filter_iter_init(&it, &ping);
    assert_false(mqtt_filter_iter_next(&it, &f, &qos));
    buf_cleanup(&b);
}

static void bare_vectors(void **state)
{
    static const struct {
        enum mqtt_type type;
        uint8_t first;
        enum mqtt_dir dir;
    } bare[] = {
        {MQTT_PINGREQ, 0xc0, MQTT_FROM_CLIENT},
        {MQTT_PINGRESP, 0xd0, MQTT_FROM_SERVER},
        {MQTT_DISCONNECT, 0xe0, MQTT_FROM_CLIENT},
    };
    struct buf b;
    buf_init(&b, 64);
    for (size_t i = 0; i < 3; i++) {
        uint8_t v[2] = {bare[i].first, 0x00};
        struct mqtt_packet p;
        decode_ok(v, 2, bare[i].dir, &p);
        assert_int_equal(p.type, bare[i].type);
        expect_bytes(&b, mqtt_bare_encode(&b, bare[i].type), mqtt_bare_encode(NULL, bare[i].type),
                     v, 2);
    }
    buf_cleanup(&b);
}

/* ---- framing ---- */

static void frame_split_incremental(void **state)
{
    /* Every proper prefix needs more; the whole is one frame; what follows is not. */
    uint8_t two[sizeof(connect_full) + 2];
    memcpy(two, connect_full, sizeof(connect_full));
    two[sizeof(connect_full)] = 0xc0;
    two[sizeof(connect_full) + 1] = 0x00;
    for (size_t n = 0; n < sizeof(connect_full); n++) {
        assert_int_equal(mqtt_frame_split(two, n, 0), 0);
    }
    assert_int_equal(mqtt_frame_split(two, sizeof(connect_full), 0), (int)sizeof(connect_full));
    assert_int_equal(mqtt_frame_split(two, sizeof(two), 0), (int)sizeof(connect_full));
    assert_int_equal(mqtt_frame_split(two + sizeof(connect_full), 2, 0), 2);
    /* Non-minimal Remaining Length is allowed by 3.1.1 (only the 4-byte limit is a rule). */
    static const uint8_t ping_long[] = {0xc0, 0x80, 0x80, 0x00};
    assert_int_equal(mqtt_frame_split(ping_long, 4, 0), 4);
    struct mqtt_packet p;
    assert_int_equal(mqtt_packet_decode(ping_long, 4, MQTT_FROM_CLIENT, NULL, &p), 0);
    assert_int_equal(p.type, MQTT_PINGREQ);
}

struct remlen_case {
    size_t rem;
    uint8_t hdr[5];
    size_t hdr_len;
};

static const struct remlen_case remlen_cases[] = {
    {0, {0x30, 0x00}, 2},
    {127, {0x30, 0x7f}, 2},
    {128, {0x30, 0x80, 0x01}, 3},
    {16383, {0x30, 0xff, 0x7f}, 3},
    {16384, {0x30, 0x80, 0x80, 0x01}, 4},
    {2097151, {0x30, 0xff, 0xff, 0x7f}, 4},
    {2097152, {0x30, 0x80, 0x80, 0x80, 0x01}, 5},
    {268435455, {0x30, 0xff, 0xff, 0xff, 0x7f}, 5},
};

static void remaining_length_boundaries(void **state)
{
    for (size_t i = 0; i < sizeof(remlen_cases) / sizeof(remlen_cases[0]); i++) {
        const struct remlen_case *c = &remlen_cases[i];
        size_t total = c->hdr_len + c->rem;
        /* The splitter reads the header alone: need more (or done for 0). */
        assert_int_equal(mqtt_frame_split(c->hdr, c->hdr_len, 0), c->rem == 0 ? 2 : 0);
        /* A cap one byte below the total is refused from the header alone. */
        assert_int_equal(mqtt_frame_split(c->hdr, c->hdr_len, total - 1), MQTT_ETOOBIG);
        if (c->rem == 0) {
            continue;
        }
        assert_int_equal(mqtt_frame_split(c->hdr, c->hdr_len, total), 0);
        /* The encoder writes the same header for a PUBLISH of that remaining length. */
        struct mqtt_publish pub = {.topic = MQTT_STR("t")};
        pub.payload.len = c->rem - 3;
        assert_int_equal(mqtt_publish_encode(NULL, &pub), (int)total);
        if (c->rem > 2097152) {
            continue; /* the size is enough; do not build 256 MB */
        }
        uint8_t *payload = calloc(1, pub.payload.len + 1);
        assert_non_null(payload);
        pub.payload.ptr = payload;
        struct buf b;
        buf_init(&b, total);
        assert_int_equal(mqtt_publish_encode(&b, &pub), (int)total);
        assert_memory_equal(buf_data(&b), c->hdr, c->hdr_len);
        assert_int_equal(mqtt_frame_split(buf_data(&b), b.len, 0), (int)total);
        assert_int_equal(mqtt_frame_split(buf_data(&b), b.len - 1, 0), 0);
        struct mqtt_packet p;
        assert_int_equal(mqtt_packet_decode(buf_data(&b), b.len, MQTT_FROM_CLIENT, NULL, &p), 0);
        assert_int_equal(p.publish.payload.len, c->rem - 3);
        buf_cleanup(&b);
        free(payload);
    }
    /* One more than the largest remaining length cannot be encoded. */
    struct mqtt_publish big = {.topic = MQTT_STR("t")};
    big.payload.len = 268435456 - 3;
    assert_int_equal(mqtt_publish_encode(NULL, &big), CG_ELIMIT);
    big.payload.len = SIZE_MAX;
    assert_int_equal(mqtt_publish_encode(NULL, &big), CG_ELIMIT);
}

static void remaining_length_invalid(void **state)
{
    /* The fourth length byte with its continuation bit: a fifth byte would be needed. */
    static const uint8_t five[] = {0x30, 0xff, 0xff, 0xff, 0xff, 0x01};
    static const uint8_t four_cont[] = {0x30, 0x80, 0x80, 0x80, 0x80};
    static const uint8_t three_cont[] = {0x30, 0x80, 0x80, 0x80};
    assert_int_equal(mqtt_frame_split(five, sizeof(five), 0), MQTT_EREMLEN);
    assert_int_equal(mqtt_frame_split(four_cont, sizeof(four_cont), 0), MQTT_EREMLEN);
    assert_int_equal(mqtt_frame_split(three_cont, sizeof(three_cont), 0), 0);
    expect_err(five, sizeof(five), MQTT_FROM_CLIENT, MQTT_EREMLEN);
    expect_err(three_cont, sizeof(three_cont), MQTT_FROM_CLIENT, MQTT_ETRUNCATED);
}

static void max_packet_size(void **state)
{
    uint8_t pkt[100] = {0x30, 98, 0x00, 0x01, 't'};
    assert_int_equal(mqtt_frame_split(pkt, 2, 100), 0);
    assert_int_equal(mqtt_frame_split(pkt, 100, 100), 100);
    assert_int_equal(mqtt_frame_split(pkt, 2, 99), MQTT_ETOOBIG);
    assert_int_equal(mqtt_frame_split(pkt, 100, 99), MQTT_ETOOBIG);
    /* 0 means the protocol maximum. */
    assert_int_equal(mqtt_frame_split(pkt, 100, 0), 100);
    /* Too small for anything: still a clean error. */
    assert_int_equal(mqtt_frame_split(pkt, 2, 1), MQTT_ETOOBIG);
}

/* ---- every rule, with its error ---- */

static void fixed_header_rules(void **state)
{
    expect_err(V(0x00, 0x00), MQTT_FROM_CLIENT, MQTT_ETYPE);
    expect_err(V(0xf0, 0x00), MQTT_FROM_CLIENT, MQTT_ETYPE);
    expect_err(V(0xf0, 0x00), MQTT_FROM_SERVER, MQTT_ETYPE);
    /* Types the other side never sends. */
    expect_err(V(0x20, 0x02, 0x00, 0x00), MQTT_FROM_CLIENT, MQTT_ETYPE);
    expect_err(V(0x90, 0x03, 0x00, 0x01, 0x00), MQTT_FROM_CLIENT, MQTT_ETYPE);
    expect_err(V(0xb0, 0x02, 0x00, 0x01), MQTT_FROM_CLIENT, MQTT_ETYPE);
    expect_err(V(0xd0, 0x00), MQTT_FROM_CLIENT, MQTT_ETYPE);
    expect_err(connect_mosquitto, sizeof(connect_mosquitto), MQTT_FROM_SERVER, MQTT_ETYPE);
    expect_err(subscribe_vec, sizeof(subscribe_vec), MQTT_FROM_SERVER, MQTT_ETYPE);
    expect_err(V(0xc0, 0x00), MQTT_FROM_SERVER, MQTT_ETYPE);
    expect_err(V(0xe0, 0x00), MQTT_FROM_SERVER, MQTT_ETYPE);
    /* Reserved flags [MQTT-2.2.2-2]. */
    expect_err(V(0x11, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x04,
                 't', 'e', 's', 't'),
               MQTT_FROM_CLIENT, MQTT_EFLAGS);
    expect_err(V(0x41, 0x02, 0x00, 0x01), MQTT_FROM_CLIENT, MQTT_EFLAGS);
    expect_err(V(0x52, 0x02, 0x00, 0x01), MQTT_FROM_CLIENT, MQTT_EFLAGS);
    expect_err(V(0x60, 0x02, 0x00, 0x01), MQTT_FROM_CLIENT, MQTT_EFLAGS); /* PUBREL 0010 */
    expect_err(V(0x63, 0x02, 0x00, 0x01), MQTT_FROM_CLIENT, MQTT_EFLAGS);
    expect_err(V(0x78, 0x02, 0x00, 0x01), MQTT_FROM_CLIENT, MQTT_EFLAGS);
    expect_err(V(0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00), MQTT_FROM_CLIENT, MQTT_EFLAGS);
    expect_err(V(0x83, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x00), MQTT_FROM_CLIENT, MQTT_EFLAGS);
    expect_err(V(0xa0, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'), MQTT_FROM_CLIENT, MQTT_EFLAGS);
    expect_err(V(0xc1, 0x00), MQTT_FROM_CLIENT, MQTT_EFLAGS);
    expect_err(V(0xe2, 0x00), MQTT_FROM_CLIENT, MQTT_EFLAGS);
    expect_err(V(0x28, 0x02, 0x00, 0x00), MQTT_FROM_SERVER, MQTT_EFLAGS);
    expect_err(V(0x92, 0x03, 0x00, 0x01, 0x00), MQTT_FROM_SERVER, MQTT_EFLAGS);
    expect_err(V(0xd4, 0x00), MQTT_FROM_SERVER, MQTT_EFLAGS);
    /* The given length must be exactly one packet. */
    expect_err(V(0xc0), MQTT_FROM_CLIENT, MQTT_ETRUNCATED);
    expect_err(V(0x40, 0x02, 0x00), MQTT_FROM_CLIENT, MQTT_ETRUNCATED);
    expect_err(V(0x40, 0x02, 0x00, 0x01, 0xc0), MQTT_FROM_CLIENT, MQTT_ETRAILING);
    struct mqtt_packet p;
    assert_int_equal(mqtt_packet_decode(NULL, 0, MQTT_FROM_CLIENT, NULL, &p), MQTT_ETRUNCATED);
    assert_int_equal(
        mqtt_packet_decode((const uint8_t[]){0xc0, 0x00}, 2, (enum mqtt_dir)7, NULL, &p),
        MQTT_ETYPE);
}

/* CONNECT with "MQTT" level 4 and the given flags and payload bytes. */
static void connect_err(uint8_t flags, const uint8_t *payload, size_t plen, int want)
{
    uint8_t pkt[300] = {0x10, 0, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, flags, 0x00, 0x3c};
    assert_true(plen + 12 <= sizeof(pkt) && plen + 10 < 128);
    memcpy(pkt + 12, payload, plen);
    pkt[1] = (uint8_t)(10 + plen);
    if (want == 0) {
        struct mqtt_packet p;
        decode_ok(pkt, 12 + plen, MQTT_FROM_CLIENT, &p);
        assert_int_equal(p.type, MQTT_CONNECT);
    } else {
        expect_err(pkt, 12 + plen, MQTT_FROM_CLIENT, want);
    }
}

static void connect_rules(void **state)
{
    /* Protocol name and level [MQTT-3.1.2-1], [MQTT-3.1.2-2]. */
    expect_err(V(0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'X', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x04,
                 't', 'e', 's', 't'),
               MQTT_FROM_CLIENT, MQTT_EPROTONAME);
    expect_err(V(0x10, 0x10, 0x00, 0x04, 'm', 'q', 't', 't', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x04,
                 't', 'e', 's', 't'),
               MQTT_FROM_CLIENT, MQTT_EPROTONAME);
    expect_err(V(0x10, 0x03, 0x00, 0x01, 'M'), MQTT_FROM_CLIENT, MQTT_EPROTONAME);
    expect_err(V(0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x03, 0x02, 0x00, 0x3c, 0x00, 0x04,
                 't', 'e', 's', 't'),
               MQTT_FROM_CLIENT, MQTT_EPROTOLEVEL);
    expect_err(V(0x10, 0x12, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x04, 0x02, 0x00, 0x3c, 0x00,
                 0x04, 't', 'e', 's', 't'),
               MQTT_FROM_CLIENT, MQTT_EPROTOLEVEL);
    /* An MQTT 5 CONNECT (properties after keep alive) gets the level error, not a parse
     * error, so the server can answer CONNACK 1. */
    expect_err(V(0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3c, 0x00, 0x00,
                 0x04, 't', 'e', 's', 't'),
               MQTT_FROM_CLIENT, MQTT_EPROTOLEVEL);
    /* Even when the rest is cut short. */
    expect_err(V(0x10, 0x07, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05), MQTT_FROM_CLIENT,
               MQTT_EPROTOLEVEL);
    expect_err(V(0x10, 0x06, 0x00, 0x04, 'M', 'Q', 'T', 'T'), MQTT_FROM_CLIENT, MQTT_ETRUNCATED);

    const uint8_t id[] = {0x00, 0x02, 'i', 'd'};
    /* Reserved flag [MQTT-3.1.2-3]. */
    connect_err(0x03, id, sizeof(id), MQTT_ERESERVED);
    /* Will QoS / retain without will [MQTT-3.1.2-11/13/15]; Will QoS 3 [MQTT-3.1.2-14]. */
    connect_err(0x02 | 0x08, id, sizeof(id), MQTT_EWILLFLAGS);
    connect_err(0x02 | 0x10, id, sizeof(id), MQTT_EWILLFLAGS);
    connect_err(0x02 | 0x20, id, sizeof(id), MQTT_EWILLFLAGS);
    const uint8_t with_will[] = {0x00, 0x02, 'i', 'd', 0x00, 0x01, 't', 0x00, 0x01, 'm'};
    connect_err(0x02 | 0x04 | 0x18, with_will, sizeof(with_will), MQTT_EWILLQOS);
    connect_err(0x02 | 0x04 | 0x10 | 0x20, with_will, sizeof(with_will), 0);
    /* Password without user name [MQTT-3.1.2-22]. */
    const uint8_t with_pw[] = {0x00, 0x02, 'i', 'd', 0x00, 0x01, 'p'};
    connect_err(0x02 | 0x40, with_pw, sizeof(with_pw), MQTT_EPASSWORD);
    /* A user name without password is fine. */
    const uint8_t with_user[] = {0x00, 0x02, 'i', 'd', 0x00, 0x01, 'u'};
    connect_err(0x02 | 0x80, with_user, sizeof(with_user), 0);
    /* Will topic must be a topic name. */
    const uint8_t will_wild[] = {0x00, 0x02, 'i', 'd', 0x00, 0x01, '#', 0x00, 0x01, 'm'};
    connect_err(0x02 | 0x04, will_wild, sizeof(will_wild), MQTT_EWILLTOPIC);
    const uint8_t will_empty[] = {0x00, 0x02, 'i', 'd', 0x00, 0x00, 0x00, 0x01, 'm'};
    connect_err(0x02 | 0x04, will_empty, sizeof(will_empty), MQTT_EWILLTOPIC);
    const uint8_t will_nul[] = {0x00, 0x02, 'i', 'd', 0x00, 0x01, 0x00, 0x00, 0x01, 'm'};
    connect_err(0x02 | 0x04, will_nul, sizeof(will_nul), MQTT_EUTF8);
    /* Will message is binary: NUL and invalid UTF-8 are fine; it may be empty. */
    const uint8_t will_bin[] = {0x00, 0x02, 'i', 'd', 0x00, 0x01, 't', 0x00, 0x02, 0x00, 0xff};
    connect_err(0x02 | 0x04, will_bin, sizeof(will_bin), 0);
    const uint8_t will_nomsg[] = {0x00, 0x02, 'i', 'd', 0x00, 0x01, 't', 0x00, 0x00};
    connect_err(0x02 | 0x04, will_nomsg, sizeof(will_nomsg), 0);
    /* UTF-8 in client id and user name [MQTT-1.5.3-1/2]; the password is binary. */
    const uint8_t id_nul[] = {0x00, 0x02, 'i', 0x00};
    connect_err(0x02, id_nul, sizeof(id_nul), MQTT_EUTF8);
    const uint8_t id_bad[] = {0x00, 0x02, 0xc3, 0x28};
    connect_err(0x02, id_bad, sizeof(id_bad), MQTT_EUTF8);
    const uint8_t user_bad[] = {0x00, 0x02, 'i', 'd', 0x00, 0x01, 0x80};
    connect_err(0x02 | 0x80, user_bad, sizeof(user_bad), MQTT_EUTF8);
    const uint8_t pw_bin[] = {0x00, 0x02, 'i', 'd', 0x00, 0x01, 'u', 0x00, 0x02, 0x00, 0xff};
    connect_err(0x02 | 0x80 | 0x40, pw_bin, sizeof(pw_bin), 0);
    /* Truncated fields and trailing bytes. */
    const uint8_t id_short[] = {0x00, 0x05, 'i', 'd'};
    connect_err(0x02, id_short, sizeof(id_short), MQTT_ETRUNCATED);
    connect_err(0x02, id, 1, MQTT_ETRUNCATED);
    connect_err(0x02 | 0x04, id, sizeof(id), MQTT_ETRUNCATED); /* will missing */
    connect_err(0x02 | 0x80, id, sizeof(id), MQTT_ETRUNCATED); /* user name missing */
    connect_err(0x02 | 0x80 | 0x40, with_user, sizeof(with_user), MQTT_ETRUNCATED);
    const uint8_t id_extra[] = {0x00, 0x02, 'i', 'd', 'x'};
    connect_err(0x02, id_extra, sizeof(id_extra), MQTT_ETRAILING);
    expect_err(V(0x10, 0x0a, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00), MQTT_FROM_CLIENT,
               MQTT_ETRUNCATED);
}

static void connect_client_id_rules(void **state)
{
    const uint8_t empty[] = {0x00, 0x00};
    /* Empty with clean session: allowed [MQTT-3.1.3-6]; without: CONNACK 2 [MQTT-3.1.3-8]. */
    connect_err(0x02, empty, sizeof(empty), 0);
    connect_err(0x00, empty, sizeof(empty), MQTT_ECLIENTIDEMPTY);
    /* Malformed wins over the identifier decision: the packet must be well formed first. */
    const uint8_t empty_extra[] = {0x00, 0x00, 'x'};
    connect_err(0x00, empty_extra, sizeof(empty_extra), MQTT_ETRAILING);
    /* MQTT 3.1 never allowed an empty identifier. */
    expect_err(
        V(0x10, 0x0e, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x02, 0x00, 0x3c, 0x00, 0x00),
        MQTT_FROM_CLIENT, MQTT_ECLIENTIDEMPTY);

    /* Length: the default cap is 256 bytes; a configured one applies instead. */
    uint8_t pkt[400] = {0x10, 0, 0, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c};
    struct mqtt_packet p;
    for (size_t idlen = 255; idlen <= 257; idlen++) {
        size_t rem = 10 + 2 + idlen;
        pkt[1] = (uint8_t)(0x80 | (rem & 0x7f));
        pkt[2] = (uint8_t)(rem >> 7);
        pkt[13] = (uint8_t)(idlen >> 8);
        pkt[14] = (uint8_t)idlen;
        memset(pkt + 15, 'x', idlen);
        int rc = mqtt_packet_decode(pkt, 15 + idlen, MQTT_FROM_CLIENT, NULL, &p);
        assert_int_equal(rc, idlen <= MQTT_DEFAULT_MAX_CLIENT_ID ? 0 : MQTT_ECLIENTIDLONG);
        struct mqtt_limits lim = {.max_client_id = 300};
        assert_int_equal(mqtt_packet_decode(pkt, 15 + idlen, MQTT_FROM_CLIENT, &lim, &p), 0);
        lim.max_client_id = 255;
        assert_int_equal(mqtt_packet_decode(pkt, 15 + idlen, MQTT_FROM_CLIENT, &lim, &p),
                         idlen <= 255 ? 0 : MQTT_ECLIENTIDLONG);
    }
    /* The length counts bytes, not characters. */
    const uint8_t euro[] = {0x00, 0x03, 0xe2, 0x82, 0xac};
    uint8_t one[20] = {0x10, 15, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3c};
    memcpy(one + 12, euro, sizeof(euro));
    struct mqtt_limits two = {.max_client_id = 2};
    assert_int_equal(mqtt_packet_decode(one, 17, MQTT_FROM_CLIENT, &two, &p), MQTT_ECLIENTIDLONG);
    two.max_client_id = 3;
    assert_int_equal(mqtt_packet_decode(one, 17, MQTT_FROM_CLIENT, &two, &p), 0);
}

static void connack_code_mapping(void **state)
{
    assert_int_equal(mqtt_error_connack_code(MQTT_EPROTOLEVEL), MQTT_CONNACK_BAD_PROTOCOL);
    assert_int_equal(mqtt_error_connack_code(MQTT_ECLIENTIDEMPTY), MQTT_CONNACK_ID_REJECTED);
    assert_int_equal(mqtt_error_connack_code(MQTT_ECLIENTIDLONG), MQTT_CONNACK_ID_REJECTED);
    static const int close_codes[] = {
        MQTT_EREMLEN,   MQTT_ETOOBIG,    MQTT_ETYPE,      MQTT_EFLAGS,    MQTT_ETRUNCATED,
        MQTT_ETRAILING, MQTT_EUTF8,      MQTT_EPROTONAME, MQTT_ERESERVED, MQTT_EWILLFLAGS,
        MQTT_EWILLQOS,  MQTT_EWILLTOPIC, MQTT_EPASSWORD,  MQTT_EQOS,      MQTT_EDUP,
        MQTT_EPACKETID, MQTT_ETOPIC,     MQTT_EFILTER,    MQTT_ENOFILTER, MQTT_ESUBQOS,
        MQTT_ERETCODE,  MQTT_ESESSION,   -ENOMEM,
    };
    for (size_t i = 0; i < sizeof(close_codes) / sizeof(close_codes[0]); i++) {
        assert_int_equal(mqtt_error_connack_code(close_codes[i]), -1);
        /* Every code has its own sentence. */
        const char *s = mqtt_strerror(close_codes[i]);
        assert_non_null(s);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(s, mqtt_strerror(close_codes[j]));
        }
    }
    assert_string_equal(mqtt_strerror(CG_EPARSE), "malformed input");
}

static void publish_rules(void **state)
{
    /* QoS 3 [MQTT-3.3.1-4]; DUP with QoS 0 [MQTT-3.3.1-2]. */
    expect_err(V(0x36, 0x05, 0x00, 0x01, 'a', 0x00, 0x01), MQTT_FROM_CLIENT, MQTT_EQOS);
    expect_err(V(0x38, 0x03, 0x00, 0x01, 'a'), MQTT_FROM_CLIENT, MQTT_EDUP);
    expect_err(V(0x38, 0x03, 0x00, 0x01, 'a'), MQTT_FROM_SERVER, MQTT_EDUP);
    /* Topic: no wildcards [MQTT-3.3.2-2], not empty [MQTT-4.7.3-1], UTF-8. */
    expect_err(V(0x30, 0x05, 0x00, 0x03, 'a', '/', '+'), MQTT_FROM_CLIENT, MQTT_ETOPIC);
    expect_err(V(0x30, 0x03, 0x00, 0x01, '#'), MQTT_FROM_CLIENT, MQTT_ETOPIC);
    expect_err(V(0x30, 0x03, 0x00, 0x00, 'x'), MQTT_FROM_CLIENT, MQTT_ETOPIC);
    expect_err(V(0x30, 0x03, 0x00, 0x01, 0x00), MQTT_FROM_CLIENT, MQTT_EUTF8);
    expect_err(V(0x30, 0x04, 0x00, 0x02, 0xed, 0xa0), MQTT_FROM_CLIENT, MQTT_EUTF8);
    /* Packet identifier 0 [MQTT-2.3.1-1], or missing. */
    expect_err(V(0x32, 0x05, 0x00, 0x01, 'a', 0x00, 0x00), MQTT_FROM_CLIENT, MQTT_EPACKETID);
    expect_err(V(0x34, 0x05, 0x00, 0x01, 'a', 0x00, 0x00), MQTT_FROM_CLIENT, MQTT_EPACKETID);
    expect_err(V(0x32, 0x04, 0x00, 0x01, 'a', 0x00), MQTT_FROM_CLIENT, MQTT_ETRUNCATED);
    expect_err(V(0x30, 0x03, 0x00, 0x05, 'a'), MQTT_FROM_CLIENT, MQTT_ETRUNCATED);
    expect_err(V(0x30, 0x01, 0x00), MQTT_FROM_CLIENT, MQTT_ETRUNCATED);
    /* The payload is binary and may be empty; a QoS 0 payload starts right after the
     * topic (no packet id). */
    struct mqtt_packet p;
    decode_ok(V(0x30, 0x06, 0x00, 0x01, 'a', 0x00, 0x00, 0xff), MQTT_FROM_CLIENT, &p);
    assert_true(bytes_are(p.publish.payload, "\0\0\xff", 3));
    decode_ok(V(0x31, 0x03, 0x00, 0x01, 'a'), MQTT_FROM_CLIENT, &p);
    assert_true(p.publish.retain);
    assert_int_equal(p.publish.payload.len, 0);
}

static void ack_rules(void **state)
{
    expect_err(V(0x40, 0x02, 0x00, 0x00), MQTT_FROM_CLIENT, MQTT_EPACKETID);
    expect_err(V(0x50, 0x02, 0x00, 0x00), MQTT_FROM_CLIENT, MQTT_EPACKETID);
    expect_err(V(0x62, 0x02, 0x00, 0x00), MQTT_FROM_CLIENT, MQTT_EPACKETID);
    expect_err(V(0x70, 0x02, 0x00, 0x00), MQTT_FROM_CLIENT, MQTT_EPACKETID);
    expect_err(V(0xb0, 0x02, 0x00, 0x00), MQTT_FROM_SERVER, MQTT_EPACKETID);
    expect_err(V(0x40, 0x01, 0x01), MQTT_FROM_CLIENT, MQTT_ETRUNCATED);
    expect_err(V(0x40, 0x00), MQTT_FROM_CLIENT, MQTT_ETRUNCATED);
    expect_err(V(0x40, 0x03, 0x00, 0x01, 0x00), MQTT_FROM_CLIENT, MQTT_ETRAILING);
    expect_err(V(0xb0, 0x03, 0x00, 0x01, 0x00), MQTT_FROM_SERVER, MQTT_ETRAILING);
    expect_err(V(0xc0, 0x01, 0x00), MQTT_FROM_CLIENT, MQTT_ETRAILING);
    expect_err(V(0xe0, 0x01, 0x00), MQTT_FROM_CLIENT, MQTT_ETRAILING);
    expect_err(V(0xd0, 0x01, 0x00), MQTT_FROM_SERVER, MQTT_ETRAILING);
}

static void connack_rules(void **state)
{
    expect_err(V(0x20, 0x02, 0x02, 0x00), MQTT_FROM_SERVER, MQTT_ERESERVED);
    expect_err(V(0x20, 0x02, 0x80, 0x00), MQTT_FROM_SERVER, MQTT_ERESERVED);
    expect_err(V(0x20, 0x02, 0x00, 0x06), MQTT_FROM_SERVER, MQTT_ERETCODE);
    expect_err(V(0x20, 0x02, 0x01, 0x01), MQTT_FROM_SERVER, MQTT_ESESSION);
    expect_err(V(0x20, 0x01, 0x00), MQTT_FROM_SERVER, MQTT_ETRUNCATED);
    expect_err(V(0x20, 0x03, 0x00, 0x00, 0x00), MQTT_FROM_SERVER, MQTT_ETRAILING);
}

static void subscribe_rules(void **state)
{
    /* At least one filter [MQTT-3.8.3-3]. */
    expect_err(V(0x82, 0x02, 0x00, 0x01), MQTT_FROM_CLIENT, MQTT_ENOFILTER);
    /* Requested QoS and reserved bits [MQTT-3.8.3-4]. */
    expect_err(V(0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x03), MQTT_FROM_CLIENT, MQTT_ESUBQOS);
    expect_err(V(0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x04), MQTT_FROM_CLIENT, MQTT_ERESERVED);
    expect_err(V(0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 'a', 0x80), MQTT_FROM_CLIENT, MQTT_ERESERVED);
    /* Packet id, filters, truncation. */
    expect_err(V(0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 'a', 0x00), MQTT_FROM_CLIENT, MQTT_EPACKETID);
    expect_err(V(0x82, 0x08, 0x00, 0x01, 0x00, 0x03, 'a', '#', 'b', 0x00), MQTT_FROM_CLIENT,
               MQTT_EFILTER);
    expect_err(V(0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00), MQTT_FROM_CLIENT, MQTT_EFILTER);
    expect_err(V(0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0xff, 0x00), MQTT_FROM_CLIENT, MQTT_EUTF8);
    expect_err(V(0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 'a'), MQTT_FROM_CLIENT, MQTT_ETRUNCATED);
    expect_err(V(0x82, 0x03, 0x00, 0x01, 0x00), MQTT_FROM_CLIENT, MQTT_ETRUNCATED);
    expect_err(V(0x82, 0x01, 0x00), MQTT_FROM_CLIENT, MQTT_ETRUNCATED);
    /* A bad second entry fails the whole packet. */
    expect_err(V(0x82, 0x0b, 0x00, 0x01, 0x00, 0x01, 'a', 0x00, 0x00, 0x02, 'b', '+', 0x01),
               MQTT_FROM_CLIENT, MQTT_EFILTER);
    /* UNSUBSCRIBE [MQTT-3.10.3-2]. */
    expect_err(V(0xa2, 0x02, 0x00, 0x01), MQTT_FROM_CLIENT, MQTT_ENOFILTER);
    expect_err(V(0xa2, 0x05, 0x00, 0x00, 0x00, 0x01, 'a'), MQTT_FROM_CLIENT, MQTT_EPACKETID);
    expect_err(V(0xa2, 0x06, 0x00, 0x01, 0x00, 0x02, '#', '#'), MQTT_FROM_CLIENT, MQTT_EFILTER);
    expect_err(V(0xa2, 0x06, 0x00, 0x01, 0x00, 0x03, 'a', 'b'), MQTT_FROM_CLIENT, MQTT_ETRUNCATED);
    /* SUBACK [MQTT-3.9.3-2]. */
    expect_err(V(0x90, 0x03, 0x00, 0x01, 0x03), MQTT_FROM_SERVER, MQTT_ERETCODE);
    expect_err(V(0x90, 0x03, 0x00, 0x01, 0x81), MQTT_FROM_SERVER, MQTT_ERETCODE);
    expect_err(V(0x90, 0x02, 0x00, 0x01), MQTT_FROM_SERVER, MQTT_ENOFILTER);
    expect_err(V(0x90, 0x03, 0x00, 0x00, 0x00), MQTT_FROM_SERVER, MQTT_EPACKETID);
}

/* ---- encoder argument checks and buffer behaviour ---- */

static void encoder_rules(void **state)
{
    struct buf b;
    buf_init(&b, 1024);
    struct mqtt_connect c = {.level = 4, .clean_session = true, .client_id = MQTT_STR("x")};
    assert_true(mqtt_connect_encode(&b, &c) > 0);
    c.level = 5;
    assert_int_equal(mqtt_connect_encode(&b, &c), -EINVAL);
    c.level = 4;
    c.will_qos = 1;
    assert_int_equal(mqtt_connect_encode(&b, &c), -EINVAL); /* will QoS without will */
    c.will = true;
    c.will_qos = 3;
    assert_int_equal(mqtt_connect_encode(&b, &c), -EINVAL);
    c.will = false;
    c.will_qos = 0;
    c.will_retain = true;
    assert_int_equal(mqtt_connect_encode(&b, &c), -EINVAL);
    c.will_retain = false;
    c.has_password = true;
    assert_int_equal(mqtt_connect_encode(&b, &c), -EINVAL);
    c.has_password = false;
    c.client_id.len = 65536;
    assert_int_equal(mqtt_connect_encode(NULL, &c), -EINVAL);

    assert_int_equal(mqtt_connack_encode(&b, false, 6), -EINVAL);
    assert_int_equal(mqtt_connack_encode(&b, true, 1), -EINVAL);

    struct mqtt_publish p = {.qos = 3, .topic = MQTT_STR("t"), .packet_id = 1};
    assert_int_equal(mqtt_publish_encode(&b, &p), -EINVAL);
    p.qos = 1;
    p.packet_id = 0;
    assert_int_equal(mqtt_publish_encode(&b, &p), -EINVAL);
    p.qos = 0;
    p.dup = true;
    assert_int_equal(mqtt_publish_encode(&b, &p), -EINVAL);
    p.dup = false;
    p.topic.len = 65536;
    assert_int_equal(mqtt_publish_encode(NULL, &p), -EINVAL);

    assert_int_equal(mqtt_ack_encode(&b, MQTT_CONNECT, 1), -EINVAL);
    assert_int_equal(mqtt_ack_encode(&b, MQTT_SUBACK, 1), -EINVAL);
    assert_int_equal(mqtt_ack_encode(&b, MQTT_PUBACK, 0), -EINVAL);
    struct mqtt_subscription subs[] = {{MQTT_STR("a"), 3}};
    assert_int_equal(mqtt_subscribe_encode(&b, 1, subs, 1), -EINVAL);
    subs[0].qos = 0;
    assert_int_equal(mqtt_subscribe_encode(&b, 1, subs, 0), -EINVAL);
    assert_int_equal(mqtt_subscribe_encode(&b, 0, subs, 1), -EINVAL);
    uint8_t bad_code = 3;
    assert_int_equal(mqtt_suback_encode(&b, 1, &bad_code, 1), -EINVAL);
    assert_int_equal(mqtt_suback_encode(&b, 1, &bad_code, 0), -EINVAL);
    struct mqtt_str f = MQTT_STR("a");
    assert_int_equal(mqtt_unsubscribe_encode(&b, 1, &f, 0), -EINVAL);
    assert_int_equal(mqtt_unsubscribe_encode(&b, 0, &f, 1), -EINVAL);
    assert_int_equal(mqtt_bare_encode(&b, MQTT_PUBLISH), -EINVAL);
    assert_int_equal(mqtt_bare_encode(&b, MQTT_CONNACK), -EINVAL);
    /* Only the first valid CONNECT was written. */
    assert_int_equal(b.len, 15);
    buf_cleanup(&b);
}

static void encoder_buffer(void **state)
{
    struct buf b;
    /* A buffer too small for the packet: CG_ELIMIT and nothing written. */
    buf_init(&b, 5);
    assert_int_equal(mqtt_bare_encode(&b, MQTT_PINGREQ), 2);
    struct mqtt_publish p = {.topic = MQTT_STR("abc")};
    assert_int_equal(mqtt_publish_encode(&b, &p), CG_ELIMIT);
    assert_int_equal(b.len, 2);
    assert_int_equal(mqtt_ack_encode(&b, MQTT_PUBACK, 7), CG_ELIMIT);
    assert_int_equal(b.len, 2);
    /* Packets are appended after what is there, even after consuming from the front. */
    buf_consume(&b, 1);
    assert_int_equal(mqtt_bare_encode(&b, MQTT_PINGRESP), 2);
    static const uint8_t want[] = {0x00, 0xd0, 0x00};
    assert_int_equal(b.len, 3);
    assert_memory_equal(buf_data(&b), want, 3);
    buf_cleanup(&b);
}

static void type_names(void **state)
{
    assert_string_equal(mqtt_type_name(MQTT_CONNECT), "CONNECT");
    assert_string_equal(mqtt_type_name(MQTT_DISCONNECT), "DISCONNECT");
    assert_string_equal(mqtt_type_name(0), "RESERVED");
    assert_string_equal(mqtt_type_name(15), "RESERVED");
    assert_string_equal(mqtt_type_name(-1), "RESERVED");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_minimal),
        cmocka_unit_test(connect_with_everything),
        cmocka_unit_test(connect_mqtt31),
        cmocka_unit_test(connack_vectors),
        cmocka_unit_test(publish_vectors),
        cmocka_unit_test(ack_vectors),
        cmocka_unit_test(subscribe_vectors),
        cmocka_unit_test(bare_vectors),
        cmocka_unit_test(frame_split_incremental),
        cmocka_unit_test(remaining_length_boundaries),
        cmocka_unit_test(remaining_length_invalid),
        cmocka_unit_test(max_packet_size),
        cmocka_unit_test(fixed_header_rules),
        cmocka_unit_test(connect_rules),
        cmocka_unit_test(connect_client_id_rules),
        cmocka_unit_test(connack_code_mapping),
        cmocka_unit_test(publish_rules),
        cmocka_unit_test(ack_rules),
        cmocka_unit_test(connack_rules),
        cmocka_unit_test(subscribe_rules),
        cmocka_unit_test(encoder_rules),
        cmocka_unit_test(encoder_buffer),
        cmocka_unit_test(type_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
