/* The certificate path end to end: TLS with client certificates judged by registry_identify
 * in the verify callback, Cumulocity ClientId rules, auto-registration, bulk-registered
 * certificate devices, "the certificate wins" over user names, refusals as CONNACK 5, tokens
 * on s/uat, and live sessions closed by revocation and by disabling the CA. */
#include "broker_test.h"

static struct bt_env env;
static struct bt_pki acme, other, acme2;
static char acme_fp[REG_FP_MAX], acme2_fp[REG_FP_MAX];

static char last_anchor[REG_FP_MAX], last_leaf_serial[REG_SERIAL_MAX];
static int last_nserials;

/* The identity variant of the hook: what tokens_issue needs to bind a token. */
static int issue_token(void *arg, const struct reg_identity *id, char **token)
{
    if (!id->accepted) {
        return CG_EDENIED;
    }
    str_lcpy(last_anchor, id->anchor_fp, sizeof(last_anchor));
    str_lcpy(last_leaf_serial, id->serials[0], sizeof(last_leaf_serial));
    last_nserials = id->nserials;
    *token = str_printf("jwt.%s.%s", id->tenant, id->device_id);
    return 0;
}

static int setup(void **state)
{
    struct bt_opts o = {.workers = 2, .tls = true, .hooks = {.issue_token = issue_token}};
    bt_start(&env, &o);
    bt_tenant(&env, "t1");
    bt_tenant(&env, "t2");
    bt_user(&env, "t1", "app", "app-pass-1");
    bt_pki_make(&acme, "acme");
    bt_pki_make(&other, "other");
    bt_pki_make(&acme2, "acme2");
    bt_ca(&env, "t1", acme.root, true, acme_fp);
    bt_ca(&env, "t2", acme2.root, false, acme2_fp);
    /* A certificate device registered in bulk in t2 (whose CA does not auto-register). */
    struct principal p;
    principal_system(&p, NULL);
    struct reg_bulk_row row = {.line = 2, .id = "known", .auth_type = "CERTIFICATES"};
    struct reg_bulk_result res;
    assert_int_equal(registry_bulk_register(env.reg, &p, "t2", &row, 1, &res), 0);
    assert_int_equal(res.status, REG_BULK_CREATED);
    return 0;
}

static int teardown(void **state)
{
    bt_stop(&env);
    bt_pki_free(&acme);
    bt_pki_free(&other);
    bt_pki_free(&acme2);
    return 0;
}

/* Connect with a device certificate; returns the CONNACK code (-1: closed without). */
static int cert_connect(struct mc *m, const struct bt_device *d, const char *client_id,
                        const char *user, const char *pass, bool persistent)
{
    SSL_CTX *ctx = bt_client_ctx(d);
    struct mc_conn_opts o = {
        .client_id = client_id, .user = user, .pass = pass, .persistent = persistent};
    int rc = mc_connect_opts(m, env.tls_port, ctx, &o, NULL);
    SSL_CTX_free(ctx);
    return rc;
}

static void test_auto_registration_and_client_ids(void **state)
{
    struct bt_device d;
    bt_device_make(&d, &acme, "dev-a", NULL);
    struct reg_device_brief brief;
    assert_int_equal(registry_device_lookup(env.reg, "t1", "dev-a", &brief), -ENOENT);
    struct mc m;
    assert_int_equal(cert_connect(&m, &d, "dev-a", NULL, NULL, false), 0);
    /* Registered durably before CONNACK. */
    assert_int_equal(registry_device_lookup(env.reg, "t1", "dev-a", &brief), 0);
    assert_int_equal(brief.auth, REG_AUTH_CERTIFICATES);
    assert_int_equal(brief.registration, REG_REGISTERED_AUTO);
    assert_true(broker_device_connected(env.broker, "t1", "dev-a"));
    /* Its default ACL. */
    assert_int_equal(mc_subscribe(&m, "devices/dev-a/#", 1), 1);
    assert_int_equal(mc_subscribe(&m, "devices/dev-b/#", 1), MQTT_SUBACK_FAILURE);
    mc_disconnect(&m);
    /* The Cumulocity forms: type:id and type:id:template; one session per identifier. */
    struct mc m2;
    assert_int_equal(cert_connect(&m, &d, "d:dev-a", NULL, NULL, false), 0);
    assert_int_equal(cert_connect(&m2, &d, "d:dev-a:myTemplate", NULL, NULL, false), 0);
    assert_true(mc_closed(&m, 2000)); /* the same deviceIdentifier took over */
    mc_close(&m);
    mc_disconnect(&m2);
    /* Mismatches: CONNACK 5. */
    uint64_t before = bt_stats(&env).refused[BROKER_REFUSED_CLIENT_ID_MISMATCH];
    assert_int_equal(cert_connect(&m, &d, "dev-b", NULL, NULL, false), 5);
    mc_close(&m);
    assert_int_equal(cert_connect(&m, &d, "dev-a:d", NULL, NULL, false), 5);
    mc_close(&m);
    assert_int_equal(cert_connect(&m, &d, "d:dev-a:t:x", NULL, NULL, false), 5);
    mc_close(&m);
    assert_int_equal(cert_connect(&m, &d, "d::t", NULL, NULL, false), 5);
    mc_close(&m);
    assert_int_equal(bt_stats(&env).refused[BROKER_REFUSED_CLIENT_ID_MISMATCH], before + 4);
    bt_device_free(&d);
}

static void test_refusals(void **state)
{
    struct mc m;
    struct broker_stats before = bt_stats(&env);
    /* Untrusted chain: CONNACK 5, even with a valid user name and password (the
     * certificate wins). */
    struct bt_device stranger;
    bt_device_make(&stranger, &other, "stranger", NULL);
    assert_int_equal(cert_connect(&m, &stranger, "stranger", NULL, NULL, false), 5);
    mc_close(&m);
    assert_int_equal(cert_connect(&m, &stranger, "stranger", "t1/app", "app-pass-1", false), 5);
    mc_close(&m);
    /* Unknown device, CA without auto-registration: CONNACK 5. */
    struct bt_device unknown;
    bt_device_make(&unknown, &acme2, "unknown", NULL);
    assert_int_equal(cert_connect(&m, &unknown, "unknown", NULL, NULL, false), 5);
    mc_close(&m);
    struct reg_device_brief brief;
    assert_int_equal(registry_device_lookup(env.reg, "t2", "unknown", &brief), -ENOENT);
    struct broker_stats after = bt_stats(&env);
    assert_int_equal(
        after.refused[BROKER_REFUSED_CERTIFICATE] - before.refused[BROKER_REFUSED_CERTIFICATE], 2);
    assert_int_equal(after.refused[BROKER_REFUSED_DEVICE] - before.refused[BROKER_REFUSED_DEVICE],
                     1);
    assert_int_equal(after.refused[BROKER_REFUSED_CREDENTIALS],
                     before.refused[BROKER_REFUSED_CREDENTIALS]); /* never 4 with a cert */
    /* The bulk-registered one is admitted; a wrong password beside it does not matter. */
    struct bt_device known;
    bt_device_make(&known, &acme2, "known", NULL);
    assert_int_equal(cert_connect(&m, &known, "known", "t2/nobody", "wrong", false), 0);
    mc_disconnect(&m);
    /* Without a certificate on the TLS port: user name and password. */
    assert_int_equal(cert_connect(&m, NULL, "tls-app", "t1/app", "app-pass-1", false), 0);
    mc_disconnect(&m);
    assert_int_equal(cert_connect(&m, NULL, "tls-app", "t1/app", "bad-pass", false), 4);
    mc_close(&m);
    bt_device_free(&stranger);
    bt_device_free(&unknown);
    bt_device_free(&known);
}

static void test_token_and_will(void **state)
{
    struct bt_device d, d2;
    bt_device_make(&d, &acme, "dev-tok", "0abc0001");
    bt_device_make(&d2, &acme, "dev-tok2", NULL);
    struct mc a, m, m2;
    assert_int_equal(cert_connect(&m2, &d2, "dev-tok2", NULL, NULL, false), 0);
    assert_int_equal(mc_subscribe(&m2, "s/dat", 1), 1);
    assert_int_equal(mc_connect(&a, env.port, "tok-watch", "t1/app", "app-pass-1", false), 0);
    assert_int_equal(mc_subscribe(&a, "#", 1), 1);
    SSL_CTX *ctx = bt_client_ctx(&d);
    struct mc_conn_opts o = {.client_id = "dev-tok",
                             .will_topic = "devices/dev-tok/status",
                             .will_payload = "lost",
                             .will_qos = 1};
    assert_int_equal(mc_connect_opts(&m, env.tls_port, ctx, &o, NULL), 0);
    assert_int_equal(mc_subscribe(&m, "s/dat", 0), 0);
    mc_publish_nowait(&m, "s/uat", "", 0, 0, false);
    struct mc_pkt p;
    assert_int_equal(mc_recv(&m, &p), 0);
    assert_string_equal(p.topic, "s/dat");
    assert_string_equal(p.payload, "71,jwt.t1.dev-tok");
    /* The hook got the certificate identity: the CA and the chain's serials, leaf first. */
    assert_string_equal(last_anchor, acme_fp);
    assert_string_equal(last_leaf_serial, "abc0001");
    assert_int_equal(last_nserials, 3); /* leaf, intermediate, root */
    /* Only the requester: not another device subscribed to s/dat, not a '#' subscriber. */
    assert_true(mc_nothing(&a, 200));
    assert_true(mc_nothing(&m2, 10));
    /* A non-empty s/uat asks for nothing. */
    mc_publish_nowait(&m, "s/uat", "x", 1, 1, false);
    assert_int_equal(mc_expect(&m, MQTT_PUBACK, &p), 0);
    assert_true(mc_nothing(&m, 300));
    mc_disconnect(&m2);
    bt_device_free(&d2);
    /* The connection breaks: the will goes out. */
    mc_close(&m);
    assert_int_equal(mc_recv(&a, &p), 0);
    assert_string_equal(p.topic, "devices/dev-tok/status");
    assert_string_equal(p.payload, "lost");
    mc_disconnect(&a);
    SSL_CTX_free(ctx);
    bt_device_free(&d);
}

static void test_revocation_closes(void **state)
{
    struct principal actor;
    principal_system(&actor, NULL);
    char why[REG_WHY_MAX];
    struct bt_device d1, d2;
    bt_device_make(&d1, &acme, "dev-r1", "7a7a01");
    bt_device_make(&d2, &acme, "dev-r2", "7a7a02");
    struct mc m1, m2, w;
    assert_int_equal(mc_connect(&w, env.port, "rev-watch", "t1/app", "app-pass-1", false), 0);
    assert_int_equal(mc_subscribe(&w, "devices/+/status", 1), 1);
    SSL_CTX *ctx = bt_client_ctx(&d1);
    struct mc_conn_opts o = {.client_id = "dev-r1",
                             .persistent = true,
                             .will_topic = "devices/dev-r1/status",
                             .will_payload = "lost"};
    assert_int_equal(mc_connect_opts(&m1, env.tls_port, ctx, &o, NULL), 0);
    SSL_CTX_free(ctx);
    assert_int_equal(cert_connect(&m2, &d2, "dev-r2", NULL, NULL, false), 0);
    uint64_t closed = bt_stats(&env).closed_by_registry;
    struct reg_revoked e = {.serial_hex = "7a7a01", .source = "api"};
    int64_t t0 = test_now_ms();
    assert_int_equal(registry_crl_add(env.reg, &actor, "t1", &e, 1, why), 0);
    assert_true(mc_closed(&m1, 2000));
    assert_true(test_now_ms() - t0 < 2000);
    mc_close(&m1);
    assert_int_equal(bt_stats(&env).closed_by_registry, closed + 1);
    /* Not the other device; no will for a session the registry closed; the persistent
     * session is gone. */
    assert_true(mc_nothing(&m2, 200));
    assert_true(mc_nothing(&w, 10));
    assert_int_equal(cert_connect(&m1, &d1, "dev-r1", NULL, NULL, false), 5);
    mc_close(&m1);
    /* Revoking the intermediate's serial closes every session below it. */
    char *inter_hex = NULL;
    {
        const ASN1_INTEGER *sn = X509_get0_serialNumber(acme.inter);
        BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
        inter_hex = BN_bn2hex(bn);
        BN_free(bn);
    }
    struct reg_revoked ei = {.source = "api"};
    str_lcpy(ei.serial_hex, inter_hex, sizeof(ei.serial_hex));
    OPENSSL_free(inter_hex);
    t0 = test_now_ms();
    assert_int_equal(registry_crl_add(env.reg, &actor, "t1", &ei, 1, why), 0);
    assert_true(mc_closed(&m2, 2000));
    assert_true(test_now_ms() - t0 < 2000);
    mc_close(&m2);
    mc_disconnect(&w);
    bt_device_free(&d1);
    bt_device_free(&d2);
}

static void test_disable_ca_closes(void **state)
{
    struct principal actor;
    principal_system(&actor, NULL);
    char why[REG_WHY_MAX];
    struct bt_device k;
    bt_device_make(&k, &acme2, "known", NULL);
    struct mc m, a;
    assert_int_equal(cert_connect(&m, &k, "known", NULL, NULL, false), 0);
    assert_int_equal(mc_connect(&a, env.port, "ca-app", "t1/app", "app-pass-1", false), 0);
    struct reg_cert out;
    memset(&out, 0, sizeof(out));
    int64_t t0 = test_now_ms();
    assert_int_equal(registry_cert_update(env.reg, &actor, "t2", acme2_fp, NULL, 0, -1, &out, why),
                     0);
    reg_cert_cleanup(&out);
    assert_true(mc_closed(&m, 2000));
    assert_true(test_now_ms() - t0 < 2000);
    mc_close(&m);
    assert_true(mc_nothing(&a, 200)); /* a password session of another tenant stays */
    assert_int_equal(cert_connect(&m, &k, "known", NULL, NULL, false), 5);
    mc_close(&m);
    mc_disconnect(&a);
    bt_device_free(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auto_registration_and_client_ids),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_token_and_will),
        cmocka_unit_test(test_revocation_closes),
        cmocka_unit_test(test_disable_ca_closes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
