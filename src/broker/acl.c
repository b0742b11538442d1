/* ACL and ClientId rules: pure functions over the principal and the topic (docs/mqtt.md).
 *
 * Default ACL inside a tenant:
 *   application users      publish and subscribe anywhere (no topic starting with '$')
 *   devices, acl.mode open the same
 *   devices, default       publish  devices/<id> and devices/<id>/...
 *                          subscribe filters whose first two levels are literally
 *                                    "devices" and <id>, or whose first level is
 *                                    literally "broadcast"
 * Nobody publishes to a topic starting with '$'. The reserved topics s/uat and s/dat are
 * handled by the caller before these functions.
 */
#include "broker/broker_int.h"

#include "mqtt/topic.h"

#include <stdlib.h>
#include <string.h>

void bprincipal_cleanup(struct bprincipal *p)
{
    free(p->user);
    free(p->device);
    free(p->anchor_fp);
    free(p->serials);
    memset(p, 0, sizeof(*p));
}

bool btopic_is(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(s, lit, n) == 0;
}

bool bacl_device_ns_ok(const char *device)
{
    return device != NULL && device[0] != 0 && strpbrk(device, "/+#") == NULL;
}

/* Whether the first levels of s (topic or filter) are "devices" and the device id: the
 * string is "devices/<id>" or starts with "devices/<id>/". */
static bool in_device_ns(const char *device, const char *s, size_t len)
{
    static const char prefix[] = "devices/";
    size_t pl = sizeof(prefix) - 1;
    size_t dl = strlen(device);
    if (len < pl + dl || memcmp(s, prefix, pl) != 0 || memcmp(s + pl, device, dl) != 0) {
        return false;
    }
    return len == pl + dl || s[pl + dl] == '/';
}

static bool first_level_is(const char *s, size_t len, const char *level)
{
    size_t n = strlen(level);
    return len >= n && memcmp(s, level, n) == 0 && (len == n || s[n] == '/');
}

static bool is_device(const struct bprincipal *p)
{
    return p->kind == BK_DEVICE_BASIC || p->kind == BK_DEVICE_CERT;
}

bool bacl_may_publish(const struct bprincipal *p, const char *topic, size_t len)
{
    if (len == 0 || topic[0] == '$') {
        return false; /* $-topics belong to the server */
    }
    if (!is_device(p) || p->acl_open) {
        return true;
    }
    return bacl_device_ns_ok(p->device) && in_device_ns(p->device, topic, len);
}

bool bacl_may_subscribe(const struct bprincipal *p, const char *filter, size_t len)
{
    if (len == 0) {
        return false;
    }
    if (!is_device(p) || p->acl_open) {
        return true;
    }
    if (first_level_is(filter, len, "broadcast")) {
        return true;
    }
    /* A literal "devices/<id>" prefix: wildcards may follow, never precede. */
    return bacl_device_ns_ok(p->device) && in_device_ns(p->device, filter, len);
}

int bclientid_device(const char *cid, size_t len, struct mqtt_str *out)
{
    const char *parts[4];
    size_t lens[4];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || cid[i] == ':') {
            if (n == 3) {
                return -EINVAL;
            }
            parts[n] = cid + start;
            lens[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    /* 1 part: id; 2: type:id; 3: type:id:template. */
    size_t idx = n == 1 ? 0 : 1;
    if (lens[idx] == 0) {
        return -EINVAL;
    }
    out->ptr = parts[idx];
    out->len = lens[idx];
    return 0;
}
