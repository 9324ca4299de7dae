/* routes_notify.c — the routes of notification preferences (issue 18 item 6; docs/api.md,
 * "Notification preferences"): a table of its own, joined to routes.c's by gw_all_routes
 * (routes_all.c). Both act on the caller's own settings, so both need a signed-in user. */
#include "gateway.h"

const gw_route gw_routes_notify[] = {
    {"GET", "/v1/users/me/notifications", "auth.v1.Auth/GetNotificationSettings", NULL, 5000,
     GW_AUTH},
    {"PATCH", "/v1/users/me/notifications", "auth.v1.Auth/UpdateNotificationSettings", "*", 10000,
     GW_AUTH},
};
const size_t gw_nroutes_notify = sizeof gw_routes_notify / sizeof *gw_routes_notify;
