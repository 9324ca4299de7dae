/* scope_test.c — rpc/scope.h: how an app token's `scope` claim is matched against a service's
 * table (docs/auth.md "App scopes"), and the table checks that stop a service with a typo. */
#include "th.h"

#include <string.h>

#include "rpc/scope.h"
#include "health/v1/health.pb-c.h"
#include "rooms/v1/rooms.pb-c.h"

static const rpc_scope_rule rules[] = {
    {"GetRoom", "rooms:read"},
    {"CheckPermission", "rooms:read prizes:read"},
    {"ListRooms", RPC_SCOPE_OPEN},
};
static const rpc_scope_table table = {&rooms__v1__rooms__descriptor, rules, 3};

static void test_a_scope_grants_exactly_its_methods(void **state)
{
    (void)state;
    assert_true(rpc_scope_allows(&table, "GetRoom", "rooms:read"));
    assert_true(rpc_scope_allows(&table, "GetRoom", "apps:read rooms:read"));
    assert_true(rpc_scope_allows(&table, "CheckPermission", "prizes:read"));
    assert_false(rpc_scope_allows(&table, "GetRoom", "prizes:read"));
    assert_false(rpc_scope_allows(&table, "GetRoom", ""));
    assert_false(rpc_scope_allows(&table, "GetRoom", NULL));
    /* whole words only: neither a prefix nor a longer scope */
    assert_false(rpc_scope_allows(&table, "GetRoom", "rooms:rea"));
    assert_false(rpc_scope_allows(&table, "GetRoom", "rooms:reader"));
    assert_false(rpc_scope_allows(&table, "GetRoom", "xrooms:read"));
    /* unlisted methods: default deny, whatever the token holds */
    assert_false(rpc_scope_allows(&table, "CreateRoom", "rooms:read rooms:write"));
    assert_false(rpc_scope_allows(NULL, "GetRoom", "rooms:read"));
    /* open methods: any token */
    assert_true(rpc_scope_allows(&table, "ListRooms", ""));
    assert_string_equal(rpc_scope_needed(&table, "CheckPermission"), "rooms:read prizes:read");
    assert_null(rpc_scope_needed(&table, "CreateRoom"));
}

static void test_unsound_tables_are_refused(void **state)
{
    (void)state;
    assert_null(rpc_scope_table_check(&table));
    static const rpc_scope_rule typo[] = {{"GetRooom", "rooms:read"}};
    static const rpc_scope_rule twice[] = {{"GetRoom", "rooms:read"}, {"GetRoom", "apps:read"}};
    static const rpc_scope_rule empty[] = {{"GetRoom", ""}};
    static const rpc_scope_rule bad[] = {{"GetRoom", "Rooms:Read"}};
    const rpc_scope_table t1 = {&rooms__v1__rooms__descriptor, typo, 1};
    const rpc_scope_table t2 = {&rooms__v1__rooms__descriptor, twice, 2};
    const rpc_scope_table t3 = {&rooms__v1__rooms__descriptor, empty, 1};
    const rpc_scope_table t4 = {&rooms__v1__rooms__descriptor, bad, 1};
    const rpc_scope_table t5 = {&health__v1__health__descriptor, rules, 1}; /* wrong service */
    assert_non_null(rpc_scope_table_check(&t1));
    assert_non_null(rpc_scope_table_check(&t2));
    assert_non_null(rpc_scope_table_check(&t3));
    assert_non_null(rpc_scope_table_check(&t4));
    assert_non_null(rpc_scope_table_check(&t5));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_scope_grants_exactly_its_methods),
        cmocka_unit_test(test_unsound_tables_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
