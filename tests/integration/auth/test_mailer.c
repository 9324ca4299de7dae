/* test_mailer.c — auth's SMTP sender (services/auth/mailer.c) against a real SMTP server with
 * STARTTLS (Debian's python3-aiosmtpd on loopback) and certificates made here by openssl (issue
 * 18 item 2, left untested until 2026-12-07): with mail.smtp_tls required a mail goes only over
 * TLS to a server whose certificate chains to mail.smtp_ca_file (or the system's CAs) and names
 * the host; a server that offers no STARTTLS, an untrusted certificate or another name fail the
 * mail with UNAVAILABLE and deliver nothing (never a fall back to plain text). */
#include "th.h"
#include "th_phase.h"
#include "th_proc.h"
#include "service.h"
#include "mailer.h"
#include "base/xmalloc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct smtp_server {
    pid_t pid;
    int port;
    char maildir[256], log[256];
} smtp_server;

static char dir[128];
static smtp_server good, wrong_name, plain;

/* A self-signed certificate for san (openssl's subjectAltName syntax) at DIR/name.{crt,key}. */
static void make_cert(const char *name, const char *san)
{
    char crt[200], key[200], ext[160], out[4096];
    snprintf(crt, sizeof crt, "%s/%s.crt", dir, name);
    snprintf(key, sizeof key, "%s/%s.key", dir, name);
    snprintf(ext, sizeof ext, "subjectAltName=%s", san);
    const char *argv[] = {"openssl", "req",   "-x509",   "-newkey", "rsa:2048",
                          "-nodes",  "-days", "2",       "-subj",   "/CN=confetti test mail",
                          "-addext", ext,     "-keyout", key,       "-out",
                          crt,       NULL};
    if (th_run(argv, NULL, out, sizeof out) != 0)
        fail_msg("openssl: %s", out);
}

/* aiosmtpd on a free port, delivering into a Maildir; with cert: STARTTLS offered and required
 * before MAIL (aiosmtpd's default once it has a certificate). */
static void start_server(smtp_server *s, const char *name, const char *cert)
{
    s->port = th_free_port();
    snprintf(s->maildir, sizeof s->maildir, "%s/%s-mail", dir, name);
    snprintf(s->log, sizeof s->log, "%s/%s.log", dir, name);
    char listen[64], crt[200], key[200];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", s->port);
    snprintf(crt, sizeof crt, "%s/%s.crt", dir, cert ? cert : "");
    snprintf(key, sizeof key, "%s/%s.key", dir, cert ? cert : "");
    const char *with_tls[] = {
        "/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", listen,
        "--tlscert",        crt,  "--tlskey", key,  "-c", "aiosmtpd.handlers.Mailbox",
        s->maildir,         NULL};
    const char *without[] = {
        "/usr/bin/python3",          "-m",       "aiosmtpd", "-n", "-l", listen, "-c",
        "aiosmtpd.handlers.Mailbox", s->maildir, NULL};
    s->pid = th_spawn_logged(cert ? with_tls : without, "", s->log);
    for (int i = 0; i < 400 && !th_port_open(s->port); i++)
        usleep(50000);
    if (!th_port_open(s->port))
        fail_msg("the SMTP server %s did not start (see %s)", name, s->log);
}

static void stop_server(smtp_server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

/* Mails delivered to s so far. */
static int delivered(const smtp_server *s)
{
    char nd[300];
    snprintf(nd, sizeof nd, "%s/new", s->maildir);
    DIR *d = opendir(nd);
    if (!d)
        return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* One mail to s through a mailer of this config; the code, and err. */
static cf_code send_one(const smtp_server *s, const char *host, const char *tls, const char *ca,
                        char *err, size_t errlen)
{
    char url[128];
    snprintf(url, sizeof url, "smtp://%s:%d", host, s->port);
    mailer_config c = {.sender = "smtp",
                       .from = "noreply@confetti.example",
                       .smtp_url = url,
                       .smtp_tls = tls,
                       .smtp_ca_file = ca,
                       .smtp_user = "",
                       .smtp_password = "",
                       .timeout_ms = 15000 * th_time_scale(),
                       .file = ""};
    mailer *m = mailer_new(&c, err, errlen);
    assert_non_null(m);
    cf_code code = mailer_send(
        m, &(mail_msg){.to = "winner@example.com", .subject = "You won", .body = "A prize."}, err,
        errlen);
    mailer_free(m);
    return code;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/confetti-mailer-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    make_cert("good", "IP:127.0.0.1,DNS:localhost");
    make_cert("other", "DNS:mail.other.example");
    start_server(&good, "good", "good");
    start_server(&wrong_name, "wrong-name", "other");
    start_server(&plain, "plain", NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    stop_server(&good);
    stop_server(&wrong_name);
    stop_server(&plain);
    const char *argv[] = {"rm", "-rf", dir, NULL};
    th_run(argv, NULL, NULL, 0);
    return 0;
}

static void starttls_to_a_trusted_server_delivers(void **state)
{
    (void)state;
    char err[512] = "", ca[200];
    snprintf(ca, sizeof ca, "%s/good.crt", dir);
    int before = delivered(&good);
    cf_code code = send_one(&good, "127.0.0.1", "required", ca, err, sizeof err);
    if (code != CF_OK)
        fail_msg("send: %s", err);
    assert_int_equal(delivered(&good), before + 1);
    /* the name in the URL is checked against the certificate too: localhost is in it */
    code = send_one(&good, "localhost", "required", ca, err, sizeof err);
    if (code != CF_OK)
        fail_msg("send to localhost: %s", err);
    assert_int_equal(delivered(&good), before + 2);
}

static void untrusted_certificate_delivers_nothing(void **state)
{
    (void)state;
    char err[512] = "", ca[200];
    int before = delivered(&good);
    /* the system's CAs do not know the test's certificate */
    assert_int_equal(send_one(&good, "127.0.0.1", "required", "", err, sizeof err), CF_UNAVAILABLE);
    assert_non_null(strstr(err, "mail: SMTP: "));
    /* a CA file that is not the server's */
    snprintf(ca, sizeof ca, "%s/other.crt", dir);
    assert_int_equal(send_one(&good, "127.0.0.1", "required", ca, err, sizeof err), CF_UNAVAILABLE);
    assert_int_equal(delivered(&good), before);
}

static void certificate_for_another_name_delivers_nothing(void **state)
{
    (void)state;
    char err[512] = "", ca[200];
    snprintf(ca, sizeof ca, "%s/other.crt", dir);
    /* trusted (its own CA file), but it names mail.other.example, not 127.0.0.1 */
    assert_int_equal(send_one(&wrong_name, "127.0.0.1", "required", ca, err, sizeof err),
                     CF_UNAVAILABLE);
    assert_int_equal(delivered(&wrong_name), 0);
}

static void no_starttls_offered_is_no_plain_text_fallback(void **state)
{
    (void)state;
    char err[512] = "";
    int before = delivered(&plain);
    assert_int_equal(send_one(&plain, "127.0.0.1", "required", "", err, sizeof err),
                     CF_UNAVAILABLE);
    assert_int_equal(delivered(&plain), before);
    /* plain text only when the operator says so (mail.smtp_tls none) */
    cf_code code = send_one(&plain, "127.0.0.1", "none", "", err, sizeof err);
    if (code != CF_OK)
        fail_msg("send: %s", err);
    assert_int_equal(delivered(&plain), before + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(starttls_to_a_trusted_server_delivers),
        cmocka_unit_test(untrusted_certificate_delivers_nothing),
        cmocka_unit_test(certificate_for_another_name_delivers_nothing),
        cmocka_unit_test(no_starttls_offered_is_no_plain_text_fallback),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
