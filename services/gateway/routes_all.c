/* routes_all.c — every route table of the gateway joined into one, built once: routes.c's (SPEC
 * §6) and the feature tables kept in files of their own (routes_<feature>.c), so features added
 * side by side do not edit one array. A new table is one line in `tables`. */
#include "gateway.h"
#include "base/xmalloc.h"

#include <pthread.h>
#include <string.h>

static gw_route *all;
static size_t nall;

static void join(void)
{
    const struct {
        const gw_route *r;
        const size_t *n;
    } tables[] = {
        {gw_routes, &gw_nroutes},
        {gw_routes_signin, &gw_nroutes_signin},
        {gw_routes_notify, &gw_nroutes_notify},
    };
    size_t n = 0;
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++)
        n += *tables[i].n;
    all = xcalloc(n, sizeof *all); /* lives as long as the process */
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        memcpy(all + nall, tables[i].r, *tables[i].n * sizeof *all);
        nall += *tables[i].n;
    }
}

const gw_route *gw_all_routes(size_t *n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, join);
    *n = nall;
    return all;
}
