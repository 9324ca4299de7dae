/* routes_signin.c — the routes of phone number sign-in (issue 18 item 3; docs/api.md): a table
 * of its own, joined to routes.c's by gw_all_routes (routes_all.c). Start may wait on the SMS
 * webhook (phone.webhook_timeout, 5 s by default), hence its longer deadline. */
#include "gateway.h"

const gw_route gw_routes_signin[] = {
    {"POST", "/v1/auth/phone/start", "auth.v1.Auth/StartPhoneLogin", "*", 15000, GW_CLIENT},
    {"POST", "/v1/auth/phone/verify", "auth.v1.Auth/FinishPhoneLogin", "*", 10000, GW_CLIENT},
};
const size_t gw_nroutes_signin = sizeof gw_routes_signin / sizeof *gw_routes_signin;
