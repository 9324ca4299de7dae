/* routes_password.h — the routes of e-mail and password sign-in (docs/api.md; auth's
 * rpc_password.c), rows of gw_routes (routes.c). All anonymous; the gateway fills `client`
 * (address, user agent) for throttling and the session. Verify, login and reset/finish answer
 * the token pair of every login (TokenResponse). */
#ifndef CONFETTI_GATEWAY_ROUTES_PASSWORD_H
#define CONFETTI_GATEWAY_ROUTES_PASSWORD_H

/* The SMTP exchange of sign-up and reset/start may take mail.timeout (10 s by default). */
#define GW_PASSWORD_ROUTES                                                                          \
    {"POST", "/v1/auth/password/signup", "auth.v1.Auth/PasswordSignUp", "*", 15000, GW_CLIENT},     \
        {"POST", "/v1/auth/password/verify", "auth.v1.Auth/PasswordVerify", "*", 10000, GW_CLIENT}, \
        {"POST", "/v1/auth/password/login", "auth.v1.Auth/PasswordLogin", "*", 10000, GW_CLIENT},   \
        {"POST",   "/v1/auth/password/reset/start", "auth.v1.Auth/PasswordResetStart", "*", 15000,  \
         GW_CLIENT},                                                                                \
    {                                                                                               \
        "POST", "/v1/auth/password/reset/finish", "auth.v1.Auth/PasswordResetFinish", "*", 10000,   \
            GW_CLIENT                                                                               \
    }

#endif
