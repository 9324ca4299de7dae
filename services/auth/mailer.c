/* mailer.c — the mail senders of mailer.h: SMTP through libcurl, and the file sink. */
#include "mailer.h"
#include "base/random.h"
#include "base/xmalloc.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mailer {
    bool smtp;
    char *from, *url, *user, *password, *file, *ca_file;
    bool tls_required;
    int64_t timeout_ms;
    pthread_mutex_t file_mu; /* the file sink appends one whole mail at a time */
};

bool mailer_address_ok(const char *a)
{
    size_t n = strlen(a);
    if (n < 3 || n > 254)
        return false;
    const char *at = strchr(a, '@');
    if (!at || at == a || strchr(at + 1, '@') || (size_t)(at - a) > 64 || !at[1])
        return false;
    for (const char *p = a; *p; p++)
        if (*p <= ' ' || *p > '~' || strchr("()<>[]\\,;:\"", *p))
            return false;
    return true;
}

mailer *mailer_new(const mailer_config *c, char *err, size_t errlen)
{
    bool smtp = strcmp(c->sender, "smtp") == 0;
    if (!smtp && strcmp(c->sender, "file") != 0) {
        snprintf(err, errlen, "mail.sender: unknown sender %s", c->sender);
        return NULL;
    }
    if (!mailer_address_ok(c->from)) {
        snprintf(err, errlen, "mail.from: a bare address is required (a@b.example)");
        return NULL;
    }
    if (smtp && strncmp(c->smtp_url, "smtp://", 7) != 0 &&
        strncmp(c->smtp_url, "smtps://", 8) != 0) {
        snprintf(err, errlen, "mail.smtp_url: smtp://host:port or smtps://host:port is required");
        return NULL;
    }
    if (!smtp && !*c->file) {
        snprintf(err, errlen, "mail.file is required by mail.sender file");
        return NULL;
    }
    mailer *m = xcalloc(1, sizeof *m);
    m->smtp = smtp;
    m->from = xstrdup(c->from);
    m->url = xstrdup(c->smtp_url);
    m->user = xstrdup(c->smtp_user);
    m->password = xstrdup(c->smtp_password);
    m->file = xstrdup(c->file);
    m->ca_file = xstrdup(c->smtp_ca_file ? c->smtp_ca_file : "");
    m->tls_required = strcmp(c->smtp_tls, "none") != 0;
    m->timeout_ms = c->timeout_ms;
    pthread_mutex_init(&m->file_mu, NULL);
    return m;
}

void mailer_free(mailer *m)
{
    if (!m)
        return;
    free(m->from);
    free(m->url);
    free(m->user);
    if (m->password) {
        memset(m->password, 0, strlen(m->password));
        free(m->password);
    }
    free(m->file);
    free(m->ca_file);
    pthread_mutex_destroy(&m->file_mu);
    free(m);
}

/* The whole message: headers (RFC 5322), a blank line, the body with CRLF line ends. */
static char *compose(const mailer *m, const mail_msg *msg)
{
    char date[64], id[48];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    cf_random_token(id, 18);
    const char *dom = strchr(m->from, '@') + 1;
    size_t cap = strlen(msg->body) * 2 + strlen(msg->subject) + strlen(msg->to) + 512;
    char *out = xmalloc(cap);
    int n = snprintf(out, cap,
                     "Date: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@%s>\r\n"
                     "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: 8bit\r\n\r\n",
                     date, m->from, msg->to, msg->subject, id, dom);
    size_t o = (size_t)n;
    for (const char *p = msg->body; *p; p++) {
        if (*p == '\n' && (p == msg->body || p[-1] != '\r'))
            out[o++] = '\r';
        out[o++] = *p;
    }
    out[o] = '\0';
    return out;
}

typedef struct upload {
    const char *data;
    size_t left;
} upload;

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
    upload *u = arg;
    size_t n = size * nitems < u->left ? size * nitems : u->left;
    memcpy(buf, u->data, n);
    u->data += n;
    u->left -= n;
    return n;
}

static cf_code send_smtp(mailer *m, const char *text, const char *to, char *err, size_t errlen)
{
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, errlen, "mail: cannot start an SMTP client");
        return CF_UNAVAILABLE;
    }
    char from[300], rcpt[300], ebuf[CURL_ERROR_SIZE] = "";
    snprintf(from, sizeof from, "<%s>", m->from);
    snprintf(rcpt, sizeof rcpt, "<%s>", to);
    struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
    upload u = {text, strlen(text)};
    curl_easy_setopt(h, CURLOPT_URL, m->url);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, &u);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_INFILESIZE, (long)u.left);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)m->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    /* STARTTLS or nothing: CURLUSESSL_ALL fails the mail when the server does not offer it
     * (never a silent fall back to plain text); the certificate and its name are checked */
    if (m->tls_required)
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (*m->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, m->ca_file);
    if (*m->user) {
        curl_easy_setopt(h, CURLOPT_USERNAME, m->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, m->password);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(rcpts);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        /* curl's message names the server's answer, never the password */
        snprintf(err, errlen, "mail: SMTP: %s", *ebuf ? ebuf : curl_easy_strerror(rc));
        return CF_UNAVAILABLE;
    }
    return CF_OK;
}

static cf_code send_file(mailer *m, const char *text, char *err, size_t errlen)
{
    pthread_mutex_lock(&m->file_mu);
    FILE *f = fopen(m->file, "a");
    bool ok = f && fprintf(f, "%s\r\n.\r\n", text) > 0;
    if (f && fclose(f) != 0)
        ok = false;
    pthread_mutex_unlock(&m->file_mu);
    if (!ok) {
        snprintf(err, errlen, "mail: cannot append to mail.file");
        return CF_UNAVAILABLE;
    }
    return CF_OK;
}

cf_code mailer_send(mailer *m, const mail_msg *msg, char *err, size_t errlen)
{
    if (!mailer_address_ok(msg->to)) {
        snprintf(err, errlen, "mail: not a deliverable address");
        return CF_INVALID_ARGUMENT;
    }
    char *text = compose(m, msg);
    cf_code code =
        m->smtp ? send_smtp(m, text, msg->to, err, errlen) : send_file(m, text, err, errlen);
    free(text);
    return code;
}
