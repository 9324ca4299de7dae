/* fdio.c — see fdio.h. Each connection is registered EPOLLONESHOT and re-armed for what is
 * pending (a read, a write) after every event. A closed connection is unregistered at once but
 * freed by the loop thread after the batch of events it is handling, so an event already taken
 * from epoll never points at freed memory. Lock order: loop → connection. */
#include "fdio.h"
#include "base/xmalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <stdint.h>
#include <unistd.h>

#define MAX_IOV 8

struct gw_fdconn {
    gw_fdloop *l;
    int fd;
    void (*close_fn)(void *);
    void *close_arg;
    gw_fdconn *dead_next;
    pthread_mutex_t mu;
    bool closed;
    nng_aio *raio;
    void *rbuf;
    size_t rlen, nread;
    nng_aio *waio;
    struct iovec wiov[MAX_IOV];
    unsigned wn;
};

struct gw_fdloop {
    int ep, wake;
    pthread_t th;
    pthread_mutex_t mu; /* held while a batch of events is handled */
    gw_fdconn *dead;
    bool stop;
};

/* Re-arms c for what is pending. Under c->mu. */
static void arm_locked(gw_fdconn *c)
{
    if (c->closed)
        return;
    uint32_t ev = EPOLLONESHOT | EPOLLRDHUP;
    if (c->raio)
        ev |= EPOLLIN;
    if (c->waio)
        ev |= EPOLLOUT;
    if (!(ev & (EPOLLIN | EPOLLOUT)))
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(c->l->ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* Tries the pending read: true when it is finished (*rv set). Under c->mu. */
static bool try_read_locked(gw_fdconn *c, int *rv)
{
    ssize_t n = read(c->fd, c->rbuf, c->rlen);
    if (n > 0) {
        c->nread = (size_t)n;
        *rv = 0;
        return true;
    }
    if (n == 0) {
        *rv = NNG_ECLOSED;
        return true;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        return false;
    *rv = NNG_ECONNRESET;
    return true;
}

/* Tries the pending write: true when all is written or it failed (*rv set). Under c->mu. */
static bool try_write_locked(gw_fdconn *c, int *rv)
{
    while (c->wn) {
        ssize_t n = writev(c->fd, c->wiov, (int)c->wn);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return false;
            *rv = NNG_ECONNRESET;
            return true;
        }
        size_t left = (size_t)n;
        unsigned i = 0;
        while (i < c->wn && left >= c->wiov[i].iov_len)
            left -= c->wiov[i++].iov_len;
        memmove(c->wiov, c->wiov + i, (c->wn - i) * sizeof c->wiov[0]);
        c->wn -= i;
        if (c->wn) {
            c->wiov[0].iov_base = (char *)c->wiov[0].iov_base + left;
            c->wiov[0].iov_len -= left;
        }
    }
    *rv = 0;
    return true;
}

static void cancel_read(nng_aio *aio, void *arg, int rv)
{
    gw_fdconn *c = arg;
    pthread_mutex_lock(&c->mu);
    bool mine = c->raio == aio;
    if (mine)
        c->raio = NULL;
    pthread_mutex_unlock(&c->mu);
    if (mine)
        nng_aio_finish(aio, rv);
}

static void cancel_write(nng_aio *aio, void *arg, int rv)
{
    gw_fdconn *c = arg;
    pthread_mutex_lock(&c->mu);
    bool mine = c->waio == aio;
    if (mine)
        c->waio = NULL;
    pthread_mutex_unlock(&c->mu);
    if (mine)
        nng_aio_finish(aio, rv);
}

void gw_fdconn_read(gw_fdconn *c, void *buf, size_t len, nng_aio *aio)
{
    if (!nng_aio_begin(aio))
        return;
    pthread_mutex_lock(&c->mu);
    int rv = NNG_ECLOSED;
    if (!c->closed && len > 0) {
        c->rbuf = buf;
        c->rlen = len;
        if (!try_read_locked(c, &rv)) {
            c->raio = aio;
            nng_aio_defer(aio, cancel_read, c);
            arm_locked(c);
            pthread_mutex_unlock(&c->mu);
            return;
        }
    }
    pthread_mutex_unlock(&c->mu);
    nng_aio_finish(aio, rv);
}

size_t gw_fdconn_nread(gw_fdconn *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->nread;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void gw_fdconn_write_all(gw_fdconn *c, const nng_iov *iov, unsigned n, nng_aio *aio)
{
    if (!nng_aio_begin(aio))
        return;
    pthread_mutex_lock(&c->mu);
    int rv = NNG_ECLOSED;
    if (!c->closed && n <= MAX_IOV) {
        for (unsigned i = 0; i < n; i++)
            c->wiov[i] = (struct iovec){.iov_base = iov[i].iov_buf, .iov_len = iov[i].iov_len};
        c->wn = n;
        if (!try_write_locked(c, &rv)) {
            c->waio = aio;
            nng_aio_defer(aio, cancel_write, c);
            arm_locked(c);
            pthread_mutex_unlock(&c->mu);
            return;
        }
    }
    pthread_mutex_unlock(&c->mu);
    nng_aio_finish(aio, rv);
}

/* An event on c: finishes what can be finished, re-arms the rest. Under l->mu. */
static void on_event(gw_fdconn *c, uint32_t ev)
{
    nng_aio *done[2] = {NULL, NULL};
    int rvs[2] = {0, 0};
    pthread_mutex_lock(&c->mu);
    if (c->closed) {
        pthread_mutex_unlock(&c->mu);
        return;
    }
    if (c->raio && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) &&
        try_read_locked(c, &rvs[0])) {
        done[0] = c->raio;
        c->raio = NULL;
    }
    if (c->waio && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && try_write_locked(c, &rvs[1])) {
        done[1] = c->waio;
        c->waio = NULL;
    }
    arm_locked(c);
    pthread_mutex_unlock(&c->mu);
    for (int i = 0; i < 2; i++)
        if (done[i])
            nng_aio_finish(done[i], rvs[i]);
}

static void *loop(void *arg)
{
    gw_fdloop *l = arg;
    struct epoll_event ev[64];
    for (;;) {
        int n = epoll_wait(l->ep, ev, 64, -1);
        pthread_mutex_lock(&l->mu);
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr) {
                on_event(ev[i].data.ptr, ev[i].events);
            } else {
                uint64_t v;
                ssize_t r = read(l->wake, &v, sizeof v);
                (void)r;
            }
        }
        gw_fdconn *dead = l->dead;
        l->dead = NULL;
        bool stop = l->stop;
        pthread_mutex_unlock(&l->mu);
        while (dead) {
            gw_fdconn *next = dead->dead_next;
            pthread_mutex_destroy(&dead->mu);
            free(dead);
            dead = next;
        }
        if (stop)
            return NULL;
    }
}

gw_fdloop *gw_fdloop_new(void)
{
    gw_fdloop *l = xcalloc(1, sizeof *l);
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    l->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->ep < 0 || l->wake < 0)
        abort(); /* out of descriptors at start-up */
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake, &e);
    pthread_mutex_init(&l->mu, NULL);
    pthread_create(&l->th, NULL, loop, l);
    return l;
}

void gw_fdloop_free(gw_fdloop *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_mutex_unlock(&l->mu);
    uint64_t one = 1;
    ssize_t w = write(l->wake, &one, sizeof one);
    (void)w;
    pthread_join(l->th, NULL);
    while (l->dead) { /* closed after the loop's last batch */
        gw_fdconn *next = l->dead->dead_next;
        pthread_mutex_destroy(&l->dead->mu);
        free(l->dead);
        l->dead = next;
    }
    close(l->ep);
    close(l->wake);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

gw_fdconn *gw_fdconn_new(gw_fdloop *l, int fd, void (*close_fn)(void *), void *close_arg)
{
    gw_fdconn *c = xcalloc(1, sizeof *c);
    c->l = l;
    c->fd = fd;
    c->close_fn = close_fn;
    c->close_arg = close_arg;
    pthread_mutex_init(&c->mu, NULL);
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    struct epoll_event e = {.events = 0, .data.ptr = c};
    epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &e);
    return c;
}

void gw_fdconn_close(gw_fdconn *c)
{
    gw_fdloop *l = c->l;
    pthread_mutex_lock(&l->mu);
    pthread_mutex_lock(&c->mu);
    c->closed = true;
    epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL);
    pthread_mutex_unlock(&c->mu);
    /* read before c is handed to the loop: once l->mu is released the loop may free it at any
     * moment (a use after free ThreadSanitizer found, 2026-12-07) */
    void (*close_fn)(void *) = c->close_fn;
    void *close_arg = c->close_arg;
    c->dead_next = l->dead;
    l->dead = c;
    pthread_mutex_unlock(&l->mu);
    if (close_fn)
        close_fn(close_arg);
    uint64_t one = 1; /* the loop frees it after its current batch */
    ssize_t w = write(l->wake, &one, sizeof one);
    (void)w;
}
