/* sms.c — the SMS senders of phone sign-in (phone.h): an HTTP webhook (libcurl POST of
 * {"to","text"} as JSON; any SMS gateway or a small adapter in front of one) and a file sink for
 * `make run` (one JSON line per message). Neither logs the text: it carries the code. */
#include "auth.h"
#include "base/log.h"
#include "base/xmalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *const auth_phone_senders[] = {"webhook", "file", NULL};

struct sms_sender {
    bool file;
    char *url, *auth_header, *ca_file, *path;
    long timeout_ms;
    pthread_mutex_t mu; /* the file: one line at a time */
};

/* http://<loopback>[:port]/…: a sidecar in the same pod or host. */
static bool loopback_http(const char *url)
{
    static const char *const hosts[] = {"http://127.0.0.1", "http://localhost", "http://[::1]"};
    for (size_t i = 0; i < sizeof hosts / sizeof *hosts; i++) {
        size_t n = strlen(hosts[i]);
        if (strncmp(url, hosts[i], n) == 0 && (url[n] == ':' || url[n] == '/' || !url[n]))
            return true;
    }
    return false;
}

cf_code sms_sender_new(const auth_phone_config *cfg, sms_sender **out, char *err, size_t errlen)
{
    *out = NULL;
    bool file = strcmp(cfg->sender, "file") == 0;
    if (file && !*cfg->file_path) {
        snprintf(err, errlen, "phone.file_path is required with phone.sender file");
        return CF_INVALID_ARGUMENT;
    }
    if (!file && !(strncmp(cfg->webhook_url, "https://", 8) == 0 && cfg->webhook_url[8]) &&
        !loopback_http(cfg->webhook_url)) {
        snprintf(err, errlen,
                 "phone.webhook_url must be an https:// URL (plain http only to a loopback "
                 "address): the messages carry sign-in codes");
        return CF_INVALID_ARGUMENT;
    }
    sms_sender *s = xcalloc(1, sizeof *s);
    s->file = file;
    s->path = xstrdup(cfg->file_path);
    s->url = xstrdup(cfg->webhook_url);
    s->ca_file = xstrdup(cfg->webhook_ca_file ? cfg->webhook_ca_file : "");
    if (cfg->webhook_secret && *cfg->webhook_secret)
        s->auth_header = xasprintf("Authorization: Bearer %s", cfg->webhook_secret);
    s->timeout_ms = (long)cfg->webhook_timeout;
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return CF_OK;
}

void sms_sender_free(sms_sender *s)
{
    if (!s)
        return;
    if (s->auth_header) {
        memset(s->auth_header, 0, strlen(s->auth_header));
        free(s->auth_header);
    }
    free(s->url);
    free(s->ca_file);
    free(s->path);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static cf_code send_webhook(sms_sender *s, const char *body, char *err, size_t errlen)
{
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "curl_easy_init failed");
        return CF_UNAVAILABLE;
    }
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    if (s->auth_header)
        hdr = curl_slist_append(hdr, s->auth_header);
    curl_easy_setopt(c, CURLOPT_URL, s->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, s->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    if (*s->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, s->ca_file);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "SMS webhook: %s", curl_easy_strerror(rc));
        return CF_UNAVAILABLE;
    }
    if (status < 200 || status > 299) {
        snprintf(err, errlen, "SMS webhook answered %ld", status);
        return CF_UNAVAILABLE;
    }
    return CF_OK;
}

static cf_code send_file(sms_sender *s, const char *line, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    FILE *f = fopen(s->path, "a");
    bool ok = f != NULL;
    if (f) {
        ok = fprintf(f, "%s\n", line) >= 0;
        ok = fclose(f) == 0 && ok;
    }
    cf_code code = CF_OK;
    if (!ok) {
        snprintf(err, errlen, "SMS file %s: %s", s->path, strerror(errno));
        code = CF_UNAVAILABLE;
    }
    pthread_mutex_unlock(&s->mu);
    return code;
}

cf_code sms_send(sms_sender *s, const char *phone, const char *text, char *err, size_t errlen)
{
    json_t *j = json_pack("{s:s, s:s}", "to", phone, "text", text);
    if (s->file)
        json_object_set_new(j, "at", json_integer((json_int_t)time(NULL)));
    char *body = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!body) {
        snprintf(err, errlen, "cannot encode the message");
        return CF_INTERNAL;
    }
    cf_code code = s->file ? send_file(s, body, err, errlen) : send_webhook(s, body, err, errlen);
    memset(body, 0, strlen(body));
    free(body);
    return code;
}
