/* test_resolve.c — common/rpc/resolve.h: names to every address (hosts file, system resolver),
 * one dialer per address kept current, a lost connection triggering a new resolution, and a
 * pub socket reaching every address of a name. Real nng sockets on 127.0.0.x. */
#include "th.h"
#include "testsvc.h"
#include "base/clock.h"
#include "rpc/resolve.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/util/platform.h>

static char hosts[128];

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void write_hosts(const char *text)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", hosts);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(rename(tmp, hosts), 0);
}

/* Waits (up to 20 s) until rs dials n addresses; returns the ms it took. */
static int64_t wait_dialing(resolve_set *rs, size_t n)
{
    int64_t t0 = cf_mono_ns();
    while (resolve_dialing(rs) != n) {
        if (cf_mono_ns() - t0 > 20 * 1000000000LL)
            fail_msg("dialing %zu addresses, expected %zu", resolve_dialing(rs), n);
        nng_msleep(10);
    }
    return (cf_mono_ns() - t0) / 1000000;
}

static int setup(void **state)
{
    (void)state;
    snprintf(hosts, sizeof hosts, "/tmp/confetti-unit-resolve-%d.hosts", (int)getpid());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(hosts);
    resolve_setup(0, NULL);
    return 0;
}

static void test_hosts_file_lists_every_address_of_a_name(void **state)
{
    (void)state;
    write_hosts("# replicas\n"
                "127.0.0.2   Peer.Test other   # first\n"
                "127.0.0.3\tpeer.test\n"
                "127.0.0.2 peer.test\n" /* the same address twice: dialed once */
                "::1 peer.test\n"
                "not-an-address peer.test\n"
                "127.0.0.9 unrelated\n");
    resolve_setup(1000, hosts);
    char out[8][48];
    const char *why = "";
    size_t n = resolve_host("PEER.test", out, 8, &why);
    assert_int_equal(n, 3);
    assert_string_equal(out[0], "127.0.0.2");
    assert_string_equal(out[1], "127.0.0.3");
    assert_string_equal(out[2], "[::1]");
    /* a name the file does not list goes to the system resolver */
    n = resolve_host("localhost", out, 8, &why);
    assert_true(n >= 1);
    /* and one that resolves nowhere says why */
    n = resolve_host("no-such-name.invalid", out, 8, &why);
    assert_int_equal(n, 0);
    assert_true(strlen(why) > 0);
    /* without a hosts file, the file's names are unknown */
    resolve_setup(1000, NULL);
    assert_int_equal(resolve_host("peer.test", out, 8, &why), 0);
}

static void test_dialers_follow_the_name_and_a_lost_connection(void **state)
{
    (void)state;
    int port = free_port();
    char a[64], b[64], url[64];
    snprintf(a, sizeof a, "tcp://127.0.0.2:%d", port);
    snprintf(b, sizeof b, "tcp://127.0.0.3:%d", port);
    snprintf(url, sizeof url, "tcp://peer.test:%d", port);
    int ida = 1, idb = 2;
    rpc_server *sa = th_echo_server(a, 2, &ida, NULL, NULL);
    rpc_server *sb = th_echo_server(b, 2, &idb, NULL, NULL);
    assert_non_null(sa);
    assert_non_null(sb);

    write_hosts("127.0.0.2 peer.test\n");
    /* a long interval: what happens below within seconds is the lost connection's doing */
    resolve_setup(60000, hosts);
    nng_socket s;
    assert_int_equal(nng_req0_open(&s), 0);
    resolve_set *rs;
    char err[256];
    const char *u = url;
    assert_code(CF_OK, resolve_dial(s, &u, 1, &rs, err, sizeof err));
    assert_int_equal(resolve_dialing(rs), 1); /* the first answer is used at once */

    /* the name gains an address; B's connection is not there yet, and A's dies: the resolution
     * that follows the lost connection dials B */
    write_hosts("127.0.0.2 peer.test\n127.0.0.3 peer.test\n");
    int64_t t0 = cf_mono_ns();
    while (resolve_live_pipes(rs) < 1) {
        assert_true(cf_mono_ns() - t0 < 20 * 1000000000LL);
        nng_msleep(10);
    }
    rpc_server_free(sa); /* drains and closes: A's connection ends */
    int64_t ms = wait_dialing(rs, 2);
    print_message("a lost connection re-resolved the name in %lld ms (interval 60 s)\n",
                  (long long)ms);
    t0 = cf_mono_ns();
    while (resolve_live_pipes(rs) < 1) { /* B's connection */
        assert_true(cf_mono_ns() - t0 < 20 * 1000000000LL);
        nng_msleep(10);
    }

    /* A leaves the name too: after B's connection is lost once more, A's dialer goes */
    write_hosts("127.0.0.3 peer.test\n");
    rpc_server_free(sb);
    wait_dialing(rs, 1);

    resolve_stop(rs);
    assert_int_equal(resolve_dialing(rs), 0);
    resolve_stop(rs);
    nng_close(s);
    resolve_free(rs);
}

/* A resolution that fails (the name is unknown for a while) keeps what is dialed: a resolver
 * outage is no peer outage. */
static void test_failed_resolution_keeps_the_dialers(void **state)
{
    (void)state;
    write_hosts("127.0.0.2 peer.test\n127.0.0.3 peer.test\n");
    resolve_setup(100, hosts);
    nng_socket s;
    assert_int_equal(nng_req0_open(&s), 0);
    resolve_set *rs;
    char err[256];
    const char *u = "tcp://peer.test:1";
    assert_code(CF_OK, resolve_dial(s, &u, 1, &rs, err, sizeof err));
    assert_int_equal(resolve_dialing(rs), 2);
    write_hosts("# peer.test is gone from everywhere\n");
    nng_msleep(1000); /* ten intervals */
    assert_int_equal(resolve_dialing(rs), 2);
    /* and a new answer is followed again */
    write_hosts("127.0.0.3 peer.test\n");
    wait_dialing(rs, 1);
    resolve_stop(rs);
    nng_close(s);
    resolve_free(rs);
}

/* A peer whose name gives nothing yet (a headless Service before its first pod is ready) is
 * asked again every second, not every interval. */
static void test_a_name_with_no_address_yet_is_asked_again_soon(void **state)
{
    (void)state;
    write_hosts("# no pod ready yet\n");
    resolve_setup(60000, hosts);
    nng_socket s;
    assert_int_equal(nng_req0_open(&s), 0);
    resolve_set *rs;
    char err[256];
    const char *u = "tcp://peer.test:1";
    assert_code(CF_OK, resolve_dial(s, &u, 1, &rs, err, sizeof err));
    assert_int_equal(resolve_dialing(rs), 0);
    write_hosts("127.0.0.2 peer.test\n");
    int64_t ms = wait_dialing(rs, 1);
    print_message("first address found %lld ms after it appeared (interval 60 s)\n", (long long)ms);
    resolve_stop(rs);
    nng_close(s);
    resolve_free(rs);
}

static void test_address_literals_and_other_transports_are_dialed_as_given(void **state)
{
    (void)state;
    resolve_setup(1000, NULL);
    nng_socket s;
    assert_int_equal(nng_req0_open(&s), 0);
    char ipc[128];
    th_ipc_url(ipc, sizeof ipc, "resolve");
    const char *urls[] = {"tcp://127.0.0.1:1", "tcp://[::1]:1", ipc};
    resolve_set *rs;
    char err[256];
    assert_code(CF_OK, resolve_dial(s, urls, 3, &rs, err, sizeof err));
    assert_int_equal(resolve_dialing(rs), 3);
    resolve_stop(rs);
    nng_close(s);
    resolve_free(rs);

    /* a URL nng refuses fails at start, named, whether its host is a name or not */
    assert_int_equal(nng_req0_open(&s), 0);
    const char *bad[] = {"tcp://peer.test"};
    assert_code(CF_INVALID_ARGUMENT, resolve_dial(s, bad, 1, &rs, err, sizeof err));
    assert_non_null(strstr(err, "tcp://peer.test"));
    const char *bad2[] = {"nosuch://x:1"};
    assert_code(CF_INVALID_ARGUMENT, resolve_dial(s, bad2, 1, &rs, err, sizeof err));
    nng_close(s);
}

/* A publisher dialing the bus by name reaches every broker: each gets every message. */
static void test_pub_reaches_every_address(void **state)
{
    (void)state;
    int port = free_port();
    char a[64], b[64], url[64];
    snprintf(a, sizeof a, "tcp://127.0.0.2:%d", port);
    snprintf(b, sizeof b, "tcp://127.0.0.3:%d", port);
    snprintf(url, sizeof url, "tcp://bus.test:%d", port);
    nng_socket sub[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(nng_sub0_open(&sub[i]), 0);
        assert_int_equal(nng_socket_set(sub[i], NNG_OPT_SUB_SUBSCRIBE, "", 0), 0);
        assert_int_equal(nng_socket_set_ms(sub[i], NNG_OPT_RECVTIMEO, 100), 0);
        assert_int_equal(nng_listen(sub[i], i ? b : a, NULL, 0), 0);
    }
    write_hosts("127.0.0.2 bus.test\n127.0.0.3 bus.test\n");
    resolve_setup(1000, hosts);
    nng_socket pub;
    assert_int_equal(nng_pub0_open(&pub), 0);
    resolve_set *rs;
    char err[256];
    const char *u = url;
    assert_code(CF_OK, resolve_dial(pub, &u, 1, &rs, err, sizeof err));
    /* publish until both have one (a sub connected late misses the earlier ones) */
    bool got[2] = {false, false};
    int64_t t0 = cf_mono_ns();
    while (!(got[0] && got[1])) {
        assert_true(cf_mono_ns() - t0 < 20 * 1000000000LL);
        assert_int_equal(nng_send(pub, "ev", 2, 0), 0);
        for (int i = 0; i < 2; i++) {
            char buf[8];
            size_t len = sizeof buf;
            if (nng_recv(sub[i], buf, &len, 0) == 0)
                got[i] = true;
        }
    }
    resolve_stop(rs);
    nng_close(pub);
    resolve_free(rs);
    nng_close(sub[0]);
    nng_close(sub[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hosts_file_lists_every_address_of_a_name),
        cmocka_unit_test(test_dialers_follow_the_name_and_a_lost_connection),
        cmocka_unit_test(test_failed_resolution_keeps_the_dialers),
        cmocka_unit_test(test_a_name_with_no_address_yet_is_asked_again_soon),
        cmocka_unit_test(test_address_literals_and_other_transports_are_dialed_as_given),
        cmocka_unit_test(test_pub_reaches_every_address),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
