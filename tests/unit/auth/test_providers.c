/* test_providers.c — issue 18 items 1 and 3, the parts without a network:
 * - provider files (services/auth/providers.c): a preset's defaults, the file's overrides, the
 *   name from the file name; plain OAuth 2.0 providers refused unless token and user-info
 *   endpoints are https (their identity is signed by nothing but TLS); unusable files refused
 *   with the file and the reason; two providers of one name refused;
 * - user-info answers (userinfo.c) in the shapes Yandex ID and VK ID document, and OpenID's;
 *   wrong types, missing ids and oversized fields refused;
 * - phone numbers (phone.c): what people type normalized to E.164, anything else refused. */
#include "th.h"
#include "th_proc.h"
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];

static char *write_file(const char *name, const char *text)
{
    char *path = malloc(256);
    snprintf(path, 256, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/confetti-providers-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *argv[] = {"rm", "-rf", dir, NULL};
    return th_run(argv, NULL, NULL, 0) == 0 ? 0 : -1;
}

/* loads path; CF_OK expected, or the error must contain `want_err` */
static cf_code load(const char *text, const char *fname, auth_provider_config *c, char *err,
                    size_t cap)
{
    char *path = write_file(fname, text);
    cf_code code = auth_provider_file_load(path, c, err, cap);
    free(path);
    return code;
}

static void test_presets_give_the_documented_endpoints(void **state)
{
    (void)state;
    auth_provider_config c;
    char err[512] = "";
    assert_code(CF_OK, load("provider:\n  preset: yandex\n  client_id: y\n  client_secret: s\n"
                            "  redirect_uris: [\"https://c.example/v1/auth/yandex/callback\"]\n",
                            "yandex.yaml", &c, err, sizeof err));
    assert_string_equal(c.name, "yandex"); /* the file's base name */
    assert_string_equal(c.display_name, "Yandex ID");
    assert_true(auth_provider_is_oauth2(&c));
    assert_string_equal(c.authorization_endpoint, "https://oauth.yandex.ru/authorize");
    assert_string_equal(c.token_endpoint, "https://oauth.yandex.ru/token");
    assert_string_equal(c.userinfo_endpoint, "https://login.yandex.ru/info?format=json");
    assert_string_equal(c.userinfo_format, "yandex");
    assert_string_equal(c.token_auth, "client_secret_post");
    assert_false(c.trusted_email);
    assert_true(c.enabled);
    auth_provider_file_free(&c);

    assert_code(CF_OK, load("provider:\n  preset: vk\n  name: vkid\n  client_id: \"51234\"\n"
                            "  redirect_uris: [\"https://c.example/v1/auth/vkid/callback\"]\n",
                            "x.yaml", &c, err, sizeof err));
    assert_string_equal(c.name, "vkid");
    assert_string_equal(c.display_name, "VK ID");
    assert_string_equal(c.authorization_endpoint, "https://id.vk.com/authorize");
    assert_string_equal(c.token_endpoint, "https://id.vk.com/oauth2/auth");
    assert_string_equal(c.userinfo_endpoint, "https://id.vk.com/oauth2/user_info");
    assert_string_equal(c.token_auth, "none"); /* VK ID: PKCE, no secret */
    auth_provider_file_free(&c);

    assert_code(CF_OK, load("provider:\n  preset: google\n  client_id: g\n"
                            "  redirect_uris: [\"https://c.example/cb\"]\n  display_name: G\n",
                            "google.yaml", &c, err, sizeof err));
    assert_false(auth_provider_is_oauth2(&c));
    assert_string_equal(c.issuer, "https://accounts.google.com");
    assert_true(c.discovery);
    assert_true(c.trusted_email);
    assert_string_equal(c.display_name, "G"); /* the file wins over the preset */
    auth_provider_file_free(&c);
}

static void test_oauth2_endpoints_must_be_https(void **state)
{
    (void)state;
    auth_provider_config c;
    char err[512] = "";
    const char *base = "provider:\n  preset: yandex\n  client_id: y\n"
                       "  redirect_uris: [\"https://c.example/cb\"]\n";
    char text[1024];
    snprintf(text, sizeof text, "%s  userinfo_endpoint: \"http://127.0.0.1:1/info\"\n", base);
    assert_code(CF_INVALID_ARGUMENT, load(text, "a.yaml", &c, err, sizeof err));
    assert_non_null(strstr(err, "userinfo_endpoint must be an https:// URL"));
    assert_non_null(strstr(err, "a.yaml"));
    snprintf(text, sizeof text, "%s  token_endpoint: \"http://127.0.0.1:1/token\"\n", base);
    assert_code(CF_INVALID_ARGUMENT, load(text, "b.yaml", &c, err, sizeof err));
    assert_non_null(strstr(err, "token_endpoint must be an https:// URL"));
    /* an OpenID provider keeps plain http (its id_token is signed), e.g. a loopback test IdP */
    assert_code(CF_OK, load("provider:\n  preset: oidc\n  issuer: \"http://127.0.0.1:1\"\n"
                            "  client_id: c\n  redirect_uris: [\"http://127.0.0.1/cb\"]\n",
                            "c.yaml", &c, err, sizeof err));
    auth_provider_file_free(&c);
}

static void test_unusable_files_are_refused_with_the_reason(void **state)
{
    (void)state;
    auth_provider_config c;
    char err[512] = "";
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"provider:\n  preset: yandex\n  redirect_uris: [\"https://c/cb\"]\n",
         "client_id is required"},
        {"provider:\n  preset: vk\n  client_id: v\n", "redirect_uris is required"},
        {"provider:\n  preset: oidc\n  client_id: c\n  redirect_uris: [\"https://c/cb\"]\n",
         "issuer is required"},
        {"provider:\n  preset: oidc\n  issuer: \"https://i\"\n  client_id: c\n  scopes: email\n"
         "  redirect_uris: [\"https://c/cb\"]\n",
         "scopes must include openid"},
        {"provider:\n  preset: yandex\n  name: \"Bad Name\"\n  client_id: y\n"
         "  redirect_uris: [\"https://c/cb\"]\n",
         "name must be"},
        {"provider:\n  preset: facebook\n", "preset"},
        {"provider:\n  preset: vk\n  userinfo_format: xml\n", "userinfo_format"},
        {"provider:\n  preset: vk\n  no_such_key: 1\n", "no_such_key"},
        {"provider:\n  preset: oauth2\n  discovery: true\n  client_id: c\n"
         "  redirect_uris: [\"https://c/cb\"]\n",
         "kind oauth2 has no discovery"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        err[0] = '\0';
        if (load(cases[i].text, "bad.yaml", &c, err, sizeof err) != CF_INVALID_ARGUMENT)
            fail_msg("case %zu loaded", i);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err, cases[i].want);
    }
}

static int64_t now0(const cf_clock *c)
{
    return 1800000000 + c->offset;
}

static void test_two_providers_of_one_name_are_refused(void **state)
{
    (void)state;
    char *a = write_file("one.yaml", "provider:\n  preset: yandex\n  name: same\n  client_id: y\n"
                                     "  redirect_uris: [\"https://c/cb\"]\n");
    char *b = write_file("two.yaml", "provider:\n  preset: vk\n  name: same\n  client_id: v\n"
                                     "  redirect_uris: [\"https://c/cb\"]\n");
    auth_config cfg = {.http_timeout = 1000};
    char *files[] = {a, b};
    cfg.provider_files = (cfg_strlist){files, 2};
    cf_clock clock = {now0, 0};
    auth_ctx ctx = {.cfg = &cfg, .clock = &clock};
    const char *const slots[] = {"google", "dev", "oidc"};
    char err[512] = "";
    assert_code(CF_INVALID_ARGUMENT, auth_providers_init(&ctx, &cfg, slots, err, sizeof err));
    assert_non_null(strstr(err, "\"same\" is configured twice"));
    auth_providers_free(&ctx);
    /* different names: both in force, in file order */
    char *c = write_file("three.yaml", "provider:\n  preset: vk\n  client_id: v\n"
                                       "  redirect_uris: [\"https://c/cb\"]\n");
    files[1] = c;
    assert_code(CF_OK, auth_providers_init(&ctx, &cfg, slots, err, sizeof err));
    assert_int_equal(ctx.nproviders, 2);
    assert_ptr_equal(auth_provider_find(&ctx, "same"), ctx.providers[0]);
    assert_ptr_equal(auth_provider_find(&ctx, "three"), ctx.providers[1]);
    assert_null(auth_provider_find(&ctx, "two"));
    auth_providers_free(&ctx);
    free(a);
    free(b);
    free(c);
}

static void test_userinfo_shapes(void **state)
{
    (void)state;
    oidc_identity id;
    const char *why = NULL;
    /* Yandex ID (https://yandex.ru/dev/id/doc/en/user-information) */
    assert_code(
        CF_OK, auth_userinfo_parse("yandex",
                                   "{\"id\":\"1130000012345678\",\"login\":\"ivan\","
                                   "\"display_name\":\"Ivan\",\"real_name\":\"Иван Петров\","
                                   "\"default_email\":\"ivan@yandex.ru\","
                                   "\"default_avatar_id\":\"131652443\",\"is_avatar_empty\":false}",
                                   &id, &why));
    assert_string_equal(id.sub, "1130000012345678");
    assert_string_equal(id.name, "Иван Петров");
    assert_string_equal(id.email, "ivan@yandex.ru");
    assert_true(id.email_verified);
    assert_string_equal(id.picture, "https://avatars.yandex.net/get-yapic/131652443/islands-200");
    /* no real_name: the display name; an empty avatar: none */
    assert_code(CF_OK, auth_userinfo_parse("yandex",
                                           "{\"id\":\"7\",\"display_name\":\"I\","
                                           "\"default_avatar_id\":\"0/0-0\","
                                           "\"is_avatar_empty\":true}",
                                           &id, &why));
    assert_string_equal(id.name, "I");
    assert_string_equal(id.picture, "");
    assert_false(id.email_verified);
    /* VK ID (user_info): the id may come as a number */
    assert_code(CF_OK, auth_userinfo_parse("vk",
                                           "{\"user\":{\"user_id\":1234567890,\"first_name\":"
                                           "\"Ivan\",\"last_name\":\"Ivanov\",\"email\":"
                                           "\"i@vk.example\",\"avatar\":\"https://a/x.jpg\","
                                           "\"sex\":2,\"verified\":false}}",
                                           &id, &why));
    assert_string_equal(id.sub, "1234567890");
    assert_string_equal(id.name, "Ivan Ivanov");
    assert_string_equal(id.picture, "https://a/x.jpg");
    /* OpenID Connect userinfo */
    assert_code(CF_OK, auth_userinfo_parse("openid",
                                           "{\"sub\":\"s1\",\"email\":\"a@b\",\"email_verified\":"
                                           "true,\"name\":\"A\"}",
                                           &id, &why));
    assert_string_equal(id.sub, "s1");
    assert_true(id.email_verified);

    static const struct {
        const char *fmt, *body;
    } bad[] = {
        {"yandex", "not json"},
        {"yandex", "[1]"},
        {"yandex", "{\"login\":\"no id\"}"},
        {"yandex", "{\"id\":{\"x\":1}}"},
        {"yandex", "{\"id\":\"1\",\"default_email\":[\"a\"]}"},
        {"vk", "{\"user_id\":\"1\"}"}, /* not under "user" */
        {"vk", "{\"user\":{\"first_name\":\"x\"}}"},
        {"vk", "{\"user\":\"1\"}"},
        {"openid", "{\"sub\":\"\"}"},
        {"openid", "{\"sub\":\"1\",\"sub\":\"2\"}"}, /* duplicate keys */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why = NULL;
        if (auth_userinfo_parse(bad[i].fmt, bad[i].body, &id, &why) != CF_UNAUTHENTICATED)
            fail_msg("bad answer %zu accepted", i);
        assert_non_null(why);
        assert_string_equal(id.sub, "");
    }
    /* a field longer than the identity holds */
    char big[2048];
    snprintf(big, sizeof big, "{\"id\":\"1\",\"real_name\":\"%0300d\"}", 0);
    assert_code(CF_UNAUTHENTICATED, auth_userinfo_parse("yandex", big, &id, &why));
}

static void test_phone_numbers_normalized(void **state)
{
    (void)state;
    char out[17];
    assert_true(auth_phone_normalize("+7 (916) 123-45-67", out));
    assert_string_equal(out, "+79161234567");
    assert_true(auth_phone_normalize("0044 20 7946.0958", out));
    assert_string_equal(out, "+442079460958");
    assert_true(auth_phone_normalize("+123456789012345", out)); /* 15 digits: the most */
    static const char *const bad[] = {"79161234567",
                                      "+7916abc4567",
                                      "+1234567",
                                      "+1234567890123456",
                                      "+0123456789",
                                      "",
                                      "+",
                                      "+7 916 123 45 67 ext 1",
                                      "8 (916) 123-45-67"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (auth_phone_normalize(bad[i], out))
            fail_msg("\"%s\" accepted as %s", bad[i], out);
}

/* deploy/config/providers/{google,yandex,vk}.yaml are working examples (their secret files
 * replaced by one of ours). */
static void test_the_deploy_examples_load(void **state)
{
    (void)state;
    char *secret = write_file("secret", "s3cret\n");
    static const char *const names[] = {"google", "yandex", "vk"};
    for (size_t i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/deploy/config/providers/%s.yaml", SOURCE_DIR, names[i]);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char text[8192] = "", line[1024];
        while (fgets(line, sizeof line, f)) {
            char *at = strstr(line, "/run/secrets/");
            if (at && line[0] != '#')
                snprintf(at, sizeof line - (size_t)(at - line), "%s\n", secret);
            strncat(text, line, sizeof text - strlen(text) - 1);
        }
        fclose(f);
        char fname[64];
        snprintf(fname, sizeof fname, "%s.yaml", names[i]);
        auth_provider_config c;
        char err[512] = "";
        if (load(text, fname, &c, err, sizeof err) != CF_OK)
            fail_msg("%s: %s", path, err);
        assert_string_equal(c.name, names[i]);
        assert_string_equal(c.preset, names[i]);
        auth_provider_file_free(&c);
    }
    free(secret);
}

/* The SMS senders: the file appends one JSON line per message; the webhook must be https or a
 * loopback sidecar's http. */
static void test_sms_senders(void **state)
{
    (void)state;
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/sms.jsonl", dir);
    auth_phone_config pc = {
        .sender = "file", .file_path = path, .webhook_url = "", .webhook_timeout = 1000};
    sms_sender *s = NULL;
    assert_code(CF_OK, sms_sender_new(&pc, &s, err, sizeof err));
    assert_code(CF_OK, sms_send(s, "+79161234567", "code: 123456", err, sizeof err));
    assert_code(CF_OK, sms_send(s, "+79160000000", "code: \"654321\"", err, sizeof err));
    sms_sender_free(s);
    FILE *f = fopen(path, "r");
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "\"to\":\"+79161234567\""));
    assert_non_null(strstr(line, "\"text\":\"code: 123456\""));
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, "\\\"654321\\\"")); /* JSON-escaped */
    assert_null(fgets(line, sizeof line, f));
    fclose(f);

    pc.file_path = "";
    assert_code(CF_INVALID_ARGUMENT, sms_sender_new(&pc, &s, err, sizeof err));
    pc.sender = "webhook";
    static const char *const refused[] = {"", "http://sms.example/send", "ftp://127.0.0.1/x",
                                          "http://127.0.0.1.evil.example/x", "https://"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        pc.webhook_url = (char *)refused[i];
        if (sms_sender_new(&pc, &s, err, sizeof err) != CF_INVALID_ARGUMENT)
            fail_msg("webhook %s accepted", refused[i]);
    }
    static const char *const accepted[] = {"https://sms.example/send", "http://127.0.0.1:9/x",
                                           "http://localhost/x", "http://[::1]:80/x"};
    for (size_t i = 0; i < sizeof accepted / sizeof *accepted; i++) {
        pc.webhook_url = (char *)accepted[i];
        assert_code(CF_OK, sms_sender_new(&pc, &s, err, sizeof err));
        sms_sender_free(s);
    }
    /* a webhook nobody answers: UNAVAILABLE, the error without the text */
    pc.webhook_url = "http://127.0.0.1:1/sms";
    assert_code(CF_OK, sms_sender_new(&pc, &s, err, sizeof err));
    assert_code(CF_UNAVAILABLE, sms_send(s, "+79161234567", "code: 777111", err, sizeof err));
    assert_null(strstr(err, "777111"));
    sms_sender_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets_give_the_documented_endpoints),
        cmocka_unit_test(test_oauth2_endpoints_must_be_https),
        cmocka_unit_test(test_unusable_files_are_refused_with_the_reason),
        cmocka_unit_test(test_two_providers_of_one_name_are_refused),
        cmocka_unit_test(test_userinfo_shapes),
        cmocka_unit_test(test_phone_numbers_normalized),
        cmocka_unit_test(test_the_deploy_examples_load),
        cmocka_unit_test(test_sms_senders),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
