#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "net/addrlimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

static struct sockaddr_storage v4(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *ip, uint16_t port)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
    return ss;
}

#define SA(x) ((struct sockaddr *)&(x))

static void limits_each_address(void **state)
{
    struct net_addrlimit *t = net_addrlimit_new(1, 2, 16); /* 1/s, burst 2 */
    assert_non_null(t);
    struct sockaddr_storage a = v4("192.0.2.1", 1000), a2 = v4("192.0.2.1", 2000);
    struct sockaddr_storage b = v4("192.0.2.2", 1000);
    assert_true(net_addrlimit_take(t, SA(a), 1000));
    assert_true(net_addrlimit_take(t, SA(a2), 1000)); /* the port does not matter */
    assert_false(net_addrlimit_take(t, SA(a), 1000));
    assert_true(net_addrlimit_take(t, SA(b), 1000)); /* another address has its own */
    assert_false(net_addrlimit_take(t, SA(a), 1500));
    assert_true(net_addrlimit_take(t, SA(a), 2000)); /* refilled one token */
    assert_false(net_addrlimit_take(t, SA(a), 2000));
    assert_int_equal(net_addrlimit_count(t), 2);
    net_addrlimit_free(t);
}

static void ipv4_mapped_counts_as_ipv4(void **state)
{
    struct net_addrlimit *t = net_addrlimit_new(1, 1, 16);
    struct sockaddr_storage a = v4("198.51.100.7", 1), m = v6("::ffff:198.51.100.7", 2);
    struct sockaddr_storage o = v6("2001:db8::7", 3);
    assert_true(net_addrlimit_take(t, SA(a), 0));
    assert_false(net_addrlimit_take(t, SA(m), 0));
    assert_true(net_addrlimit_take(t, SA(o), 0));
    assert_false(net_addrlimit_take(t, SA(o), 0));
    assert_int_equal(net_addrlimit_count(t), 2);
    net_addrlimit_free(t);
}

static void evicts_least_recently_seen(void **state)
{
    struct net_addrlimit *t = net_addrlimit_new(0.001, 1, 3);
    struct sockaddr_storage a[4] = {v4("10.0.0.1", 1), v4("10.0.0.2", 1), v4("10.0.0.3", 1),
                                    v4("10.0.0.4", 1)};
    for (int i = 0; i < 3; i++) {
        assert_true(net_addrlimit_take(t, SA(a[i]), 0));
    }
    /* Touch 10.0.0.1 so that 10.0.0.2 is the least recently seen. */
    assert_false(net_addrlimit_take(t, SA(a[0]), 1));
    assert_true(net_addrlimit_take(t, SA(a[3]), 2));
    assert_int_equal(net_addrlimit_count(t), 3);
    assert_true(net_addrlimit_take(t, SA(a[1]), 3));  /* evicted, so a fresh bucket */
    assert_false(net_addrlimit_take(t, SA(a[3]), 4)); /* still remembered */
    assert_int_equal(net_addrlimit_count(t), 3);
    net_addrlimit_free(t);
}

static void other_families_and_no_limit(void **state)
{
    struct net_addrlimit *t = net_addrlimit_new(0.001, 1, 4);
    struct sockaddr_storage u;
    memset(&u, 0, sizeof(u));
    u.ss_family = AF_UNIX;
    for (int i = 0; i < 10; i++) {
        assert_true(net_addrlimit_take(t, SA(u), 0));
    }
    assert_int_equal(net_addrlimit_count(t), 0);
    net_addrlimit_free(t);

    t = net_addrlimit_new(0, 1, 4); /* rate <= 0: unlimited */
    struct sockaddr_storage a = v4("10.1.1.1", 1);
    for (int i = 0; i < 10; i++) {
        assert_true(net_addrlimit_take(t, SA(a), 0));
    }
    net_addrlimit_free(t);
    net_addrlimit_free(NULL);
}

static void many_addresses_stay_bounded(void **state)
{
    struct net_addrlimit *t = net_addrlimit_new(1, 1, 100);
    for (uint32_t i = 0; i < 10000; i++) {
        struct sockaddr_storage ss;
        memset(&ss, 0, sizeof(ss));
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(0x0a000000u + i);
        assert_true(net_addrlimit_take(t, SA(ss), 0));
    }
    assert_int_equal(net_addrlimit_count(t), 100);
    net_addrlimit_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(limits_each_address),
        cmocka_unit_test(ipv4_mapped_counts_as_ipv4),
        cmocka_unit_test(evicts_least_recently_seen),
        cmocka_unit_test(other_families_and_no_limit),
        cmocka_unit_test(many_addresses_stay_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
