/* MQTT 3.1.1 codec: pure bytes <-> structs, no I/O, no allocation when decoding.
 *
 * Receiving: mqtt_frame_split says whether the bytes received so far hold a complete
 * packet; mqtt_packet_decode turns one complete packet into a struct mqtt_packet and
 * checks every rule of the specification that a receiver must enforce, each with its own
 * error code (mqtt/error.h; mqtt_error_connack_code maps a CONNECT error to the CONNACK
 * refusal to send, or to "close without CONNACK").
 *
 * Zero copy: every string and binary field of a decoded packet (struct mqtt_str,
 * struct mqtt_bytes) points into the input bytes. The decoded struct is valid only while
 * those bytes are unchanged: in a receive buffer, until the packet is consumed or the
 * buffer is appended to (which may move it). Copy whatever must live longer. A CONNECT's
 * password stays in the input bytes: the owner of the receive buffer should zero that
 * packet's bytes once it has been checked (secure_zero).
 *
 * Sending: one encoder per packet, appending to a struct buf (core/buf.h). Each returns
 * the number of bytes appended (> 0), or a negative error with the buffer unchanged. With
 * b == NULL nothing is written and the return value is the size the packet would take:
 * that is the size helper. Encoders check the ranges of the fields (QoS, Packet
 * Identifier, lengths, return codes) and fail with -EINVAL for a value the wire format
 * cannot carry or the protocol forbids; they do not check string contents (UTF-8,
 * wildcards), which are the caller's responsibility (the broker forwards what the decoder
 * validated; a test client may craft violations on purpose).
 *
 * All functions are pure over their arguments; any thread may call them.
 */
#ifndef CERTGATE_MQTT_CODEC_H
#define CERTGATE_MQTT_CODEC_H

#include "mqtt/error.h"
#include "mqtt/slice.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

/* Largest Remaining Length (four 7-bit groups) and largest whole packet. */
#define MQTT_MAX_REMAINING 268435455u
#define MQTT_MAX_PACKET (1u + 4u + MQTT_MAX_REMAINING)

/* Default cap on the ClientId length. The specification requires servers to accept 1..23
 * characters [MQTT-3.1.3-5] and allows more; 256 bytes holds any UUID, certificate
 * common name or hostname-based identifier a device uses, while keeping session keys,
 * log lines and store rows small. */
#define MQTT_DEFAULT_MAX_CLIENT_ID 256u

enum mqtt_type {
    MQTT_CONNECT = 1,
    MQTT_CONNACK = 2,
    MQTT_PUBLISH = 3,
    MQTT_PUBACK = 4,
    MQTT_PUBREC = 5,
    MQTT_PUBREL = 6,
    MQTT_PUBCOMP = 7,
    MQTT_SUBSCRIBE = 8,
    MQTT_SUBACK = 9,
    MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11,
    MQTT_PINGREQ = 12,
    MQTT_PINGRESP = 13,
    MQTT_DISCONNECT = 14,
};

/* Who sent the packet being decoded: a server decodes MQTT_FROM_CLIENT, a client (the
 * bench tool, tests) decodes MQTT_FROM_SERVER. A packet type the sender never sends is
 * MQTT_ETYPE. */
enum mqtt_dir {
    MQTT_FROM_CLIENT = 0,
    MQTT_FROM_SERVER = 1,
};

/* CONNACK return codes (section 3.2.2.3). */
enum mqtt_connack_code {
    MQTT_CONNACK_ACCEPTED = 0,
    MQTT_CONNACK_BAD_PROTOCOL = 1,
    MQTT_CONNACK_ID_REJECTED = 2,
    MQTT_CONNACK_UNAVAILABLE = 3,
    MQTT_CONNACK_BAD_CREDENTIALS = 4,
    MQTT_CONNACK_NOT_AUTHORIZED = 5,
};

/* SUBACK return code for a refused subscription (granted QoS is 0, 1 or 2). */
#define MQTT_SUBACK_FAILURE 0x80

/* Limits applied while decoding. A zero field means its default. */
struct mqtt_limits {
    size_t max_client_id; /* ClientId bytes; 0: MQTT_DEFAULT_MAX_CLIENT_ID */
};

struct mqtt_connect {
    uint8_t level; /* 4: MQTT 3.1.1 ("MQTT"); 3: MQTT 3.1 ("MQIsdp") */
    bool clean_session;
    uint16_t keep_alive; /* seconds, 0 disables */
    struct mqtt_str client_id;
    bool will;        /* the will_* fields are meaningful only when set */
    uint8_t will_qos; /* 0 when !will */
    bool will_retain; /* false when !will */
    struct mqtt_str will_topic;
    struct mqtt_bytes will_message;
    bool has_username;
    struct mqtt_str username;
    bool has_password; /* only with has_username */
    struct mqtt_bytes password;
};

struct mqtt_connack {
    bool session_present; /* false unless return_code is 0 */
    uint8_t return_code;  /* enum mqtt_connack_code */
};

struct mqtt_publish {
    bool dup;    /* false when qos is 0 */
    uint8_t qos; /* 0..2 */
    bool retain;
    struct mqtt_str topic; /* a valid Topic Name */
    uint16_t packet_id;    /* non-zero when qos > 0; 0 (and ignored by the encoder) for qos 0 */
    struct mqtt_bytes payload;
};

/* PUBACK, PUBREC, PUBREL, PUBCOMP and UNSUBACK carry only a Packet Identifier. */
struct mqtt_ack {
    uint16_t packet_id; /* non-zero */
};

/* SUBSCRIBE and UNSUBSCRIBE: the list stays in wire form and is read with
 * struct mqtt_filter_iter; the decoder has already validated every entry. */
struct mqtt_subscribe {
    uint16_t packet_id;
    size_t count;           /* >= 1 */
    struct mqtt_bytes list; /* the payload: (filter, options byte)* or filter* */
};

struct mqtt_suback {
    uint16_t packet_id;
    size_t count;         /* >= 1 */
    const uint8_t *codes; /* count bytes: 0, 1, 2 or MQTT_SUBACK_FAILURE */
};

/* One decoded packet. Which member is set depends on type:
 *   CONNECT: connect; CONNACK: connack; PUBLISH: publish;
 *   PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: ack;
 *   SUBSCRIBE, UNSUBSCRIBE: subscribe; SUBACK: suback;
 *   PINGREQ, PINGRESP, DISCONNECT: none. */
struct mqtt_packet {
    enum mqtt_type type;
    union {
        struct mqtt_connect connect;
        struct mqtt_connack connack;
        struct mqtt_publish publish;
        struct mqtt_ack ack;
        struct mqtt_subscribe subscribe;
        struct mqtt_suback suback;
    };
};

/* A (filter, requested QoS) pair, for mqtt_subscribe_encode. */
struct mqtt_subscription {
    struct mqtt_str filter;
    uint8_t qos;
};

/* mqtt_frame_split: look at the bytes received so far (data[len], borrowed) and return
 * the total length of the first packet (fixed header included) when all of it is there,
 * 0 when more bytes are needed, MQTT_EREMLEN when the Remaining Length field does not end
 * within 4 bytes, or MQTT_ETOOBIG as soon as the announced total exceeds max_packet (0:
 * MQTT_MAX_PACKET), before the body arrives, so the server can close at once. A
 * non-minimal Remaining Length encoding (0x80 0x00 for 0) is accepted: MQTT 3.1.1 only
 * limits it to 4 bytes. Nothing else of the packet is checked. */
int mqtt_frame_split(const uint8_t *data, size_t len, size_t max_packet);

/* mqtt_packet_decode: decode exactly one complete packet data[len] (as delimited by
 * mqtt_frame_split) sent in direction dir, under lim (NULL: defaults). On success returns
 * 0 and fills *out, whose fields point into data (see the lifetime rule above); on failure
 * returns a negative code from mqtt/error.h and leaves *out unchanged:
 *   any packet: MQTT_EREMLEN, MQTT_ETYPE, MQTT_EFLAGS, MQTT_ETRUNCATED (also when len is
 *     shorter than the header says), MQTT_ETRAILING (also when len is longer), MQTT_EUTF8;
 *   CONNECT: MQTT_EPROTONAME, MQTT_EPROTOLEVEL (checked before anything after the level,
 *     so a CONNECT of another version gets its CONNACK 1), MQTT_ERESERVED,
 *     MQTT_EWILLFLAGS, MQTT_EWILLQOS, MQTT_EWILLTOPIC, MQTT_EPASSWORD, and, only once
 *     the whole packet is known to be well formed, MQTT_ECLIENTIDEMPTY and
 *     MQTT_ECLIENTIDLONG (the two that are answered with CONNACK 2);
 *   CONNACK: MQTT_ERESERVED, MQTT_ERETCODE, MQTT_ESESSION;
 *   PUBLISH: MQTT_EQOS, MQTT_EDUP, MQTT_ETOPIC, MQTT_EPACKETID;
 *   PUBACK..PUBCOMP, UNSUBACK: MQTT_EPACKETID;
 *   SUBSCRIBE: MQTT_EPACKETID, MQTT_EFILTER, MQTT_ERESERVED, MQTT_ESUBQOS,
 *     MQTT_ENOFILTER; UNSUBSCRIBE: MQTT_EPACKETID, MQTT_EFILTER, MQTT_ENOFILTER;
 *   SUBACK: MQTT_EPACKETID, MQTT_ERETCODE, MQTT_ENOFILTER (no return code).
 * Session-level rules (CONNECT first and only once, Packet Identifiers in use) are the
 * broker's. */
int mqtt_packet_decode(const uint8_t *data, size_t len, enum mqtt_dir dir,
                       const struct mqtt_limits *lim, struct mqtt_packet *out);

/* Reading the entries of a decoded SUBSCRIBE or UNSUBSCRIBE:
 *
 *   struct mqtt_filter_iter it;
 *   struct mqtt_str filter;
 *   uint8_t qos;
 *   mqtt_filter_iter_init(&it, &pkt);
 *   while (mqtt_filter_iter_next(&it, &filter, &qos)) { ... }
 *
 * The filters point into the packet's bytes; qos is 0 for UNSUBSCRIBE. */
struct mqtt_filter_iter {
    const uint8_t *p;
    const uint8_t *end;
    bool with_qos;
};

/* mqtt_filter_iter_init: iterate over pkt's filters (pkt borrowed; SUBSCRIBE or
 * UNSUBSCRIBE as returned by mqtt_packet_decode; any other type yields nothing). */
void mqtt_filter_iter_init(struct mqtt_filter_iter *it, const struct mqtt_packet *pkt);

/* mqtt_filter_iter_next: the next entry; false at the end. */
bool mqtt_filter_iter_next(struct mqtt_filter_iter *it, struct mqtt_str *filter, uint8_t *qos);

/* mqtt_connect_encode: CONNECT from c (level 3 or 4; will_qos <= 2; will_qos and
 * will_retain zero without will; has_password only with has_username; strings and binary
 * fields at most 65535 bytes). Bytes appended or, with b NULL, needed; -EINVAL for an
 * invalid c; CG_ELIMIT or -ENOMEM from the buffer. */
int mqtt_connect_encode(struct buf *b, const struct mqtt_connect *c);

/* mqtt_connack_encode: CONNACK. return_code 0..5; session_present only with code 0
 * [MQTT-3.2.2-4]. Returns as mqtt_connect_encode. */
int mqtt_connack_encode(struct buf *b, bool session_present, uint8_t return_code);

/* mqtt_publish_encode: PUBLISH from p (qos <= 2; dup only with qos > 0; packet_id
 * non-zero when qos > 0; topic at most 65535 bytes; the packet at most MQTT_MAX_PACKET,
 * else CG_ELIMIT). Returns as mqtt_connect_encode. */
int mqtt_publish_encode(struct buf *b, const struct mqtt_publish *p);

/* mqtt_ack_encode: PUBACK, PUBREC, PUBREL (with its 0010 flags), PUBCOMP or UNSUBACK
 * with a non-zero packet_id; any other type is -EINVAL. Returns as mqtt_connect_encode. */
int mqtt_ack_encode(struct buf *b, enum mqtt_type type, uint16_t packet_id);

/* mqtt_subscribe_encode: SUBSCRIBE with n >= 1 entries (borrowed), each QoS <= 2 and
 * filter at most 65535 bytes, and a non-zero packet_id. Returns as mqtt_connect_encode. */
int mqtt_subscribe_encode(struct buf *b, uint16_t packet_id, const struct mqtt_subscription *subs,
                          size_t n);

/* mqtt_suback_encode: SUBACK with n >= 1 return codes (0, 1, 2 or MQTT_SUBACK_FAILURE)
 * and a non-zero packet_id. Returns as mqtt_connect_encode. */
int mqtt_suback_encode(struct buf *b, uint16_t packet_id, const uint8_t *codes, size_t n);

/* mqtt_unsubscribe_encode: UNSUBSCRIBE with n >= 1 filters (each at most 65535 bytes)
 * and a non-zero packet_id. Returns as mqtt_connect_encode. */
int mqtt_unsubscribe_encode(struct buf *b, uint16_t packet_id, const struct mqtt_str *filters,
                            size_t n);

/* mqtt_bare_encode: the packets without a body: PINGREQ, PINGRESP or DISCONNECT (2
 * bytes); any other type is -EINVAL. Returns as mqtt_connect_encode. */
int mqtt_bare_encode(struct buf *b, enum mqtt_type type);

/* mqtt_type_name: "CONNECT", "PUBLISH", ... or "RESERVED" for other values; static. */
const char *mqtt_type_name(int type);

#endif
