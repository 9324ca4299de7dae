/* log.c — JSON-lines logger. The service name and level are the only process-wide state. They
 * are set in main before any thread exists, but a process may start several services (the
 * in-process tests do: each svc_start calls log_setup while the threads of the services started
 * before it are logging), so both are atomics (ThreadSanitizer found the plain ones). */
#include "log.h"
#include "clock.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static _Atomic(const char *) log_service = "confetti";
static atomic_int log_min = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

int64_t cf_clock_real_now(const cf_clock *self)
{
    return cf_wall_ms() / 1000 + (self ? self->offset : 0);
}

void log_setup(const char *service, log_level min_level)
{
    atomic_store_explicit(&log_service, service, memory_order_relaxed);
    atomic_store_explicit(&log_min, (int)min_level, memory_order_relaxed);
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

size_t log_json_escape(char *buf, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(buf + n, cap - n, "\\u%04x", c);
        } else {
            buf[n++] = (char)c;
        }
    }
    buf[n] = '\0';
    return n;
}

void log_rid(log_level lvl, const char *rid, const char *fmt, ...)
{
    if ((int)lvl < atomic_load_explicit(&log_min, memory_order_relaxed))
        return;
    char msg[2048], line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    int64_t ms = cf_wall_ms();
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(line, sizeof line, "{\"ts\":\"%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03dZ\",\"level\":\"%s\",\"svc\":\"",
                          (int)(ms % 1000), level_names[lvl]);
    n += log_json_escape(line + n, sizeof line - n,
                         atomic_load_explicit(&log_service, memory_order_relaxed));
    if (rid) {
        n += (size_t)snprintf(line + n, sizeof line - n, "\",\"rid\":\"");
        n += log_json_escape(line + n, sizeof line - n, rid);
    }
    n += (size_t)snprintf(line + n, sizeof line - n, "\",\"msg\":\"");
    n += log_json_escape(line + n, sizeof line - n - 3, msg);
    n += (size_t)snprintf(line + n, sizeof line - n, "\"}\n");
    if (n >= sizeof line)
        n = sizeof line - 1;
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}
