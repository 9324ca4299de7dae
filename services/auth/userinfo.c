/* userinfo.c — the identity in a plain OAuth 2.0 provider's user-info answer (issue 18 item 1),
 * in the shapes the providers document:
 *   openid  {"sub","email","email_verified","name","picture"} (OpenID Connect Core §5.3)
 *   yandex  https://login.yandex.ru/info: {"id","login","default_email","real_name",
 *           "display_name","default_avatar_id","is_avatar_empty"}
 *   vk      https://id.vk.com/oauth2/user_info: {"user":{"user_id","first_name","last_name",
 *           "email","avatar"}}
 * Yandex and VK ID hand out only their accounts' confirmed addresses, so their e-mail counts as
 * verified; whether it may link accounts is still the provider's trusted_email (false in both
 * presets). */
#include "auth.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Copies a string member (or an integer, as decimal: ids); false if present with another type
 * or too long. Absent or null leaves "". */
static bool member(json_t *o, const char *key, char *dst, size_t cap)
{
    json_t *v = json_object_get(o, key);
    dst[0] = '\0';
    if (!v || json_is_null(v))
        return true;
    if (json_is_integer(v))
        return (size_t)snprintf(dst, cap, "%lld", (long long)json_integer_value(v)) < cap;
    if (!json_is_string(v) || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v))
        return false;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return true;
}

static bool parse_openid(json_t *j, oidc_identity *out)
{
    json_t *ev = json_object_get(j, "email_verified");
    out->email_verified =
        json_is_true(ev) || (json_is_string(ev) && strcmp(json_string_value(ev), "true") == 0);
    return member(j, "sub", out->sub, sizeof out->sub) &&
           member(j, "email", out->email, sizeof out->email) &&
           member(j, "name", out->name, sizeof out->name) &&
           member(j, "picture", out->picture, sizeof out->picture);
}

static bool parse_yandex(json_t *j, oidc_identity *out)
{
    char avatar[128], display[256];
    if (!member(j, "id", out->sub, sizeof out->sub) ||
        !member(j, "default_email", out->email, sizeof out->email) ||
        !member(j, "real_name", out->name, sizeof out->name) ||
        !member(j, "display_name", display, sizeof display) ||
        !member(j, "default_avatar_id", avatar, sizeof avatar))
        return false;
    if (!*out->name)
        memcpy(out->name, display, sizeof display);
    /* https://yandex.ru/dev/id/doc/en/user-information: avatars by id and size */
    if (*avatar && !json_is_true(json_object_get(j, "is_avatar_empty")) &&
        strspn(avatar, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/") ==
            strlen(avatar))
        snprintf(out->picture, sizeof out->picture,
                 "https://avatars.yandex.net/get-yapic/%s/islands-200", avatar);
    out->email_verified = *out->email != '\0';
    return true;
}

static bool parse_vk(json_t *j, oidc_identity *out)
{
    json_t *u = json_object_get(j, "user");
    char first[128], last[128];
    if (!json_is_object(u) || !member(u, "user_id", out->sub, sizeof out->sub) ||
        !member(u, "email", out->email, sizeof out->email) ||
        !member(u, "first_name", first, sizeof first) ||
        !member(u, "last_name", last, sizeof last) ||
        !member(u, "avatar", out->picture, sizeof out->picture))
        return false;
    snprintf(out->name, sizeof out->name, "%s%s%s", first, *first && *last ? " " : "", last);
    out->email_verified = *out->email != '\0';
    return true;
}

cf_code auth_userinfo_parse(const char *format, const char *body, oidc_identity *out,
                            const char **reason)
{
    memset(out, 0, sizeof *out);
    json_t *j = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
    bool ok = false;
    if (!json_is_object(j)) {
        *reason = "user-info answer is not a JSON object";
    } else {
        if (strcmp(format, "yandex") == 0)
            ok = parse_yandex(j, out);
        else if (strcmp(format, "vk") == 0)
            ok = parse_vk(j, out);
        else
            ok = parse_openid(j, out);
        if (!ok) {
            *reason = "user-info answer malformed";
        } else if (!*out->sub) {
            ok = false;
            *reason = "user-info answer without the user's id";
        }
    }
    json_decref(j);
    if (!ok) {
        memset(out, 0, sizeof *out);
        return CF_UNAUTHENTICATED;
    }
    return CF_OK;
}
