/* The ACL and ClientId rules (src/broker/acl.c): pure functions. */
#include "broker_test.h"

#include "broker/broker_int.h"

static struct bprincipal device(const char *id, bool open)
{
    struct bprincipal p = {
        .kind = BK_DEVICE_CERT, .acl_open = open, .user = "device_x", .device = (char *)id};
    return p;
}

static bool pub(const struct bprincipal *p, const char *t)
{
    return bacl_may_publish(p, t, strlen(t));
}

static bool sub(const struct bprincipal *p, const char *f)
{
    return bacl_may_subscribe(p, f, strlen(f));
}

static void test_device_default(void **state)
{
    struct bprincipal d = device("dev1", false);
    assert_true(pub(&d, "devices/dev1"));
    assert_true(pub(&d, "devices/dev1/"));
    assert_true(pub(&d, "devices/dev1/a/b"));
    assert_false(pub(&d, "devices/dev10"));
    assert_false(pub(&d, "devices/dev10/x"));
    assert_false(pub(&d, "devices/dev"));
    assert_false(pub(&d, "devices/dev2/x"));
    assert_false(pub(&d, "devices"));
    assert_false(pub(&d, "broadcast/x"));
    assert_false(pub(&d, "Devices/dev1"));
    assert_false(pub(&d, "/devices/dev1"));
    assert_false(pub(&d, "$devices/dev1"));

    assert_true(sub(&d, "devices/dev1"));
    assert_true(sub(&d, "devices/dev1/#"));
    assert_true(sub(&d, "devices/dev1/+/x"));
    assert_true(sub(&d, "broadcast"));
    assert_true(sub(&d, "broadcast/#"));
    assert_true(sub(&d, "broadcast/+/y"));
    assert_false(sub(&d, "broadcastx"));
    assert_false(sub(&d, "devices/+"));
    assert_false(sub(&d, "devices/+/x"));
    assert_false(sub(&d, "devices/#"));
    assert_false(sub(&d, "devices/dev10/#"));
    assert_false(sub(&d, "#"));
    assert_false(sub(&d, "+/dev1"));
    assert_false(sub(&d, "+"));
}

static void test_device_ids_that_reach_elsewhere(void **state)
{
    /* A certificate CN may hold '/', '+' or '#': such a device owns no namespace (it would
     * reach into another device's topics). */
    struct bprincipal slash = device("a/b", false);
    assert_false(pub(&slash, "devices/a/b/x"));
    assert_false(sub(&slash, "devices/a/b/#"));
    assert_false(sub(&slash, "devices/a/#"));
    assert_true(sub(&slash, "broadcast/#"));
    struct bprincipal plus = device("+", false);
    assert_false(sub(&plus, "devices/+/#"));
    struct bprincipal hash = device("#", false);
    assert_false(sub(&hash, "devices/#"));
    struct bprincipal empty = device("", false);
    assert_false(pub(&empty, "devices/"));
    assert_false(sub(&empty, "devices//#"));
    assert_true(bacl_device_ns_ok("dev-1_x.y"));
    assert_false(bacl_device_ns_ok(NULL));
}

static void test_open_and_app(void **state)
{
    struct bprincipal open = device("dev1", true);
    struct bprincipal app = {.kind = BK_APP, .user = "app"};
    const struct bprincipal *ps[] = {&open, &app};
    for (int i = 0; i < 2; i++) {
        assert_true(pub(ps[i], "anything/at/all"));
        assert_true(pub(ps[i], "devices/dev2/x"));
        assert_false(pub(ps[i], "$SYS/x")); /* never */
        assert_false(pub(ps[i], "$"));
        assert_true(pub(ps[i], "a/$b"));
        assert_true(sub(ps[i], "#"));
        assert_true(sub(ps[i], "+/+"));
        assert_true(sub(ps[i], "$SYS/#"));
    }
    struct bprincipal basic = {.kind = BK_DEVICE_BASIC, .user = "device_d", .device = "d"};
    assert_true(pub(&basic, "devices/d/x"));
    assert_false(pub(&basic, "devices/e/x"));
}

static void test_client_ids(void **state)
{
    struct mqtt_str out;
#define DEV(cid, want)                                                                             \
    do {                                                                                           \
        assert_int_equal(bclientid_device(cid, strlen(cid), &out), 0);                             \
        assert_true(mqtt_str_eq(out, mqtt_str_c(want)));                                           \
    } while (0)
    DEV("mySerialNumber", "mySerialNumber");
    DEV("d:mySerialNumber", "mySerialNumber");
    DEV("d:mySerialNumber:myDefaultTemplate", "mySerialNumber");
    DEV("x:y:", "y");
    DEV(":y", "y");
    assert_int_equal(bclientid_device("", 0, &out), -EINVAL);
    assert_int_equal(bclientid_device("d:", 2, &out), -EINVAL);
    assert_int_equal(bclientid_device("d::t", 4, &out), -EINVAL);
    assert_int_equal(bclientid_device("a:b:c:d", 7, &out), -EINVAL);
    assert_int_equal(bclientid_device(":::", 3, &out), -EINVAL);
    assert_true(btopic_is("s/uat", 5, BTOPIC_TOKEN_REQ));
    assert_false(btopic_is("s/uat/", 6, BTOPIC_TOKEN_REQ));
    assert_false(btopic_is("s/ua", 4, BTOPIC_TOKEN_REQ));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_device_default),
        cmocka_unit_test(test_device_ids_that_reach_elsewhere),
        cmocka_unit_test(test_open_and_app),
        cmocka_unit_test(test_client_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
