#include "auth/roles.h"

#include "core/str.h"

#include <stdio.h>
#include <string.h>

static const struct {
    uint32_t bit;
    const char *name;
} role_names[] = {
    {ROLE_TENANT_MANAGEMENT_ADMIN, "ROLE_TENANT_MANAGEMENT_ADMIN"},
    {ROLE_TENANT_MANAGEMENT_READ, "ROLE_TENANT_MANAGEMENT_READ"},
    {ROLE_TENANT_ADMIN, "ROLE_TENANT_ADMIN"},
    {ROLE_DEVICE_CONTROL_ADMIN, "ROLE_DEVICE_CONTROL_ADMIN"},
    {ROLE_DEVICE_CONTROL_READ, "ROLE_DEVICE_CONTROL_READ"},
    {ROLE_USER_MANAGEMENT_ADMIN, "ROLE_USER_MANAGEMENT_ADMIN"},
    {ROLE_USER_MANAGEMENT_READ, "ROLE_USER_MANAGEMENT_READ"},
    {ROLE_USER_MANAGEMENT_OWN_ADMIN, "ROLE_USER_MANAGEMENT_OWN_ADMIN"},
    {ROLE_USER_MANAGEMENT_OWN_READ, "ROLE_USER_MANAGEMENT_OWN_READ"},
    {ROLE_OPTION_MANAGEMENT_ADMIN, "ROLE_OPTION_MANAGEMENT_ADMIN"},
    {ROLE_OPTION_MANAGEMENT_READ, "ROLE_OPTION_MANAGEMENT_READ"},
    {ROLE_AUDIT_ADMIN, "ROLE_AUDIT_ADMIN"},
    {ROLE_AUDIT_READ, "ROLE_AUDIT_READ"},
    {ROLE_INVENTORY_ADMIN, "ROLE_INVENTORY_ADMIN"},
    {ROLE_INVENTORY_READ, "ROLE_INVENTORY_READ"},
    {ROLE_IDENTITY_ADMIN, "ROLE_IDENTITY_ADMIN"},
    {ROLE_IDENTITY_READ, "ROLE_IDENTITY_READ"},
    {ROLE_DEVICE, "ROLE_DEVICE"},
    {ROLE_MQTT_ADMIN, "ROLE_MQTT_ADMIN"},
};

#define NROLES (sizeof(role_names) / sizeof(role_names[0]))

const char *roles_name(uint32_t bit)
{
    for (size_t i = 0; i < NROLES; i++) {
        if (role_names[i].bit == bit) {
            return role_names[i].name;
        }
    }
    return NULL;
}

uint32_t roles_parse_name(const char *name)
{
    for (size_t i = 0; i < NROLES; i++) {
        if (strcmp(role_names[i].name, name) == 0 ||
            strcmp(role_names[i].name + strlen("ROLE_"), name) == 0) {
            return role_names[i].bit;
        }
    }
    return 0;
}

size_t roles_format(uint32_t mask, char *out, size_t len)
{
    size_t n = 0;
    if (len > 0) {
        out[0] = 0;
    }
    for (size_t i = 0; i < NROLES; i++) {
        if (!(mask & role_names[i].bit)) {
            continue;
        }
        size_t need = strlen(role_names[i].name) + (n > 0 ? 1 : 0);
        if (n + need + 1 > len) {
            break;
        }
        n += (size_t)snprintf(out + n, len - n, "%s%s", n > 0 ? "," : "", role_names[i].name);
    }
    return n;
}

uint32_t roles_parse(const char *list, int *unknown)
{
    uint32_t mask = 0;
    int bad = 0;
    const char *p = list;
    while (*p != 0) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char name[64];
        if (n > 0 && n < sizeof(name)) {
            memcpy(name, p, n);
            name[n] = 0;
            uint32_t bit = roles_parse_name(str_trim(name));
            if (bit != 0) {
                mask |= bit;
            } else {
                bad++;
            }
        } else if (n > 0) {
            bad++;
        }
        p += n;
        if (*p == ',') {
            p++;
        }
    }
    if (unknown != NULL) {
        *unknown = bad;
    }
    return mask;
}

uint32_t roles_next(uint32_t mask, int *it)
{
    while (*it < 32) {
        uint32_t bit = 1u << *it;
        (*it)++;
        if (mask & bit) {
            return bit;
        }
    }
    return 0;
}
