/* Error codes of the MQTT layer and what the broker should do about each.
 *
 * Every rule of MQTT 3.1.1 that a receiver must enforce has its own code, so that the
 * broker can choose between answering CONNACK with a refusal code and closing the network
 * connection without a word (see mqtt_error_connack_code and docs/design/mqtt-codec.md).
 * The codes lie in -2199..-2100, below the CG_E* codes of core/err.h and far from errno.
 * Functions of this module may also return -ENOMEM, -EINVAL (a caller bug) and CG_ELIMIT.
 */
#ifndef CERTGATE_MQTT_ERROR_H
#define CERTGATE_MQTT_ERROR_H

enum mqtt_error {
    /* Framing (mqtt_frame_split). */
    MQTT_EREMLEN = -2101, /* Remaining Length longer than 4 bytes (section 2.2.3) */
    MQTT_ETOOBIG = -2102, /* packet larger than the configured maximum packet size */
    /* Fixed header. */
    MQTT_ETYPE = -2103,  /* reserved packet type 0/15, or a type the other side never sends */
    MQTT_EFLAGS = -2104, /* fixed-header flag bits not as the type requires [MQTT-2.2.2-2] */
    /* Field structure. */
    MQTT_ETRUNCATED = -2105, /* a field runs past the end of the packet */
    MQTT_ETRAILING = -2106,  /* bytes left after the last field */
    MQTT_EUTF8 = -2107,      /* ill-formed UTF-8 or U+0000 in a string [MQTT-1.5.3-1/2] */
    /* CONNECT. */
    MQTT_EPROTONAME = -2108,     /* protocol name not "MQTT" (or "MQIsdp") [MQTT-3.1.2-1] */
    MQTT_EPROTOLEVEL = -2109,    /* protocol level not 4 ("MQTT") or 3 ("MQIsdp") [MQTT-3.1.2-2] */
    MQTT_ERESERVED = -2110,      /* a reserved bit set: CONNECT flags bit 0 [MQTT-3.1.2-3], the
                                  * SUBSCRIBE options byte [MQTT-3.8.3-4], CONNACK flags */
    MQTT_EWILLFLAGS = -2111,     /* Will QoS or Will Retain without the Will flag
                                  * [MQTT-3.1.2-11/13/15] */
    MQTT_EWILLQOS = -2112,       /* Will QoS 3 [MQTT-3.1.2-14] */
    MQTT_EWILLTOPIC = -2113,     /* Will Topic not a valid Topic Name (empty, wildcards) */
    MQTT_EPASSWORD = -2114,      /* Password flag without User Name flag [MQTT-3.1.2-22] */
    MQTT_ECLIENTIDEMPTY = -2115, /* empty ClientId with CleanSession 0, or on MQTT 3.1
                                  * [MQTT-3.1.3-8] */
    MQTT_ECLIENTIDLONG = -2116,  /* ClientId longer than the configured maximum
                                  * (the server rejects it: [MQTT-3.1.3-9]) */
    /* PUBLISH and the packets carrying a Packet Identifier. */
    MQTT_EQOS = -2117,      /* PUBLISH QoS 3 [MQTT-3.3.1-4] */
    MQTT_EDUP = -2118,      /* PUBLISH DUP 1 with QoS 0 [MQTT-3.3.1-2] */
    MQTT_EPACKETID = -2119, /* Packet Identifier 0 [MQTT-2.3.1-1] */
    MQTT_ETOPIC = -2120,    /* Topic Name empty, too long or with wildcards [MQTT-3.3.2-2] */
    /* SUBSCRIBE, UNSUBSCRIBE and their acknowledgements. */
    MQTT_EFILTER = -2121,   /* Topic Filter empty, too long or with misplaced wildcards */
    MQTT_ENOFILTER = -2122, /* SUBSCRIBE/UNSUBSCRIBE without any filter [MQTT-3.8.3-3],
                             * [MQTT-3.10.3-2]; SUBACK without any return code */
    MQTT_ESUBQOS = -2123,   /* requested QoS 3 in SUBSCRIBE [MQTT-3.8.3-4] */
    MQTT_ERETCODE = -2124,  /* CONNACK or SUBACK return code the protocol does not define */
    MQTT_ESESSION = -2125,  /* CONNACK Session Present with a refusal code [MQTT-3.2.2-4] */
    /* Retained-message store. */
    MQTT_ERETAINFULL = -2130, /* the store's cap on messages or bytes would be exceeded */
};

/* mqtt_strerror: a static sentence for an MQTT code; other codes are passed to cg_strerror.
 * Never NULL. Any thread. */
const char *mqtt_strerror(int rc);

/* mqtt_error_connack_code: what a server does when decoding a CONNECT failed with `rc`:
 * the CONNACK return code to send before closing (1 for an unacceptable protocol level,
 * 2 for a rejected client identifier), or -1 when the connection must be closed without a
 * CONNACK (every malformed packet, [MQTT-3.1.4-1]). Any thread. */
int mqtt_error_connack_code(int rc);

#endif
