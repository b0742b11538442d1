/* Roles: the Cumulocity role names certgate understands, as bits of a mask. Pure. */
#ifndef CERTGATE_AUTH_ROLES_H
#define CERTGATE_AUTH_ROLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum role {
    ROLE_TENANT_MANAGEMENT_ADMIN = 1u << 0,
    ROLE_TENANT_MANAGEMENT_READ = 1u << 1,
    ROLE_TENANT_ADMIN = 1u << 2,
    ROLE_DEVICE_CONTROL_ADMIN = 1u << 3,
    ROLE_DEVICE_CONTROL_READ = 1u << 4,
    ROLE_USER_MANAGEMENT_ADMIN = 1u << 5,
    ROLE_USER_MANAGEMENT_READ = 1u << 6,
    ROLE_USER_MANAGEMENT_OWN_ADMIN = 1u << 7,
    ROLE_USER_MANAGEMENT_OWN_READ = 1u << 8,
    ROLE_OPTION_MANAGEMENT_ADMIN = 1u << 9,
    ROLE_OPTION_MANAGEMENT_READ = 1u << 10,
    ROLE_AUDIT_ADMIN = 1u << 11,
    ROLE_AUDIT_READ = 1u << 12,
    ROLE_INVENTORY_ADMIN = 1u << 13,
    ROLE_INVENTORY_READ = 1u << 14,
    ROLE_IDENTITY_ADMIN = 1u << 15,
    ROLE_IDENTITY_READ = 1u << 16,
    ROLE_DEVICE = 1u << 17,
    ROLE_MQTT_ADMIN = 1u << 18, /* certgate: may use the whole MQTT namespace of its tenant */
};

/* Every role an administrator of an ordinary tenant receives. */
#define ROLES_TENANT_ADMIN                                                                         \
    (ROLE_TENANT_ADMIN | ROLE_DEVICE_CONTROL_ADMIN | ROLE_DEVICE_CONTROL_READ |                    \
     ROLE_USER_MANAGEMENT_ADMIN | ROLE_USER_MANAGEMENT_READ | ROLE_USER_MANAGEMENT_OWN_ADMIN |     \
     ROLE_USER_MANAGEMENT_OWN_READ | ROLE_OPTION_MANAGEMENT_ADMIN | ROLE_OPTION_MANAGEMENT_READ |  \
     ROLE_AUDIT_ADMIN | ROLE_AUDIT_READ | ROLE_INVENTORY_ADMIN | ROLE_INVENTORY_READ |             \
     ROLE_IDENTITY_ADMIN | ROLE_IDENTITY_READ | ROLE_MQTT_ADMIN)
/* ... and the management tenant's administrator additionally manages tenants. */
#define ROLES_MANAGEMENT_ADMIN                                                                     \
    (ROLES_TENANT_ADMIN | ROLE_TENANT_MANAGEMENT_ADMIN | ROLE_TENANT_MANAGEMENT_READ)
/* A device user. */
#define ROLES_DEVICE (ROLE_DEVICE | ROLE_USER_MANAGEMENT_OWN_READ)

/* roles_name: "ROLE_TENANT_ADMIN" for one bit; NULL for an unknown bit. */
const char *roles_name(uint32_t bit);

/* roles_parse_name: the bit for a role name (with or without the ROLE_ prefix), 0 when
 * unknown. */
uint32_t roles_parse_name(const char *name);

/* roles_format: comma-separated names of every bit set, into out[len] (truncated names
 * are never written half). Returns the length. */
size_t roles_format(uint32_t mask, char *out, size_t len);

/* roles_parse: a comma-separated list into a mask; unknown names are skipped and
 * counted in *unknown (may be NULL). */
uint32_t roles_parse(const char *list, int *unknown);

/* roles_next: iterate over set bits: start with *it = 0; returns 0 when done. */
uint32_t roles_next(uint32_t mask, int *it);

#endif
