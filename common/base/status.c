/* status.c — names and HTTP mapping of the gRPC status codes, expanded from CF_STATUS_MAP. */
#include "status.h"

#include <string.h>

static const struct {
    const char *name;
    int http;
} cf_codes[CF_CODE_COUNT] = {
#define CF_X(e, n, s, h) [n] = {s, h},
    CF_STATUS_MAP(CF_X)
#undef CF_X
};

cf_code cf_code_from_int(int n)
{
    return (n >= 0 && n < CF_CODE_COUNT) ? (cf_code)n : CF_UNKNOWN;
}

const char *cf_code_name(int code)
{
    return cf_codes[cf_code_from_int(code)].name;
}

int cf_code_http(int code)
{
    return cf_codes[cf_code_from_int(code)].http;
}

bool cf_code_from_name(const char *name, cf_code *out)
{
    for (int i = 0; i < CF_CODE_COUNT; i++) {
        if (strcmp(cf_codes[i].name, name) == 0) {
            *out = (cf_code)i;
            return true;
        }
    }
    return false;
}
