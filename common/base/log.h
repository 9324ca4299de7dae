/* log.h — structured JSON logging, one object per line on stderr:
 *   {"ts":"2026-11-27T09:31:27.123Z","level":"info","svc":"rooms","rid":"...","msg":"..."}
 * Thread-safe (one write(2) per line). Never pass secrets or tokens: nothing here redacts. */
#ifndef CONFETTI_BASE_LOG_H
#define CONFETTI_BASE_LOG_H

#include <stddef.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Sets the process-wide service name (borrowed: a string that outlives every log call) and
 * threshold. Meant for main; safe while other threads log (a process starting several services
 * calls it once per service). */
void log_setup(const char *service, log_level min_level);
/* Parses "debug|info|warn|error"; returns -1 if unknown. */
int log_level_parse(const char *s);

/* Logs msg (printf format) with an optional request id (NULL for none). */
void log_rid(log_level lvl, const char *rid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_rid(LOG_DEBUG, NULL, __VA_ARGS__)
#define log_info(...)  log_rid(LOG_INFO, NULL, __VA_ARGS__)
#define log_warn(...)  log_rid(LOG_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_rid(LOG_ERROR, NULL, __VA_ARGS__)

/* Appends s to buf as JSON string contents (escaped, without quotes); returns bytes written,
 * truncating safely at cap. Shared with the metrics exposition. */
size_t log_json_escape(char *buf, size_t cap, const char *s);

#endif
