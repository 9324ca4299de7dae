/* call.c — the accessors handlers use on their call context. */
#include "call.h"
#include "client.h"
#include "base/clock.h"
#include "base/log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

const char *rpc_method(const rpc_call *call)
{
    return call->method;
}

const char *rpc_request_id(const rpc_call *call)
{
    return call->request_id;
}

const char *rpc_md_get(const rpc_call *call, const char *key)
{
    for (size_t i = 0; i < call->req->n_metadata; i++)
        if (strcasecmp(call->req->metadata[i]->key, key) == 0)
            return call->req->metadata[i]->value;
    return NULL;
}

const authn_identity *rpc_caller(const rpc_call *call)
{
    return call->has_caller ? &call->caller : NULL;
}

const char *rpc_caller_service(const rpc_call *call)
{
    return call->service;
}

int64_t rpc_remaining_ms(const rpc_call *call)
{
    if (!call->deadline_ns)
        return INT64_MAX;
    return (call->deadline_ns - cf_mono_ns()) / 1000000;
}

bool rpc_expired(const rpc_call *call)
{
    return call->deadline_ns && cf_mono_ns() >= call->deadline_ns;
}

void *rpc_worker(const rpc_call *call)
{
    return call->worker;
}

void *rpc_service_ctx(const rpc_call *call)
{
    return call->service_ctx;
}

arena *rpc_arena(rpc_call *call)
{
    return &call->arena;
}

void *rpc_alloc(rpc_call *call, size_t n)
{
    return arena_zalloc(&call->arena, n);
}

char *rpc_strdup(rpc_call *call, const char *s)
{
    return arena_strdup(&call->arena, s);
}

char *rpc_printf(rpc_call *call, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return arena_strdup(&call->arena, buf);
}

static bool is_refusal(cf_code code)
{
    return code == CF_FAILED_PRECONDITION || code == CF_INVALID_ARGUMENT;
}

/* Appends {field, description} to the call's details. */
static void add_detail(rpc_call *call, const char *field, const char *description)
{
    if (call->ndetails == call->details_cap) {
        size_t cap = call->details_cap ? call->details_cap * 2 : 4;
        Rpc__V1__FieldViolation **d = arena_alloc(&call->arena, cap * sizeof *d);
        if (call->ndetails)
            memcpy(d, call->details, call->ndetails * sizeof *d);
        call->details = d;
        call->details_cap = cap;
    }
    Rpc__V1__FieldViolation *v = arena_alloc(&call->arena, sizeof *v);
    rpc__v1__field_violation__init(v);
    v->field = arena_strdup(&call->arena, field);
    v->description = arena_strdup(&call->arena, description);
    call->details[call->ndetails++] = v;
}

cf_code rpc_error(rpc_call *call, cf_code code, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (code == CF_INTERNAL) {
        log_rid(LOG_ERROR, call->request_id, "%s: internal error: %s", call->method, buf);
        call->message = "internal error";
    } else {
        call->message = arena_strdup(&call->arena, buf);
    }
    if (is_refusal(code) && !call->ndetails) /* a bare refusal: rpc_refuse() names the field */
        log_rid(LOG_WARN, call->request_id, "%s: %s without details: %s", call->method,
                cf_code_name(code), buf);
    return code;
}

cf_code rpc_retry_after(rpc_call *call, cf_code code, int64_t seconds)
{
    if (seconds < 1)
        seconds = 1;
    call->retry_after_s = seconds > UINT32_MAX ? UINT32_MAX : (uint32_t)seconds;
    return code;
}

cf_code rpc_refuse(rpc_call *call, cf_code code, const char *field, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    add_detail(call, field, buf);
    call->message = arena_strdup(&call->arena, buf);
    return code;
}

cf_code rpc_relay(rpc_call *call, const rpc_ccall *cc, const char *prefix, const char *field)
{
    for (size_t i = 0; i < cc->ndetails; i++)
        add_detail(call, cc->details[i]->field ? cc->details[i]->field : "",
                   cc->details[i]->description ? cc->details[i]->description : "");
    if (!cc->ndetails)
        add_detail(call, field, cc->message);
    call->message = prefix ? arena_printf(&call->arena, "%s: %s", prefix, cc->message)
                           : arena_strdup(&call->arena, cc->message);
    return cc->code;
}

cf_code rpc_violation(rpc_call *call, const char *field, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    add_detail(call, field, buf);
    if (!call->message)
        call->message = arena_printf(&call->arena, "invalid %s: %s", field, buf);
    return CF_INVALID_ARGUMENT;
}

cf_code rpc_require_caller(rpc_call *call)
{
    if (call->has_caller)
        return CF_OK;
    return rpc_error(call, CF_UNAUTHENTICATED, "authentication required");
}

void *rpc_call_response(rpc_call *call)
{
    return call->response;
}

void rpc_call_set_code(rpc_call *call, cf_code code)
{
    call->code = code;
    call->responded = true;
}
