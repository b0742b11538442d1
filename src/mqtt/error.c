#include "mqtt/error.h"

#include "core/err.h"

const char *mqtt_strerror(int rc)
{
    switch (rc) {
    case MQTT_EREMLEN:
        return "MQTT remaining length longer than 4 bytes";
    case MQTT_ETOOBIG:
        return "MQTT packet exceeds the maximum packet size";
    case MQTT_ETYPE:
        return "MQTT packet type reserved or not allowed in this direction";
    case MQTT_EFLAGS:
        return "MQTT fixed header flags invalid for the packet type";
    case MQTT_ETRUNCATED:
        return "MQTT packet truncated: a field runs past its end";
    case MQTT_ETRAILING:
        return "MQTT packet has bytes after its last field";
    case MQTT_EUTF8:
        return "MQTT string is not well-formed UTF-8 or contains U+0000";
    case MQTT_EPROTONAME:
        return "MQTT CONNECT protocol name is not MQTT or MQIsdp";
    case MQTT_EPROTOLEVEL:
        return "MQTT CONNECT protocol level not supported";
    case MQTT_ERESERVED:
        return "MQTT reserved bit set";
    case MQTT_EWILLFLAGS:
        return "MQTT CONNECT will QoS or will retain set without the will flag";
    case MQTT_EWILLQOS:
        return "MQTT CONNECT will QoS 3";
    case MQTT_EWILLTOPIC:
        return "MQTT CONNECT will topic is not a valid topic name";
    case MQTT_EPASSWORD:
        return "MQTT CONNECT password flag without user name flag";
    case MQTT_ECLIENTIDEMPTY:
        return "MQTT CONNECT empty client identifier not allowed";
    case MQTT_ECLIENTIDLONG:
        return "MQTT CONNECT client identifier too long";
    case MQTT_EQOS:
        return "MQTT PUBLISH QoS 3";
    case MQTT_EDUP:
        return "MQTT PUBLISH DUP set on a QoS 0 message";
    case MQTT_EPACKETID:
        return "MQTT packet identifier 0";
    case MQTT_ETOPIC:
        return "MQTT topic name invalid";
    case MQTT_EFILTER:
        return "MQTT topic filter invalid";
    case MQTT_ENOFILTER:
        return "MQTT SUBSCRIBE or UNSUBSCRIBE without a topic filter";
    case MQTT_ESUBQOS:
        return "MQTT SUBSCRIBE requested QoS 3";
    case MQTT_ERETCODE:
        return "MQTT return code not defined by the protocol";
    case MQTT_ESESSION:
        return "MQTT CONNACK session present with a refusal code";
    case MQTT_ERETAINFULL:
        return "MQTT retained-message store is full";
    default:
        return cg_strerror(rc);
    }
}

int mqtt_error_connack_code(int rc)
{
    switch (rc) {
    case MQTT_EPROTOLEVEL:
        return 1; /* [MQTT-3.1.2-2] */
    case MQTT_ECLIENTIDEMPTY:
    case MQTT_ECLIENTIDLONG:
        return 2; /* [MQTT-3.1.3-8], [MQTT-3.1.3-9] */
    default:
        return -1;
    }
}
