/* th.c — small helpers shared by all tests. */
#include "th.h"

#include <stdlib.h>

const char *th_env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}
