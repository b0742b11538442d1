/* Tenant isolation, the ACL (default, open, application users), the token topics (s/uat ->
 * s/dat to the requester only), broker_publish, broker_device_connected, and registry events
 * closing sessions of password principals (device deleted, user disabled or deleted, tenant
 * suspended) within 2 s, with audit records. */
#include "broker_test.h"

static struct bt_env env;

static atomic_int token_calls;

static int issue_token(void *arg, const struct reg_identity *id, char **token)
{
    atomic_fetch_add(&token_calls, 1);
    *token = str_printf("tok-%s-%s", id->tenant, id->device_id);
    return *token != NULL ? 0 : -ENOMEM;
}

static int setup(void **state)
{
    struct bt_opts o = {.workers = 2, .hooks = {.issue_token = issue_token}};
    bt_start(&env, &o);
    bt_tenant(&env, "t1");
    bt_tenant(&env, "t2");
    bt_tenant(&env, "t3");
    bt_user(&env, "t1", "app", "app-pass-1");
    bt_user(&env, "t2", "app", "app-pass-2");
    bt_user(&env, "t3", "app", "app-pass-3");
    bt_basic_device(&env, "t1", "dev1", "dev1-pass");
    bt_basic_device(&env, "t1", "dev2", "dev2-pass");
    bt_basic_device(&env, "t2", "dev1", "dev1-pass");
    bt_basic_device(&env, "t3", "dev9", "dev9-pass");
    bt_option(&env, "t2", "mqtt", "acl.mode", "open");
    return 0;
}

static int teardown(void **state)
{
    bt_stop(&env);
    return 0;
}

static void app(struct mc *m, const char *tenant, const char *id)
{
    char user[64], pass[32];
    snprintf(user, sizeof(user), "%s/app", tenant);
    snprintf(pass, sizeof(pass), "app-pass-%c", tenant[1]);
    assert_int_equal(mc_connect(m, env.port, id, user, pass, false), 0);
}

static void dev(struct mc *m, const char *tenant, const char *id)
{
    char user[64], pass[32];
    snprintf(user, sizeof(user), "%s/device_%s", tenant, id);
    snprintf(pass, sizeof(pass), "%s-pass", id);
    assert_int_equal(mc_connect(m, env.port, id, user, pass, false), 0);
}

static void test_tenant_isolation(void **state)
{
    struct mc a1, a2, p1, p2;
    app(&a1, "t1", "iso-1");
    app(&a2, "t2", "iso-2");
    assert_int_equal(mc_subscribe(&a1, "#", 1), 1);
    assert_int_equal(mc_subscribe(&a2, "#", 1), 1);
    app(&p1, "t1", "iso-p1");
    app(&p2, "t2", "iso-p2");
    assert_int_equal(mc_publish(&p1, "same/topic", "from t1", 1, true), 0);
    assert_int_equal(mc_publish(&p2, "same/topic", "from t2", 1, true), 0);
    struct mc_pkt p;
    assert_int_equal(mc_recv(&a1, &p), 0);
    assert_string_equal(p.payload, "from t1");
    assert_true(mc_nothing(&a1, 300));
    assert_int_equal(mc_recv(&a2, &p), 0);
    assert_string_equal(p.payload, "from t2");
    assert_true(mc_nothing(&a2, 200));
    /* Retained messages are per tenant too. */
    struct mc late;
    app(&late, "t2", "iso-late");
    assert_int_equal(mc_subscribe(&late, "same/#", 1), 1);
    assert_int_equal(mc_recv(&late, &p), 0);
    assert_string_equal(p.payload, "from t2");
    assert_true(mc_nothing(&late, 200));
    /* The same ClientId in two tenants: two sessions, no takeover. */
    struct mc x1, x2;
    app(&x1, "t1", "same-id");
    app(&x2, "t2", "same-id");
    assert_true(mc_nothing(&x1, 200));
    assert_int_equal(mc_publish(&x1, "a", "still here", 1, false), 0);
    mc_disconnect(&x1);
    mc_disconnect(&x2);
    assert_int_equal(mc_publish(&p1, "same/topic", "", 1, true), 0);
    assert_int_equal(mc_publish(&p2, "same/topic", "", 1, true), 0);
    mc_disconnect(&late);
    mc_disconnect(&a1);
    mc_disconnect(&a2);
    mc_disconnect(&p1);
    mc_disconnect(&p2);
}

static void test_acl_default(void **state)
{
    struct mc d1, d2, a;
    dev(&d1, "t1", "dev1");
    dev(&d2, "t1", "dev2");
    app(&a, "t1", "acl-app");
    assert_int_equal(mc_subscribe(&a, "#", 1), 1);
    /* Subscriptions: its own namespace and broadcast only. */
    assert_int_equal(mc_subscribe(&d1, "devices/dev1/#", 1), 1);
    assert_int_equal(mc_subscribe(&d1, "devices/dev1", 1), 1);
    assert_int_equal(mc_subscribe(&d1, "devices/dev1/cmd/+", 1), 1);
    assert_int_equal(mc_subscribe(&d1, "broadcast/#", 1), 1);
    assert_int_equal(mc_subscribe(&d1, "devices/dev2/#", 1), MQTT_SUBACK_FAILURE);
    assert_int_equal(mc_subscribe(&d1, "devices/+/cmd", 1), MQTT_SUBACK_FAILURE);
    assert_int_equal(mc_subscribe(&d1, "devices/#", 1), MQTT_SUBACK_FAILURE);
    assert_int_equal(mc_subscribe(&d1, "devices/dev10/#", 1), MQTT_SUBACK_FAILURE);
    assert_int_equal(mc_subscribe(&d1, "#", 1), MQTT_SUBACK_FAILURE);
    assert_int_equal(mc_subscribe(&d1, "+/dev1/#", 1), MQTT_SUBACK_FAILURE);
    assert_int_equal(mc_subscribe(&d1, "s/uat", 0), MQTT_SUBACK_FAILURE);
    /* Publishing: its own namespace only; refusals are acknowledged and dropped. */
    uint64_t denied = bt_stats(&env).publishes_denied;
    assert_int_equal(mc_publish(&d1, "devices/dev1/up", "mine", 1, false), 0);
    struct mc_pkt p;
    assert_int_equal(mc_recv(&a, &p), 0);
    assert_string_equal(p.topic, "devices/dev1/up");
    assert_int_equal(mc_recv(&d1, &p), 0); /* its own subscription */
    assert_string_equal(p.topic, "devices/dev1/up");
    assert_int_equal(mc_publish(&d1, "devices/dev2/cmd", "not mine", 1, false), 0);
    assert_int_equal(mc_publish(&d1, "broadcast/all", "not allowed", 2, false), 0);
    assert_int_equal(mc_publish(&d1, "elsewhere", "no", 0, false), 0);
    assert_true(mc_nothing(&a, 300));
    assert_true(mc_nothing(&d2, 10));
    assert_int_equal(bt_stats(&env).publishes_denied, denied + 3);
    /* The application user reaches the devices. */
    assert_int_equal(mc_publish(&a, "devices/dev1/cmd/reboot", "now", 1, false), 0);
    assert_int_equal(mc_recv(&d1, &p), 0);
    assert_string_equal(p.topic, "devices/dev1/cmd/reboot");
    assert_int_equal(mc_recv(&a, &p), 0); /* its own '#' */
    assert_int_equal(mc_publish(&a, "broadcast/news", "hi", 1, false), 0);
    assert_int_equal(mc_recv(&d1, &p), 0);
    assert_string_equal(p.topic, "broadcast/news");
    assert_int_equal(mc_recv(&a, &p), 0);
    mc_disconnect(&d1);
    mc_disconnect(&d2);
    mc_disconnect(&a);
}

static void test_acl_open(void **state)
{
    struct mc d, a;
    dev(&d, "t2", "dev1");
    app(&a, "t2", "open-app");
    assert_int_equal(mc_subscribe(&d, "#", 1), 1);
    assert_int_equal(mc_subscribe(&a, "anything/#", 1), 1);
    assert_int_equal(mc_publish(&d, "anything/goes", "open", 1, false), 0);
    struct mc_pkt p;
    assert_int_equal(mc_recv(&a, &p), 0);
    assert_string_equal(p.payload, "open");
    assert_int_equal(mc_recv(&d, &p), 0);
    /* Still no $ topics. */
    assert_int_equal(mc_publish(&d, "$x", "no", 1, false), 0);
    assert_true(mc_nothing(&d, 200));
    mc_disconnect(&d);
    mc_disconnect(&a);
}

static void test_token_topics(void **state)
{
    /* Tokens are for certificate sessions (test_tls.c); here: password principals get none,
     * and the reserved topics never reach anyone else. */
    struct mc d1, a;
    dev(&d1, "t1", "dev1");
    app(&a, "t1", "tok-app");
    assert_int_equal(mc_subscribe(&a, "#", 1), 1);
    assert_int_equal(mc_subscribe(&a, "s/dat", 1), 1);
    assert_int_equal(mc_subscribe(&d1, "s/dat", 1), 1);
    assert_int_equal(mc_publish(&d1, "s/uat", "", 1, false), 0);
    assert_int_equal(mc_publish(&a, "s/uat", "", 1, false), 0);
    /* s/dat cannot be published to. */
    assert_int_equal(mc_publish(&a, "s/dat", "71,fake", 1, false), 0);
    assert_true(mc_nothing(&d1, 300));
    assert_true(mc_nothing(&a, 10));
    assert_int_equal(atomic_load(&token_calls), 0);
    mc_disconnect(&d1);
    mc_disconnect(&a);
}

struct done_ctx {
    atomic_int calls;
    atomic_int rc;
};

static void publish_done(void *arg, int rc)
{
    struct done_ctx *d = arg;
    atomic_store(&d->rc, rc);
    atomic_fetch_add(&d->calls, 1);
}

static bool done_called(void *arg)
{
    return atomic_load(&((struct done_ctx *)arg)->calls) > 0;
}

static void test_broker_publish(void **state)
{
    struct mc d, a;
    dev(&d, "t1", "dev1");
    app(&a, "t1", "bp-app");
    assert_int_equal(mc_subscribe(&d, "devices/dev1/#", 1), 1);
    assert_int_equal(mc_subscribe(&a, "#", 1), 1);
    assert_true(broker_device_connected(env.broker, "t1", "dev1"));
    assert_false(broker_device_connected(env.broker, "t1", "dev2"));
    assert_false(broker_device_connected(env.broker, "t2", "dev1"));
    /* An application principal publishes anywhere in its tenant. */
    struct principal who;
    memset(&who, 0, sizeof(who));
    who.via = PRINCIPAL_BASIC;
    str_lcpy(who.tenant, "t1", sizeof(who.tenant));
    str_lcpy(who.user, "app", sizeof(who.user));
    struct done_ctx dc = {0};
    assert_int_equal(
        broker_publish(env.broker, &who, "devices/dev1/cmd", "go", 2, 1, false, publish_done, &dc),
        0);
    assert_true(test_wait_until(done_called, &dc, 2000));
    assert_int_equal(atomic_load(&dc.rc), 0);
    struct mc_pkt p;
    assert_int_equal(mc_recv(&d, &p), 0);
    assert_string_equal(p.payload, "go");
    assert_int_equal(mc_recv(&a, &p), 0);
    /* A device principal gets the device ACL. */
    str_lcpy(who.user, "device_dev2", sizeof(who.user));
    str_lcpy(who.device, "dev2", sizeof(who.device));
    struct done_ctx dd = {0};
    assert_int_equal(
        broker_publish(env.broker, &who, "devices/dev1/cmd", "x", 1, 1, false, publish_done, &dd),
        CG_EDENIED);
    assert_int_equal(atomic_load(&dd.calls), 1);
    assert_int_equal(atomic_load(&dd.rc), CG_EDENIED);
    struct done_ctx de = {0};
    assert_int_equal(broker_publish(env.broker, &who, "bad/#", "x", 1, 1, false, publish_done, &de),
                     -EINVAL);
    assert_int_equal(atomic_load(&de.rc), -EINVAL);
    assert_true(mc_nothing(&d, 200));
    mc_disconnect(&d);
    mc_disconnect(&a);
}

static struct principal system_actor(void)
{
    struct principal p;
    principal_system(&p, NULL);
    return p;
}

static bool audit_has(const char *tenant, const char *user)
{
    struct reg_audit *items = NULL;
    int n = 0;
    struct reg_audit_filter f = {.type = NULL};
    if (registry_audit_list(env.reg, tenant, &f, 0, 200, &items, &n, NULL) < 0) {
        return false;
    }
    bool found = false;
    for (int i = 0; i < n; i++) {
        if (strcmp(items[i].activity, "Device connection closed") == 0 &&
            strcmp(items[i].user, user) == 0) {
            found = true;
        }
    }
    free(items);
    return found;
}

struct audit_wait {
    const char *tenant, *user;
};

static bool audit_wait(void *arg)
{
    struct audit_wait *w = arg;
    return audit_has(w->tenant, w->user);
}

static void test_events_password_principals(void **state)
{
    struct principal actor = system_actor();
    char why[REG_WHY_MAX];
    struct mc d1, d2, u, u2, other;
    dev(&d1, "t1", "dev1");
    dev(&d2, "t1", "dev2");
    bt_user(&env, "t1", "temp", "temp-pass");
    bt_user(&env, "t1", "temp2", "temp-pass2");
    assert_int_equal(mc_connect(&u, env.port, "temp-c", "t1/temp", "temp-pass", false), 0);
    assert_int_equal(mc_connect(&u2, env.port, "temp2-c", "t1/temp2", "temp-pass2", false), 0);
    dev(&other, "t2", "dev1");
    uint64_t closed = bt_stats(&env).closed_by_registry;

    /* A persistent, offline session of dev2 is discarded with the device. */
    mc_disconnect(&d2);
    struct mc_conn_opts po = {.client_id = "dev2-persist",
                              .user = "t1/device_dev2",
                              .pass = "dev2-pass",
                              .persistent = true};
    assert_int_equal(mc_connect_opts(&d2, env.port, NULL, &po, NULL), 0);
    assert_int_equal(mc_subscribe(&d2, "devices/dev2/#", 1), 1);
    mc_disconnect(&d2);
    assert_true(BT_WAIT_GE(&env, sessions_offline, 1, 2000));
    uint64_t offline = bt_stats(&env).sessions_offline;

    /* Delete device dev1 of t1: its session closes, dev1 of t2 is untouched. */
    struct reg_device_brief brief;
    assert_int_equal(registry_device_lookup(env.reg, "t1", "dev1", &brief), 0);
    int64_t t0 = test_now_ms();
    assert_int_equal(registry_device_delete(env.reg, &actor, "t1", brief.id, why), 0);
    assert_true(mc_closed(&d1, 2000));
    assert_true(test_now_ms() - t0 < 2000);
    mc_close(&d1);
    assert_true(mc_nothing(&other, 100));
    struct audit_wait aw = {"t1", "device_dev1"};
    assert_true(test_wait_until(audit_wait, &aw, 3000));
    /* A deleted device cannot come back. */
    assert_int_equal(mc_connect(&d1, env.port, "dev1", "t1/device_dev1", "dev1-pass", false), 4);
    mc_close(&d1);

    assert_int_equal(registry_device_lookup(env.reg, "t1", "dev2", &brief), 0);
    assert_int_equal(registry_device_delete(env.reg, &actor, "t1", brief.id, why), 0);
    assert_true(BT_WAIT_EQ(&env, sessions_offline, offline - 1, 2000));

    /* Disable a user. */
    struct reg_user ru;
    memset(&ru, 0, sizeof(ru));
    str_lcpy(ru.tenant, "t1", sizeof(ru.tenant));
    str_lcpy(ru.name, "temp", sizeof(ru.name));
    ru.enabled = false;
    t0 = test_now_ms();
    assert_int_equal(registry_user_update(env.reg, &actor, &ru, REG_USER_ENABLED, NULL, why), 0);
    assert_true(mc_closed(&u, 2000));
    assert_true(test_now_ms() - t0 < 2000);
    mc_close(&u);
    assert_int_equal(mc_connect(&u, env.port, "temp-c", "t1/temp", "temp-pass", false), 4);
    mc_close(&u);
    /* Delete another. */
    assert_int_equal(registry_user_delete(env.reg, &actor, "t1", "temp2", why), 0);
    assert_true(mc_closed(&u2, 2000));
    mc_close(&u2);
    assert_true(bt_stats(&env).closed_by_registry >= closed + 3);
    assert_true(mc_nothing(&other, 100));
    mc_disconnect(&other);
}

static void test_event_tenant_suspended(void **state)
{
    struct principal actor = system_actor();
    char why[REG_WHY_MAX];
    struct mc a, d, other;
    app(&a, "t3", "susp-app");
    dev(&d, "t3", "dev9");
    app(&other, "t1", "susp-other");
    struct mc_conn_opts po = {
        .client_id = "t3-persist", .user = "t3/app", .pass = "app-pass-3", .persistent = true};
    struct mc p3;
    assert_int_equal(mc_connect_opts(&p3, env.port, NULL, &po, NULL), 0);
    mc_disconnect(&p3);
    assert_true(BT_WAIT_GE(&env, sessions_offline, 1, 2000));
    uint64_t offline = bt_stats(&env).sessions_offline;
    struct reg_tenant t;
    memset(&t, 0, sizeof(t));
    str_lcpy(t.id, "t3", sizeof(t.id));
    t.suspended = true;
    int64_t t0 = test_now_ms();
    assert_int_equal(registry_tenant_update(env.reg, &actor, &t, REG_TENANT_STATUS, why), 0);
    assert_true(mc_closed(&a, 2000));
    assert_true(mc_closed(&d, 2000));
    assert_true(test_now_ms() - t0 < 2000);
    mc_close(&a);
    mc_close(&d);
    assert_true(BT_WAIT_EQ(&env, sessions_offline, offline - 1, 2000));
    assert_true(mc_nothing(&other, 100));
    assert_int_equal(mc_connect(&a, env.port, "susp-app", "t3/app", "app-pass-3", false), 4);
    mc_close(&a);
    mc_disconnect(&other);
}

/* Connects and refusals are counted per tenant as well as for the instance, and each
 * tenant sees only its own live devices. Runs first: t3 is untouched by the other tests. */
static void test_tenant_stats(void **state)
{
    struct broker_tenant_stats t3, t2;
    broker_tenant_stats_get(env.broker, "t3", &t3);
    assert_int_equal(t3.connects_accepted, 0);
    struct mc d;
    dev(&d, "t3", "dev9");
    struct mc bad;
    assert_int_equal(mc_connect(&bad, env.port, "bad-9", "t3/app", "wrong-password", false),
                     MQTT_CONNACK_BAD_CREDENTIALS);
    mc_close(&bad);
    broker_tenant_stats_get(env.broker, "t3", &t3);
    broker_tenant_stats_get(env.broker, "t2", &t2);
    assert_int_equal(t3.connects_accepted, 1);
    assert_int_equal(t3.connects_last_minute, 1);
    assert_int_equal(t3.refused[BROKER_REFUSED_CREDENTIALS], 1);
    assert_int_equal(t3.refused_last_minute[BROKER_REFUSED_CREDENTIALS], 1);
    assert_int_equal(t3.devices_online, 1);
    assert_int_equal(t2.devices_online, 0);
    struct broker_stats all = bt_stats(&env);
    assert_true(all.connects_last_minute >= 1);
    assert_true(all.refused_last_minute[BROKER_REFUSED_CREDENTIALS] >= 1);
    mc_disconnect(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_stats),
        cmocka_unit_test(test_tenant_isolation),
        cmocka_unit_test(test_acl_default),
        cmocka_unit_test(test_acl_open),
        cmocka_unit_test(test_token_topics),
        cmocka_unit_test(test_broker_publish),
        cmocka_unit_test(test_events_password_principals),
        cmocka_unit_test(test_event_tenant_suspended),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
