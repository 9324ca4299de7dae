/* sqlstate.c — the one translation of PostgreSQL SQLSTATEs into Confetti status codes. Error
 * classes are read from the code, never from message text (STYLE §2). */
#include "db/db.h"

#include <string.h>

/* Exact codes first, then whole classes (the first two characters). */
static const struct {
    const char *state;
    cf_code code;
} exact[] = {
    {"23505", CF_ALREADY_EXISTS},      /* unique_violation */
    {"23503", CF_FAILED_PRECONDITION}, /* foreign_key_violation */
    {"23514", CF_INVALID_ARGUMENT},    /* check_violation */
    {"23502", CF_INVALID_ARGUMENT},    /* not_null_violation */
    {"40001", CF_ABORTED},             /* serialization_failure */
    {"40P01", CF_ABORTED},             /* deadlock_detected */
    {"57014", CF_DEADLINE_EXCEEDED},   /* query_canceled: statement_timeout */
    {"57P01", CF_UNAVAILABLE},         /* admin_shutdown */
    {"57P02", CF_UNAVAILABLE},         /* crash_shutdown */
    {"57P03", CF_UNAVAILABLE},         /* cannot_connect_now: starting up */
    {"53300", CF_UNAVAILABLE},         /* too_many_connections */
};

static const struct {
    const char *cls;
    cf_code code;
} classes[] = {
    {"22", CF_INVALID_ARGUMENT}, /* data exception: bad text representation, out of range… */
    {"08", CF_UNAVAILABLE},      /* connection exception */
};

cf_code db_code_from_sqlstate(const char *sqlstate)
{
    if (!sqlstate || strnlen(sqlstate, 6) != 5)
        return CF_INTERNAL;
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (memcmp(sqlstate, exact[i].state, 5) == 0)
            return exact[i].code;
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
        if (memcmp(sqlstate, classes[i].cls, 2) == 0)
            return classes[i].code;
    return CF_INTERNAL;
}
