/* Fuzz target: arbitrary bytes as a stream received by an MQTT server or client.
 *
 * The stream is cut into packets with mqtt_frame_split; each packet is decoded in both
 * directions. Whenever a decode succeeds the packet is re-encoded with the public
 * encoders and decoded again, and the two decoded packets must be equal; when the input
 * used the minimal Remaining Length encoding the re-encoded bytes must be identical to the
 * input. Every failure must be one of the codec's own error codes.
 */
#include "core/buf.h"
#include "mqtt/codec.h"
#include "mqtt/topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool str_same(struct mqtt_str a, struct mqtt_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool bytes_same(struct mqtt_bytes a, struct mqtt_bytes b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool packets_equal(const struct mqtt_packet *a, const struct mqtt_packet *b)
{
    if (a->type != b->type) {
        return false;
    }
    switch (a->type) {
    case MQTT_CONNECT: {
        const struct mqtt_connect *x = &a->connect, *y = &b->connect;
        return x->level == y->level && x->clean_session == y->clean_session &&
               x->keep_alive == y->keep_alive && str_same(x->client_id, y->client_id) &&
               x->will == y->will && x->will_qos == y->will_qos &&
               x->will_retain == y->will_retain && str_same(x->will_topic, y->will_topic) &&
               bytes_same(x->will_message, y->will_message) && x->has_username == y->has_username &&
               str_same(x->username, y->username) && x->has_password == y->has_password &&
               bytes_same(x->password, y->password);
    }
    case MQTT_CONNACK:
        return a->connack.session_present == b->connack.session_present &&
               a->connack.return_code == b->connack.return_code;
    case MQTT_PUBLISH: {
        const struct mqtt_publish *x = &a->publish, *y = &b->publish;
        return x->dup == y->dup && x->qos == y->qos && x->retain == y->retain &&
               str_same(x->topic, y->topic) && x->packet_id == y->packet_id &&
               bytes_same(x->payload, y->payload);
    }
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        return a->ack.packet_id == b->ack.packet_id;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE:
        return a->subscribe.packet_id == b->subscribe.packet_id &&
               a->subscribe.count == b->subscribe.count &&
               bytes_same(a->subscribe.list, b->subscribe.list);
    case MQTT_SUBACK:
        return a->suback.packet_id == b->suback.packet_id && a->suback.count == b->suback.count &&
               memcmp(a->suback.codes, b->suback.codes, a->suback.count) == 0;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        return true;
    }
    return false;
}

/* What a successful decode promises about the packet. */
static void check_invariants(const struct mqtt_packet *p, const struct mqtt_limits *lim)
{
    switch (p->type) {
    case MQTT_CONNECT:
        CHECK(p->connect.level == 3 || p->connect.level == 4);
        CHECK(p->connect.will_qos <= 2);
        CHECK(p->connect.will || (p->connect.will_qos == 0 && !p->connect.will_retain));
        CHECK(!p->connect.has_password || p->connect.has_username);
        CHECK(p->connect.client_id.len <= lim->max_client_id);
        CHECK(p->connect.client_id.len > 0 || p->connect.clean_session);
        CHECK(!p->connect.will ||
              mqtt_topic_name_check(p->connect.will_topic.ptr, p->connect.will_topic.len) == 0);
        break;
    case MQTT_PUBLISH:
        CHECK(p->publish.qos <= 2);
        CHECK(!p->publish.dup || p->publish.qos > 0);
        CHECK((p->publish.packet_id != 0) == (p->publish.qos > 0));
        CHECK(mqtt_topic_name_check(p->publish.topic.ptr, p->publish.topic.len) == 0);
        break;
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE: {
        struct mqtt_filter_iter it;
        struct mqtt_str f;
        uint8_t qos;
        size_t n = 0;
        mqtt_filter_iter_init(&it, p);
        while (mqtt_filter_iter_next(&it, &f, &qos)) {
            CHECK(mqtt_topic_filter_check(f.ptr, f.len) == 0);
            CHECK(qos <= 2);
            n++;
        }
        CHECK(n == p->subscribe.count && n > 0);
        CHECK(p->subscribe.packet_id != 0);
        break;
    }
    default:
        break;
    }
}

/* Encode p with the public encoders (b NULL: size only). */
static int encode(struct buf *b, const struct mqtt_packet *p)
{
    int rc = -1;
    switch (p->type) {
    case MQTT_CONNECT:
        return mqtt_connect_encode(b, &p->connect);
    case MQTT_CONNACK:
        return mqtt_connack_encode(b, p->connack.session_present, p->connack.return_code);
    case MQTT_PUBLISH:
        return mqtt_publish_encode(b, &p->publish);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        return mqtt_ack_encode(b, p->type, p->ack.packet_id);
    case MQTT_SUBACK:
        return mqtt_suback_encode(b, p->suback.packet_id, p->suback.codes, p->suback.count);
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        return mqtt_bare_encode(b, p->type);
    case MQTT_SUBSCRIBE:
    case MQTT_UNSUBSCRIBE: {
        struct mqtt_subscription *subs = calloc(p->subscribe.count, sizeof(*subs));
        struct mqtt_str *filters = calloc(p->subscribe.count, sizeof(*filters));
        struct mqtt_filter_iter it;
        size_t n = 0;
        CHECK(subs != NULL && filters != NULL);
        mqtt_filter_iter_init(&it, p);
        while (n < p->subscribe.count &&
               mqtt_filter_iter_next(&it, &subs[n].filter, &subs[n].qos)) {
            filters[n] = subs[n].filter;
            n++;
        }
        CHECK(n == p->subscribe.count);
        if (p->type == MQTT_SUBSCRIBE) {
            rc = mqtt_subscribe_encode(b, p->subscribe.packet_id, subs, n);
        } else {
            rc = mqtt_unsubscribe_encode(b, p->subscribe.packet_id, filters, n);
        }
        free(subs);
        free(filters);
        return rc;
    }
    }
    return rc;
}

static size_t header_len(const uint8_t *frame, size_t *rem)
{
    size_t i = 1, value = 0;
    for (; i <= 4; i++) {
        value |= (size_t)(frame[i] & 0x7f) << (7 * (i - 1));
        if (!(frame[i] & 0x80)) {
            break;
        }
    }
    *rem = value;
    return i + 1;
}

static void round_trip(const uint8_t *frame, size_t n, enum mqtt_dir dir,
                       const struct mqtt_limits *lim, const struct mqtt_packet *p)
{
    struct buf b;
    struct mqtt_packet again;
    size_t rem;
    size_t hdr = header_len(frame, &rem);
    size_t minimal = 1 + (rem < 128 ? 1 : rem < 16384 ? 2 : rem < 2097152 ? 3 : 4);

    buf_init(&b, n + 8);
    int size = encode(NULL, p);
    int written = encode(&b, p);
    CHECK(size > 0);
    CHECK(written == size);
    CHECK(b.len == (size_t)written);
    CHECK((size_t)written == n - hdr + minimal);
    if (hdr == minimal) {
        CHECK(memcmp(buf_data(&b), frame, n) == 0);
    } else {
        CHECK(memcmp(buf_data(&b) + minimal, frame + hdr, n - hdr) == 0);
    }
    CHECK(mqtt_frame_split(buf_data(&b), b.len, 0) == written);
    int rc = mqtt_packet_decode(buf_data(&b), b.len, dir, lim, &again);
    CHECK(rc == 0);
    CHECK(packets_equal(p, &again));
    buf_cleanup(&b);
}

static void one_packet(const uint8_t *frame, size_t n)
{
    static const struct mqtt_limits limits[] = {{0}, {.max_client_id = 8}};
    for (int d = 0; d < 2; d++) {
        enum mqtt_dir dir = d == 0 ? MQTT_FROM_CLIENT : MQTT_FROM_SERVER;
        for (size_t l = 0; l < 2; l++) {
            struct mqtt_limits lim = limits[l];
            struct mqtt_packet p;
            int rc = mqtt_packet_decode(frame, n, dir, &lim, &p);
            if (rc == 0) {
                if (lim.max_client_id == 0) {
                    lim.max_client_id = MQTT_DEFAULT_MAX_CLIENT_ID;
                }
                check_invariants(&p, &lim);
                round_trip(frame, n, dir, &lim, &p);
            } else {
                CHECK(rc <= -2101 && rc >= -2199);
                CHECK(mqtt_strerror(rc) != NULL);
                int connack = mqtt_error_connack_code(rc);
                CHECK(connack == -1 || connack == 1 || connack == 2);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    while (off < size) {
        int n = mqtt_frame_split(data + off, size - off, 0);
        /* A smaller cap agrees: the same frame, or a refusal of a frame above it. */
        int capped = mqtt_frame_split(data + off, size - off, 64);
        if (n > 0) {
            CHECK(capped == n || (capped == MQTT_ETOOBIG && n > 64));
        } else {
            CHECK(capped == n || capped == MQTT_ETOOBIG);
        }
        if (n <= 0) {
            CHECK(n == 0 || n == MQTT_EREMLEN);
            /* The decoder sees the rest as one (bad) packet and must fail cleanly. */
            struct mqtt_packet p;
            CHECK(mqtt_packet_decode(data + off, size - off, MQTT_FROM_CLIENT, NULL, &p) < 0);
            break;
        }
        CHECK((size_t)n <= size - off);
        one_packet(data + off, (size_t)n);
        off += (size_t)n;
    }
    return 0;
}
