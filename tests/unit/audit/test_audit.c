/* test_audit.c — common/audit's pure half (docs/audit.md): the merge order, the filter-bound
 * page tokens the gateway makes and the services read; the migration copies; which refusal a
 * failed gateway fan-out answers with. */
#include "th.h"
#include "audit/audit.h"
#include "fanout.h"
#include "page/page.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static Audit__V1__AuditEntry entry(const char *id, int64_t s, Google__Protobuf__Timestamp *t)
{
    google__protobuf__timestamp__init(t);
    t->seconds = s;
    Audit__V1__AuditEntry e = AUDIT__V1__AUDIT_ENTRY__INIT;
    e.entry_id = (char *)id;
    e.occurred_at = t;
    return e;
}

/* Newest first; equal times by id, descending (the services' ORDER BY, C collation). */
static void test_order(void **state)
{
    (void)state;
    Google__Protobuf__Timestamp t1, t2, t3;
    Audit__V1__AuditEntry a = entry("b", 10, &t1), b = entry("a", 10, &t2), c = entry("z", 9, &t3);
    assert_true(audit_entry_cmp(&a, &b) < 0);
    assert_true(audit_entry_cmp(&b, &a) > 0);
    assert_true(audit_entry_cmp(&b, &c) < 0);
    assert_int_equal(audit_entry_cmp(&a, &a), 0);
    assert_true(audit_entry_us(&a) == 10000000);
}

/* A token made for one set of filters is refused with another. */
static void test_tokens_bound_to_filters(void **state)
{
    (void)state;
    arena a;
    arena_init(&a, 1024);
    Audit__V1__ListAuditRequest r = AUDIT__V1__LIST_AUDIT_REQUEST__INIT;
    r.room_id = "room-1";
    char *tok = audit_page_token(&a, &r, 1234, "cid");
    int64_t us;
    char *id;
    assert_int_equal(page_keyset_decode(&a, tok, audit_filters(&a, &r), &us, &id), CF_OK);
    assert_true(us == 1234);
    assert_string_equal(id, "cid");
    r.action = "draw.performed";
    assert_int_equal(page_keyset_decode(&a, tok, audit_filters(&a, &r), &us, &id),
                     CF_INVALID_ARGUMENT);
    r.action = "";
    Google__Protobuf__Timestamp since = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    r.since = &since;
    assert_int_equal(page_keyset_decode(&a, tok, audit_filters(&a, &r), &us, &id),
                     CF_INVALID_ARGUMENT);
    arena_release(&a);
}

/* The caller's own fault speaks first (a stranger learns nothing else), then the first. */
static void test_fanout_pick(void **state)
{
    (void)state;
    cf_code ok[] = {CF_OK, CF_OK, CF_OK};
    assert_int_equal(gw_fanout_pick(ok, 3), 3);
    cf_code down[] = {CF_OK, CF_UNAVAILABLE, CF_NOT_FOUND};
    assert_int_equal(gw_fanout_pick(down, 3), 2);
    cf_code two[] = {CF_DEADLINE_EXCEEDED, CF_UNAVAILABLE, CF_OK};
    assert_int_equal(gw_fanout_pick(two, 3), 0);
    cf_code denied[] = {CF_OK, CF_PERMISSION_DENIED, CF_NOT_FOUND};
    assert_int_equal(gw_fanout_pick(denied, 3), 1);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strdup(buf);
}

/* Each service's NNN_audit.sql starts with a copy of common/audit/audit.sql (a migration cannot
 * include another file); rooms' adds role_since after it. */
static void test_audit_sql_copies(void **state)
{
    (void)state;
    char *want = slurp(AUDIT_SQL);
    const char *copies = AUDIT_COPIES;
    char path[512];
    int n = 0;
    for (const char *p = copies; *p; n++) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        snprintf(path, sizeof path, "%.*s", (int)len, p);
        char *got = slurp(path);
        if (strncmp(want, got, strlen(want)) != 0)
            fail_msg("%s does not start with %s", path, AUDIT_SQL);
        free(got);
        p += len + (e ? 1 : 0);
    }
    assert_int_equal(n, 4); /* auth, catalog, rooms, draw */
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_tokens_bound_to_filters),
        cmocka_unit_test(test_fanout_pick),
        cmocka_unit_test(test_audit_sql_copies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
