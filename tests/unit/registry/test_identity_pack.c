/* The compact form of an accepted identity (registry_identity_pack / _unpack), which the
 * server keeps with every TLS session: a round trip gives back every field the broker and the
 * server use, the form is small, and anything that is not a well-formed compact identity
 * unpacks as a refusal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "registry/registry.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void typical(struct reg_identity *id)
{
    memset(id, 0, sizeof(*id));
    id->accepted = true;
    snprintf(id->reason, sizeof(id->reason), "ok");
    snprintf(id->tenant, sizeof(id->tenant), "t12345678");
    snprintf(id->device_id, sizeof(id->device_id), "dev-00001");
    snprintf(id->anchor_fp, sizeof(id->anchor_fp), "%040d", 7);
    snprintf(id->leaf_fp, sizeof(id->leaf_fp), "%040d", 9);
    id->auto_registration = true;
    id->nserials = 3;
    snprintf(id->serials[0], REG_SERIAL_MAX, "1a2b3c4d5e6f");
    snprintf(id->serials[1], REG_SERIAL_MAX, "2");
    snprintf(id->serials[2], REG_SERIAL_MAX, "ffee");
    id->not_after_ms = 1893456000123LL;
}

static void same(const struct reg_identity *a, const struct reg_identity *b)
{
    assert_true(b->accepted);
    assert_string_equal(b->reason, "ok");
    assert_string_equal(a->tenant, b->tenant);
    assert_string_equal(a->device_id, b->device_id);
    assert_string_equal(a->anchor_fp, b->anchor_fp);
    assert_string_equal(a->leaf_fp, b->leaf_fp);
    assert_int_equal(a->auto_registration, b->auto_registration);
    assert_int_equal(a->nserials, b->nserials);
    for (int i = 0; i < a->nserials; i++) {
        assert_string_equal(a->serials[i], b->serials[i]);
    }
    assert_int_equal(a->not_after_ms, b->not_after_ms);
}

static void round_trip(void **state)
{
    struct reg_identity id, back;
    typical(&id);
    unsigned char buf[REG_IDENTITY_PACKED_MAX];
    size_t len = 0;
    assert_int_equal(registry_identity_pack(&id, buf, sizeof(buf), &len), 0);
    assert_true(len < 200); /* ~2.4 KiB as a struct */
    assert_int_equal(registry_identity_unpack(buf, len, &back), 0);
    same(&id, &back);
    assert_string_equal(back.message, "accepted: device dev-00001 of tenant t12345678");
    /* auto-registration off, no serials */
    id.auto_registration = false;
    id.nserials = 0;
    assert_int_equal(registry_identity_pack(&id, buf, sizeof(buf), &len), 0);
    assert_int_equal(registry_identity_unpack(buf, len, &back), 0);
    same(&id, &back);
}

static void largest(void **state)
{
    struct reg_identity id, back;
    typical(&id);
    memset(id.device_id, 'd', REG_NAME_MAX - 1);
    id.device_id[REG_NAME_MAX - 1] = '\0';
    memset(id.tenant, 't', REG_TENANT_ID_MAX - 1);
    id.tenant[REG_TENANT_ID_MAX - 1] = '\0';
    id.nserials = 10;
    for (int i = 0; i < 10; i++) {
        memset(id.serials[i], 'a' + i, REG_SERIAL_MAX - 1);
        id.serials[i][REG_SERIAL_MAX - 1] = '\0';
    }
    unsigned char buf[REG_IDENTITY_PACKED_MAX];
    size_t len = 0;
    assert_int_equal(registry_identity_pack(&id, buf, sizeof(buf), &len), 0);
    assert_true(len <= REG_IDENTITY_PACKED_MAX);
    assert_int_equal(registry_identity_unpack(buf, len, &back), 0);
    same(&id, &back);
    /* Too small a buffer at every size: -ENOSPC, never an overflow (ASan). */
    for (size_t cap = 0; cap < len; cap++) {
        unsigned char small[REG_IDENTITY_PACKED_MAX];
        assert_int_equal(registry_identity_pack(&id, small, cap, &len), -ENOSPC);
    }
}

static void only_accepted_identities(void **state)
{
    struct reg_identity id;
    typical(&id);
    id.accepted = false;
    unsigned char buf[REG_IDENTITY_PACKED_MAX];
    size_t len = 0;
    assert_int_equal(registry_identity_pack(&id, buf, sizeof(buf), &len), -EINVAL);
    typical(&id);
    id.nserials = 11;
    assert_int_equal(registry_identity_pack(&id, buf, sizeof(buf), &len), -EINVAL);
}

static void refused(const unsigned char *buf, size_t len)
{
    struct reg_identity back;
    memset(&back, 0x5a, sizeof(back));
    assert_int_equal(registry_identity_unpack(buf, len, &back), -EINVAL);
    assert_false(back.accepted);
    assert_string_equal(back.reason, "internal");
    assert_string_equal(back.tenant, "");
    assert_string_equal(back.device_id, "");
}

static void malformed_unpacks_as_a_refusal(void **state)
{
    struct reg_identity id;
    typical(&id);
    unsigned char buf[REG_IDENTITY_PACKED_MAX];
    size_t len = 0;
    assert_int_equal(registry_identity_pack(&id, buf, sizeof(buf), &len), 0);
    refused(NULL, 0);
    for (size_t n = 0; n < len; n++) {
        refused(buf, n); /* every truncation */
    }
    unsigned char more[REG_IDENTITY_PACKED_MAX + 1];
    memcpy(more, buf, len);
    more[len] = 0;
    refused(more, len + 1); /* trailing bytes */
    unsigned char bad[REG_IDENTITY_PACKED_MAX];
    memcpy(bad, buf, len);
    bad[0] = 2; /* another version */
    refused(bad, len);
    memcpy(bad, buf, len);
    bad[1] = 0x80; /* unknown flags */
    refused(bad, len);
    memcpy(bad, buf, len);
    bad[11] = 0; /* a NUL inside the tenant id */
    refused(bad, len);
    memcpy(bad, buf, len);
    bad[10] = 200; /* a tenant id longer than allowed */
    refused(bad, len);
    /* an empty device id */
    struct reg_identity e;
    typical(&e);
    e.device_id[0] = '\0';
    assert_int_equal(registry_identity_pack(&e, buf, sizeof(buf), &len), 0);
    refused(buf, len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(largest),
        cmocka_unit_test(only_accepted_identities),
        cmocka_unit_test(malformed_unpacks_as_a_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
