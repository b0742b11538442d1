#include "mqtt/codec.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/str.h"
#include "mqtt/topic.h"

#include <string.h>

/* ---- fixed header ---- */

/* Parse the fixed header of data[len]: 0 with *rem and *hdr set, 1 when more bytes are
 * needed to know them, or MQTT_EREMLEN. */
static int parse_header(const uint8_t *data, size_t len, size_t *rem, size_t *hdr)
{
    size_t value = 0;
    for (size_t i = 1; i <= 4; i++) {
        if (i >= len) {
            return 1;
        }
        value |= (size_t)(data[i] & 0x7f) << (7 * (i - 1));
        if ((data[i] & 0x80) == 0) {
            *rem = value;
            *hdr = i + 1;
            return 0;
        }
    }
    return MQTT_EREMLEN; /* the fourth length byte has its continuation bit set */
}

int mqtt_frame_split(const uint8_t *data, size_t len, size_t max_packet)
{
    size_t rem, hdr;
    int rc = parse_header(data, len, &rem, &hdr);
    if (rc != 0) {
        return rc < 0 ? rc : 0;
    }
    if (max_packet == 0 || max_packet > MQTT_MAX_PACKET) {
        max_packet = MQTT_MAX_PACKET;
    }
    if (hdr + rem > max_packet) {
        return MQTT_ETOOBIG;
    }
    if (hdr + rem > len) {
        return 0;
    }
    return (int)(hdr + rem);
}

/* ---- reading fields ---- */

struct reader {
    const uint8_t *p;
    size_t n; /* bytes left */
};

static int rd_u8(struct reader *r, uint8_t *v)
{
    if (r->n < 1) {
        return MQTT_ETRUNCATED;
    }
    *v = r->p[0];
    r->p++;
    r->n--;
    return 0;
}

static int rd_u16(struct reader *r, uint16_t *v)
{
    if (r->n < 2) {
        return MQTT_ETRUNCATED;
    }
    *v = (uint16_t)(r->p[0] << 8 | r->p[1]);
    r->p += 2;
    r->n -= 2;
    return 0;
}

/* A field with a two-byte length prefix (Binary Data, or a string before its check). */
static int rd_bytes(struct reader *r, struct mqtt_bytes *v)
{
    uint16_t len;
    int rc = rd_u16(r, &len);
    if (rc < 0) {
        return rc;
    }
    if (r->n < len) {
        return MQTT_ETRUNCATED;
    }
    v->ptr = r->p;
    v->len = len;
    r->p += len;
    r->n -= len;
    return 0;
}

/* A UTF-8 Encoded String [MQTT-1.5.3-1], [MQTT-1.5.3-2]. */
static int rd_str(struct reader *r, struct mqtt_str *v)
{
    struct mqtt_bytes b;
    int rc = rd_bytes(r, &b);
    if (rc < 0) {
        return rc;
    }
    if (!utf8_valid(b.ptr, b.len, false)) {
        return MQTT_EUTF8;
    }
    v->ptr = (const char *)b.ptr;
    v->len = b.len;
    return 0;
}

static int rd_packet_id(struct reader *r, uint16_t *id)
{
    int rc = rd_u16(r, id);
    if (rc < 0) {
        return rc;
    }
    return *id == 0 ? MQTT_EPACKETID : 0; /* [MQTT-2.3.1-1] */
}

static int rd_end(const struct reader *r)
{
    return r->n == 0 ? 0 : MQTT_ETRAILING;
}

/* ---- decoding, one function per packet type ---- */

static int decode_connect(struct reader *r, const struct mqtt_limits *lim, struct mqtt_connect *c)
{
    struct mqtt_bytes name;
    uint8_t flags;
    int rc;
    memset(c, 0, sizeof(*c));
    if ((rc = rd_bytes(r, &name)) < 0) {
        return rc;
    }
    bool v311 = name.len == 4 && memcmp(name.ptr, "MQTT", 4) == 0;
    bool v31 = name.len == 6 && memcmp(name.ptr, "MQIsdp", 6) == 0;
    if (!v311 && !v31) {
        return MQTT_EPROTONAME; /* [MQTT-3.1.2-1] */
    }
    if ((rc = rd_u8(r, &c->level)) < 0) {
        return rc;
    }
    /* The level is checked before anything after it: a client of another protocol version
     * has a different layout, and must get CONNACK 1 rather than a close [MQTT-3.1.2-2]. */
    if (c->level != (v311 ? 4 : 3)) {
        return MQTT_EPROTOLEVEL;
    }
    if ((rc = rd_u8(r, &flags)) < 0) {
        return rc;
    }
    if (flags & 0x01) {
        return MQTT_ERESERVED; /* [MQTT-3.1.2-3] */
    }
    c->clean_session = (flags & 0x02) != 0;
    c->will = (flags & 0x04) != 0;
    c->will_qos = (flags >> 3) & 0x03;
    c->will_retain = (flags & 0x20) != 0;
    c->has_password = (flags & 0x40) != 0;
    c->has_username = (flags & 0x80) != 0;
    if (!c->will && (c->will_qos != 0 || c->will_retain)) {
        return MQTT_EWILLFLAGS; /* [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15] */
    }
    if (c->will_qos == 3) {
        return MQTT_EWILLQOS; /* [MQTT-3.1.2-14] */
    }
    if (c->has_password && !c->has_username) {
        return MQTT_EPASSWORD; /* [MQTT-3.1.2-22] */
    }
    if ((rc = rd_u16(r, &c->keep_alive)) < 0 || (rc = rd_str(r, &c->client_id)) < 0) {
        return rc;
    }
    if (c->will) {
        if ((rc = rd_str(r, &c->will_topic)) < 0) {
            return rc;
        }
        if (mqtt_topic_name_check(c->will_topic.ptr, c->will_topic.len) < 0) {
            return MQTT_EWILLTOPIC;
        }
        if ((rc = rd_bytes(r, &c->will_message)) < 0) {
            return rc;
        }
    }
    if (c->has_username && (rc = rd_str(r, &c->username)) < 0) {
        return rc;
    }
    if (c->has_password && (rc = rd_bytes(r, &c->password)) < 0) {
        return rc;
    }
    if ((rc = rd_end(r)) < 0) {
        return rc;
    }
    /* The packet is well formed; now the server's decisions about the identifier. */
    size_t max_id =
        lim != NULL && lim->max_client_id != 0 ? lim->max_client_id : MQTT_DEFAULT_MAX_CLIENT_ID;
    if (c->client_id.len == 0 && (!c->clean_session || c->level == 3)) {
        return MQTT_ECLIENTIDEMPTY; /* [MQTT-3.1.3-8]; MQTT 3.1 requires 1..23 characters */
    }
    if (c->client_id.len > max_id) {
        return MQTT_ECLIENTIDLONG;
    }
    return 0;
}

static int decode_connack(struct reader *r, struct mqtt_connack *c)
{
    uint8_t flags, code;
    int rc;
    if ((rc = rd_u8(r, &flags)) < 0 || (rc = rd_u8(r, &code)) < 0 || (rc = rd_end(r)) < 0) {
        return rc;
    }
    if (flags & 0xfe) {
        return MQTT_ERESERVED; /* bits 7-1 of the acknowledge flags (3.2.2.1) */
    }
    if (code > MQTT_CONNACK_NOT_AUTHORIZED) {
        return MQTT_ERETCODE;
    }
    if (code != 0 && (flags & 0x01)) {
        return MQTT_ESESSION; /* [MQTT-3.2.2-4] */
    }
    c->session_present = (flags & 0x01) != 0;
    c->return_code = code;
    return 0;
}

static int decode_publish(struct reader *r, uint8_t flags, struct mqtt_publish *p)
{
    struct mqtt_bytes topic;
    int rc;
    memset(p, 0, sizeof(*p));
    p->dup = (flags & 0x08) != 0;
    p->qos = (flags >> 1) & 0x03;
    p->retain = (flags & 0x01) != 0;
    if (p->qos == 3) {
        return MQTT_EQOS; /* [MQTT-3.3.1-4] */
    }
    if (p->dup && p->qos == 0) {
        return MQTT_EDUP; /* [MQTT-3.3.1-2] */
    }
    if ((rc = rd_bytes(r, &topic)) < 0) {
        return rc;
    }
    /* The topic is a UTF-8 string without wildcards [MQTT-3.3.2-1], [MQTT-3.3.2-2]. */
    if ((rc = mqtt_topic_name_check((const char *)topic.ptr, topic.len)) < 0) {
        return rc;
    }
    p->topic.ptr = (const char *)topic.ptr;
    p->topic.len = topic.len;
    if (p->qos > 0 && (rc = rd_packet_id(r, &p->packet_id)) < 0) {
        return rc;
    }
    /* The payload is the rest, possibly empty. */
    p->payload.ptr = r->p;
    p->payload.len = r->n;
    r->p += r->n;
    r->n = 0;
    return 0;
}

static int decode_ack(struct reader *r, struct mqtt_ack *a)
{
    int rc;
    if ((rc = rd_packet_id(r, &a->packet_id)) < 0) {
        return rc;
    }
    return rd_end(r);
}

/* SUBSCRIBE (with_qos) or UNSUBSCRIBE: validate every entry, count them. */
static int decode_filters(struct reader *r, bool with_qos, struct mqtt_subscribe *s)
{
    int rc;
    if ((rc = rd_packet_id(r, &s->packet_id)) < 0) {
        return rc;
    }
    s->list.ptr = r->p;
    s->list.len = r->n;
    s->count = 0;
    while (r->n > 0) {
        struct mqtt_bytes f;
        if ((rc = rd_bytes(r, &f)) < 0) {
            return rc;
        }
        if ((rc = mqtt_topic_filter_check((const char *)f.ptr, f.len)) < 0) {
            return rc;
        }
        if (with_qos) {
            uint8_t opts;
            if ((rc = rd_u8(r, &opts)) < 0) {
                return rc;
            }
            if (opts & 0xfc) {
                return MQTT_ERESERVED; /* [MQTT-3.8.3-4] */
            }
            if (opts == 3) {
                return MQTT_ESUBQOS; /* [MQTT-3.8.3-4] */
            }
        }
        s->count++;
    }
    if (s->count == 0) {
        return MQTT_ENOFILTER; /* [MQTT-3.8.3-3], [MQTT-3.10.3-2] */
    }
    return 0;
}

static int decode_suback(struct reader *r, struct mqtt_suback *s)
{
    int rc;
    if ((rc = rd_packet_id(r, &s->packet_id)) < 0) {
        return rc;
    }
    if (r->n == 0) {
        return MQTT_ENOFILTER;
    }
    for (size_t i = 0; i < r->n; i++) {
        if (r->p[i] > 2 && r->p[i] != MQTT_SUBACK_FAILURE) {
            return MQTT_ERETCODE; /* [MQTT-3.9.3-2] */
        }
    }
    s->codes = r->p;
    s->count = r->n;
    return 0;
}

/* Which types each side sends, as a bit mask of types. */
#define BIT(t) (1u << (t))
static const unsigned sent_by[2] = {
    [MQTT_FROM_CLIENT] = BIT(MQTT_CONNECT) | BIT(MQTT_PUBLISH) | BIT(MQTT_PUBACK) |
                         BIT(MQTT_PUBREC) | BIT(MQTT_PUBREL) | BIT(MQTT_PUBCOMP) |
                         BIT(MQTT_SUBSCRIBE) | BIT(MQTT_UNSUBSCRIBE) | BIT(MQTT_PINGREQ) |
                         BIT(MQTT_DISCONNECT),
    [MQTT_FROM_SERVER] = BIT(MQTT_CONNACK) | BIT(MQTT_PUBLISH) | BIT(MQTT_PUBACK) |
                         BIT(MQTT_PUBREC) | BIT(MQTT_PUBREL) | BIT(MQTT_PUBCOMP) |
                         BIT(MQTT_SUBACK) | BIT(MQTT_UNSUBACK) | BIT(MQTT_PINGRESP),
};

int mqtt_packet_decode(const uint8_t *data, size_t len, enum mqtt_dir dir,
                       const struct mqtt_limits *lim, struct mqtt_packet *out)
{
    struct mqtt_packet pkt;
    size_t rem, hdr;
    int rc = parse_header(data, len, &rem, &hdr);
    if (rc != 0) {
        return rc < 0 ? rc : MQTT_ETRUNCATED;
    }
    if (len - hdr < rem) {
        return MQTT_ETRUNCATED;
    }
    if (len - hdr > rem) {
        return MQTT_ETRAILING;
    }
    unsigned type = data[0] >> 4, flags = data[0] & 0x0f;
    if ((dir != MQTT_FROM_CLIENT && dir != MQTT_FROM_SERVER) || !(sent_by[dir] & BIT(type))) {
        return MQTT_ETYPE; /* includes the reserved types 0 and 15 */
    }
    /* [MQTT-2.2.2-1], [MQTT-2.2.2-2]: PUBLISH has its own flags, PUBREL, SUBSCRIBE and
     * UNSUBSCRIBE have 0010, every other type 0000. */
    unsigned want = type == MQTT_PUBREL || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE;
    if (type != MQTT_PUBLISH && flags != want << 1) {
        return MQTT_EFLAGS;
    }
    struct reader r = {data + hdr, rem};
    memset(&pkt, 0, sizeof(pkt));
    pkt.type = (enum mqtt_type)type;
    switch (pkt.type) {
    case MQTT_CONNECT:
        rc = decode_connect(&r, lim, &pkt.connect);
        break;
    case MQTT_CONNACK:
        rc = decode_connack(&r, &pkt.connack);
        break;
    case MQTT_PUBLISH:
        rc = decode_publish(&r, (uint8_t)flags, &pkt.publish);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        rc = decode_ack(&r, &pkt.ack);
        break;
    case MQTT_SUBSCRIBE:
        rc = decode_filters(&r, true, &pkt.subscribe);
        break;
    case MQTT_UNSUBSCRIBE:
        rc = decode_filters(&r, false, &pkt.subscribe);
        break;
    case MQTT_SUBACK:
        rc = decode_suback(&r, &pkt.suback);
        break;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP:
    case MQTT_DISCONNECT:
        rc = rd_end(&r);
        break;
    default:
        rc = MQTT_ETYPE;
        break;
    }
    if (rc < 0) {
        return rc;
    }
    *out = pkt;
    return 0;
}

void mqtt_filter_iter_init(struct mqtt_filter_iter *it, const struct mqtt_packet *pkt)
{
    it->p = it->end = NULL;
    it->with_qos = false;
    if (pkt->type == MQTT_SUBSCRIBE || pkt->type == MQTT_UNSUBSCRIBE) {
        it->p = pkt->subscribe.list.ptr;
        it->end = it->p != NULL ? it->p + pkt->subscribe.list.len : NULL;
        it->with_qos = pkt->type == MQTT_SUBSCRIBE;
    }
}

bool mqtt_filter_iter_next(struct mqtt_filter_iter *it, struct mqtt_str *filter, uint8_t *qos)
{
    /* The list was validated by the decoder; the bounds checks only keep a misuse (an
     * iterator over a hand-made packet) inside the given bytes. */
    if (it->p == NULL || it->end - it->p < 2) {
        return false;
    }
    size_t left = (size_t)(it->end - it->p);
    size_t len = (size_t)it->p[0] << 8 | it->p[1];
    size_t need = 2 + len + (it->with_qos ? 1 : 0);
    if (left < need) {
        it->p = it->end;
        return false;
    }
    filter->ptr = (const char *)it->p + 2;
    filter->len = len;
    *qos = it->with_qos ? it->p[2 + len] & 0x03 : 0;
    it->p += need;
    return true;
}

/* ---- encoding ---- */

static size_t varint_len(size_t rem)
{
    return rem < 128 ? 1 : rem < 16384 ? 2 : rem < 2097152 ? 3 : 4;
}

/* Start a packet of remaining length rem: returns its total size and, when b is not NULL,
 * reserves it and writes the fixed header at *p. Negative on failure. */
static int begin(struct buf *b, uint8_t first, size_t rem, uint8_t **p)
{
    if (rem > MQTT_MAX_REMAINING) {
        return CG_ELIMIT;
    }
    size_t total = 1 + varint_len(rem) + rem;
    if (b == NULL) {
        return (int)total;
    }
    int rc = buf_reserve(b, total);
    if (rc < 0) {
        return rc;
    }
    uint8_t *w = buf_data(b) + b->len;
    *w++ = first;
    do {
        uint8_t digit = rem & 0x7f;
        rem >>= 7;
        *w++ = rem > 0 ? digit | 0x80 : digit;
    } while (rem > 0);
    *p = w;
    return (int)total;
}

/* Finish a packet started by begin: commit its total bytes. */
static int finish(struct buf *b, int total)
{
    buf_commit(b, (size_t)total);
    return total;
}

static uint8_t *put_u16(uint8_t *w, size_t v)
{
    w[0] = (uint8_t)(v >> 8);
    w[1] = (uint8_t)v;
    return w + 2;
}

static uint8_t *put_field(uint8_t *w, const void *data, size_t len)
{
    w = put_u16(w, len);
    if (len > 0) {
        memcpy(w, data, len);
    }
    return w + len;
}

int mqtt_connect_encode(struct buf *b, const struct mqtt_connect *c)
{
    const char *name = c->level == 4 ? "MQTT" : "MQIsdp";
    size_t name_len = c->level == 4 ? 4 : 6;
    if ((c->level != 3 && c->level != 4) || c->will_qos > 2 ||
        (!c->will && (c->will_qos != 0 || c->will_retain)) ||
        (c->has_password && !c->has_username) || c->client_id.len > 65535) {
        return -EINVAL;
    }
    size_t rem = 2 + name_len + 1 + 1 + 2 + 2 + c->client_id.len;
    if (c->will) {
        if (c->will_topic.len > 65535 || c->will_message.len > 65535) {
            return -EINVAL;
        }
        rem += 2 + c->will_topic.len + 2 + c->will_message.len;
    }
    if (c->has_username) {
        if (c->username.len > 65535) {
            return -EINVAL;
        }
        rem += 2 + c->username.len;
    }
    if (c->has_password) {
        if (c->password.len > 65535) {
            return -EINVAL;
        }
        rem += 2 + c->password.len;
    }
    uint8_t flags = (uint8_t)((c->has_username ? 0x80 : 0) | (c->has_password ? 0x40 : 0) |
                              (c->will_retain ? 0x20 : 0) | c->will_qos << 3 |
                              (c->will ? 0x04 : 0) | (c->clean_session ? 0x02 : 0));
    uint8_t *w = NULL;
    int total = begin(b, MQTT_CONNECT << 4, rem, &w);
    if (total < 0 || b == NULL) {
        return total;
    }
    w = put_field(w, name, name_len);
    *w++ = c->level;
    *w++ = flags;
    w = put_u16(w, c->keep_alive);
    w = put_field(w, c->client_id.ptr, c->client_id.len);
    if (c->will) {
        w = put_field(w, c->will_topic.ptr, c->will_topic.len);
        w = put_field(w, c->will_message.ptr, c->will_message.len);
    }
    if (c->has_username) {
        w = put_field(w, c->username.ptr, c->username.len);
    }
    if (c->has_password) {
        put_field(w, c->password.ptr, c->password.len);
    }
    return finish(b, total);
}

int mqtt_connack_encode(struct buf *b, bool session_present, uint8_t return_code)
{
    if (return_code > MQTT_CONNACK_NOT_AUTHORIZED || (session_present && return_code != 0)) {
        return -EINVAL;
    }
    uint8_t *w = NULL;
    int total = begin(b, MQTT_CONNACK << 4, 2, &w);
    if (total < 0 || b == NULL) {
        return total;
    }
    w[0] = session_present ? 1 : 0;
    w[1] = return_code;
    return finish(b, total);
}

int mqtt_publish_encode(struct buf *b, const struct mqtt_publish *p)
{
    if (p->qos > 2 || (p->dup && p->qos == 0) || (p->qos > 0 && p->packet_id == 0) ||
        p->topic.len > 65535) {
        return -EINVAL;
    }
    if (p->payload.len > MQTT_MAX_REMAINING) {
        return CG_ELIMIT; /* checked alone first so that the sum below cannot wrap */
    }
    size_t rem = 2 + p->topic.len + (p->qos > 0 ? 2 : 0) + p->payload.len;
    uint8_t first =
        (uint8_t)(MQTT_PUBLISH << 4 | (p->dup ? 0x08 : 0) | p->qos << 1 | (p->retain ? 0x01 : 0));
    uint8_t *w = NULL;
    int total = begin(b, first, rem, &w);
    if (total < 0 || b == NULL) {
        return total;
    }
    w = put_field(w, p->topic.ptr, p->topic.len);
    if (p->qos > 0) {
        w = put_u16(w, p->packet_id);
    }
    if (p->payload.len > 0) {
        memcpy(w, p->payload.ptr, p->payload.len);
    }
    return finish(b, total);
}

int mqtt_ack_encode(struct buf *b, enum mqtt_type type, uint16_t packet_id)
{
    uint8_t first;
    switch (type) {
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBCOMP:
    case MQTT_UNSUBACK:
        first = (uint8_t)(type << 4);
        break;
    case MQTT_PUBREL:
        first = (uint8_t)(type << 4 | 0x02);
        break;
    default:
        return -EINVAL;
    }
    if (packet_id == 0) {
        return -EINVAL;
    }
    uint8_t *w = NULL;
    int total = begin(b, first, 2, &w);
    if (total < 0 || b == NULL) {
        return total;
    }
    put_u16(w, packet_id);
    return finish(b, total);
}

int mqtt_subscribe_encode(struct buf *b, uint16_t packet_id, const struct mqtt_subscription *subs,
                          size_t n)
{
    if (packet_id == 0 || n == 0) {
        return -EINVAL;
    }
    size_t rem = 2;
    for (size_t i = 0; i < n; i++) {
        if (subs[i].qos > 2 || subs[i].filter.len > 65535) {
            return -EINVAL;
        }
        rem += 2 + subs[i].filter.len + 1;
        if (rem > MQTT_MAX_REMAINING) {
            return CG_ELIMIT;
        }
    }
    uint8_t *w = NULL;
    int total = begin(b, MQTT_SUBSCRIBE << 4 | 0x02, rem, &w);
    if (total < 0 || b == NULL) {
        return total;
    }
    w = put_u16(w, packet_id);
    for (size_t i = 0; i < n; i++) {
        w = put_field(w, subs[i].filter.ptr, subs[i].filter.len);
        *w++ = subs[i].qos;
    }
    return finish(b, total);
}

int mqtt_suback_encode(struct buf *b, uint16_t packet_id, const uint8_t *codes, size_t n)
{
    if (packet_id == 0 || n == 0) {
        return -EINVAL;
    }
    if (n > MQTT_MAX_REMAINING - 2) {
        return CG_ELIMIT;
    }
    for (size_t i = 0; i < n; i++) {
        if (codes[i] > 2 && codes[i] != MQTT_SUBACK_FAILURE) {
            return -EINVAL;
        }
    }
    uint8_t *w = NULL;
    int total = begin(b, MQTT_SUBACK << 4, 2 + n, &w);
    if (total < 0 || b == NULL) {
        return total;
    }
    w = put_u16(w, packet_id);
    memcpy(w, codes, n);
    return finish(b, total);
}

int mqtt_unsubscribe_encode(struct buf *b, uint16_t packet_id, const struct mqtt_str *filters,
                            size_t n)
{
    if (packet_id == 0 || n == 0) {
        return -EINVAL;
    }
    size_t rem = 2;
    for (size_t i = 0; i < n; i++) {
        if (filters[i].len > 65535) {
            return -EINVAL;
        }
        rem += 2 + filters[i].len;
        if (rem > MQTT_MAX_REMAINING) {
            return CG_ELIMIT;
        }
    }
    uint8_t *w = NULL;
    int total = begin(b, MQTT_UNSUBSCRIBE << 4 | 0x02, rem, &w);
    if (total < 0 || b == NULL) {
        return total;
    }
    w = put_u16(w, packet_id);
    for (size_t i = 0; i < n; i++) {
        w = put_field(w, filters[i].ptr, filters[i].len);
    }
    return finish(b, total);
}

int mqtt_bare_encode(struct buf *b, enum mqtt_type type)
{
    if (type != MQTT_PINGREQ && type != MQTT_PINGRESP && type != MQTT_DISCONNECT) {
        return -EINVAL;
    }
    uint8_t *w = NULL;
    int total = begin(b, (uint8_t)(type << 4), 0, &w);
    if (total < 0 || b == NULL) {
        return total;
    }
    return finish(b, total);
}

const char *mqtt_type_name(int type)
{
    static const char *const names[] = {
        [MQTT_CONNECT] = "CONNECT",   [MQTT_CONNACK] = "CONNACK",
        [MQTT_PUBLISH] = "PUBLISH",   [MQTT_PUBACK] = "PUBACK",
        [MQTT_PUBREC] = "PUBREC",     [MQTT_PUBREL] = "PUBREL",
        [MQTT_PUBCOMP] = "PUBCOMP",   [MQTT_SUBSCRIBE] = "SUBSCRIBE",
        [MQTT_SUBACK] = "SUBACK",     [MQTT_UNSUBSCRIBE] = "UNSUBSCRIBE",
        [MQTT_UNSUBACK] = "UNSUBACK", [MQTT_PINGREQ] = "PINGREQ",
        [MQTT_PINGRESP] = "PINGRESP", [MQTT_DISCONNECT] = "DISCONNECT",
    };
    if (type < MQTT_CONNECT || type > MQTT_DISCONNECT) {
        return "RESERVED";
    }
    return names[type];
}
