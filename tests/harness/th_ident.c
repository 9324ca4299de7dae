/* th_ident.c — per-process test keys and identities (see th_ident.h). */
#include "th_ident.h"
#include "th.h"
#include "events/events.h"
#include "rpc/sendmsg.h"

#include <nng/nng.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const names[] = {"auth",  "catalog", "rooms", "draw", "gateway", "bus",
                                    "alpha", "beta",    "gamma", "test", "echo",    NULL};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char dir[64], untrusted_dir[80], untrusted_key[128];
static rpc_ident *made[32];
static size_t nmade;

static void remove_dir(const char *d)
{
    DIR *h = opendir(d);
    if (!h)
        return;
    for (struct dirent *e; (e = readdir(h));) {
        if (e->d_name[0] == '.')
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        unlink(p);
    }
    closedir(h);
    rmdir(d);
}

static void cleanup(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nmade; i++)
        rpc_ident_free(made[i]);
    nmade = 0;
    pthread_mutex_unlock(&lock);
    remove_dir(untrusted_dir);
    remove_dir(dir);
}

static void make_keys(void)
{
    snprintf(dir, sizeof dir, "/tmp/confetti-ident-%d-XXXXXX", (int)getpid());
    if (!mkdtemp(dir)) {
        fprintf(stderr, "th_ident: mkdtemp failed\n");
        abort();
    }
    char err[256];
    for (size_t i = 0; names[i]; i++)
        if (rpc_ident_keygen(dir, names[i], err, sizeof err) != CF_OK) {
            fprintf(stderr, "th_ident: %s\n", err);
            abort();
        }
    /* the intruder's key lives beside, not in, the trusted directory */
    snprintf(untrusted_dir, sizeof untrusted_dir, "%s-untrusted", dir);
    if (mkdir(untrusted_dir, 0700) != 0 ||
        rpc_ident_keygen(untrusted_dir, "intruder", err, sizeof err) != CF_OK) {
        fprintf(stderr, "th_ident: intruder key: %s\n", err);
        abort();
    }
    snprintf(untrusted_key, sizeof untrusted_key, "%s/intruder.key", untrusted_dir);
    atexit(cleanup);
}

const char *th_ident_dir(void)
{
    pthread_once(&once, make_keys);
    return dir;
}

const char *th_ident_untrusted_key(void)
{
    pthread_once(&once, make_keys);
    return untrusted_key;
}

rpc_ident *th_ident(const char *name)
{
    const char *d = th_ident_dir();
    const char *want = name ? name : "anonymous";
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nmade; i++)
        if (strcmp(rpc_ident_name(made[i]), want) == 0) {
            rpc_ident *found = made[i];
            pthread_mutex_unlock(&lock);
            return found;
        }
    pthread_mutex_unlock(&lock);
    char key[128] = "";
    if (name) {
        if (strcmp(name, "intruder") == 0)
            snprintf(key, sizeof key, "%s", untrusted_key);
        else
            snprintf(key, sizeof key, "%s/%s.key", d, name);
    }
    rpc_ident_config c = {.name = name ? name : "anonymous", .key_file = key, .trust_dir = d};
    rpc_ident *id;
    char err[256];
    if (rpc_ident_new(&c, &id, err, sizeof err) != CF_OK) {
        fprintf(stderr, "th_ident(%s): %s\n", name ? name : "NULL", err);
        abort();
    }
    pthread_mutex_lock(&lock);
    if (nmade == sizeof made / sizeof *made) {
        pthread_mutex_unlock(&lock);
        fprintf(stderr, "th_ident: too many identities\n");
        abort();
    }
    made[nmade++] = id;
    pthread_mutex_unlock(&lock);
    return id;
}

static rpc_ident *test_ident;
static pthread_once_t test_once = PTHREAD_ONCE_INIT;

static void make_test_ident(void)
{
    test_ident = th_ident("test");
}

rpc_ident *th_ident_test(void)
{
    pthread_once(&test_once, make_test_ident);
    return test_ident;
}

nng_msg *th_event_frame(const rpc_ident *signer, const char *source, const void *event, size_t len)
{
    char topic[64];
    size_t tn = events_topic(source, topic, sizeof topic);
    nng_msg *m = tn ? rpc_sendmsg_alloc(tn + len + RPC_IDENT_SIG_LEN) : NULL;
    if (!m)
        abort();
    uint8_t *body = nng_msg_body(m);
    memcpy(body, topic, tn);
    memcpy(body + tn, event, len);
    memset(body + tn + len, 0, RPC_IDENT_SIG_LEN);
    if (signer && !rpc_ident_sign(signer, body, tn + len, body + tn + len))
        abort();
    return m;
}

void th_ident_env(const char *svc, char **env, size_t *n)
{
    const char *d = th_ident_dir();
    char *s;
    /* a test's own service name (pubsvc's, a bench's): its pair is made now, so identities made
     * after this trust it */
    if (asprintf(&s, "%s/%s.key", d, svc) < 0)
        abort();
    char err[256];
    if (access(s, R_OK) != 0 && rpc_ident_keygen(d, svc, err, sizeof err) != CF_OK) {
        fprintf(stderr, "th_ident: %s\n", err);
        abort();
    }
    free(s);
    if (asprintf(&s, "CONFETTI_IDENT_KEY_FILE=%s/%s.key", d, svc) < 0)
        abort();
    env[(*n)++] = s;
    if (asprintf(&s, "CONFETTI_IDENT_TRUST_DIR=%s", d) < 0)
        abort();
    env[(*n)++] = s;
    env[(*n)++] = strdup("CONFETTI_IDENT_OPERATORS=test");
}
