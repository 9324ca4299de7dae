/* test_policy.c — services/rooms/policy.c: the role table and the lifecycle, each checked as
 * one table written from SPEC §3 independently of the code's own tables. */
#include "th.h"
#include "policy.h"

#include <stdio.h>
#include <string.h>

#define A(x) ROOMS__V1__ACTION__##x
#define R(x) ROOMS__V1__ROLE__##x
#define S(x) ROOMS__V1__ROOM_STATUS__##x

/* SPEC §3, column order ADMIN ORGANIZER MODERATOR PARTICIPANT VIEWER none; for a public ACTIVE
 * room. 'y' allow, '-' deny. */
static const struct {
    Rooms__V1__Action action;
    const char *cols;
} spec[] = {
    {A(VIEW), "yyyyyy"},          {A(EDIT), "yy----"}, {A(MANAGE_MEMBERS), "yyy---"},
    {A(MANAGE_PRIZES), "yyy---"}, {A(JOIN), "-----y"}, {A(LEAVE), "yyyyy-"},
};
static const Rooms__V1__Role cols[] = {R(ADMIN),       R(ORGANIZER), R(MODERATOR),
                                       R(PARTICIPANT), R(VIEWER),    R(ROLE_UNSPECIFIED)};

static void test_role_table_public_private_admin(void **state)
{
    (void)state;
    for (size_t a = 0; a < sizeof spec / sizeof *spec; a++)
        for (size_t c = 0; c < 6; c++)
            for (int pub = 0; pub < 2; pub++)
                for (int admin = 0; admin < 2; admin++) {
                    policy_subject who = {cols[c], admin};
                    policy_verdict want;
                    if (admin)
                        want = POLICY_ALLOW;
                    else if (!pub && cols[c] == R(ROLE_UNSPECIFIED))
                        want = POLICY_HIDDEN; /* never a hint the room exists */
                    else
                        want = spec[a].cols[c] == 'y' ? POLICY_ALLOW : POLICY_DENY;
                    policy_verdict got = policy_check(spec[a].action, who, pub, S(ACTIVE));
                    if (got != want)
                        fail_msg("action %d role %d public %d admin %d: want %d got %d",
                                 spec[a].action, cols[c], pub, admin, want, got);
                }
}

static void test_join_only_draft_or_active(void **state)
{
    (void)state;
    policy_subject none = {R(ROLE_UNSPECIFIED), false};
    assert_int_equal(policy_check(A(JOIN), none, true, S(DRAFT)), POLICY_ALLOW);
    assert_int_equal(policy_check(A(JOIN), none, true, S(ACTIVE)), POLICY_ALLOW);
    assert_int_equal(policy_check(A(JOIN), none, true, S(COMPLETED)), POLICY_CLOSED);
    assert_int_equal(policy_check(A(JOIN), none, true, S(CANCELLED)), POLICY_CLOSED);
    assert_int_equal(policy_check(A(JOIN), none, false, S(ACTIVE)), POLICY_HIDDEN);
    /* bad enums are refused, never read past the table */
    assert_int_equal(policy_check((Rooms__V1__Action)99, none, true, S(ACTIVE)), POLICY_DENY);
    assert_int_equal(policy_check(A(ACTION_UNSPECIFIED), none, true, S(ACTIVE)), POLICY_DENY);
    policy_subject bad = {(Rooms__V1__Role)42, false};
    assert_int_equal(policy_check(A(VIEW), bad, true, S(ACTIVE)), POLICY_DENY);
}

static void test_member_changes(void **state)
{
    (void)state;
    policy_subject mod = {R(MODERATOR), false}, org = {R(ORGANIZER), false},
                   part = {R(PARTICIPANT), false}, admin = {R(ROLE_UNSPECIFIED), true};
    assert_int_equal(policy_member_change(mod, R(ROLE_UNSPECIFIED), R(PARTICIPANT)), POLICY_ALLOW);
    assert_int_equal(policy_member_change(mod, R(VIEWER), R(MODERATOR)), POLICY_ALLOW);
    assert_int_equal(policy_member_change(mod, R(PARTICIPANT), R(ORGANIZER)), POLICY_DENY);
    assert_int_equal(policy_member_change(mod, R(ORGANIZER), R(PARTICIPANT)), POLICY_DENY);
    assert_int_equal(policy_member_change(mod, R(ADMIN), R(ROLE_UNSPECIFIED)), POLICY_DENY);
    assert_int_equal(policy_member_change(mod, R(ROLE_UNSPECIFIED), R(ADMIN)), POLICY_DENY);
    assert_int_equal(policy_member_change(org, R(PARTICIPANT), R(ORGANIZER)), POLICY_ALLOW);
    assert_int_equal(policy_member_change(admin, R(ORGANIZER), R(ROLE_UNSPECIFIED)), POLICY_ALLOW);
    assert_int_equal(policy_member_change(part, R(ROLE_UNSPECIFIED), R(VIEWER)), POLICY_DENY);
    assert_true(policy_self_join_role(R(PARTICIPANT)));
    assert_true(policy_self_join_role(R(VIEWER)));
    assert_false(policy_self_join_role(R(MODERATOR)));
    assert_false(policy_self_join_role(R(ORGANIZER)));
}

/* SPEC §3 "Room lifecycle": every (operation, from) pair. */
static void test_lifecycle_table(void **state)
{
    (void)state;
    static const struct {
        policy_op op;
        const char *allowed_from; /* D A C X for DRAFT ACTIVE COMPLETED CANCELLED */
        Rooms__V1__RoomStatus to;
    } want[] = {
        {POLICY_OP_ACTIVATE, "D", S(ACTIVE)},
        {POLICY_OP_COMPLETE, "A", S(COMPLETED)},
        {POLICY_OP_CANCEL, "DA", S(CANCELLED)},
    };
    static const char letters[] = "?DACX";
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(policy_op_target(want[i].op), want[i].to);
        for (int from = 0; from <= 4; from++) {
            bool expect = from > 0 && strchr(want[i].allowed_from, letters[from]) != NULL;
            if (policy_op_allowed(want[i].op, (Rooms__V1__RoomStatus)from) != expect)
                fail_msg("%s from %d: want %d", policy_op_name(want[i].op), from, expect);
        }
    }
    char buf[64];
    policy_next_statuses(S(DRAFT), buf, sizeof buf);
    assert_string_equal(buf, "ACTIVE, CANCELLED");
    policy_next_statuses(S(ACTIVE), buf, sizeof buf);
    assert_string_equal(buf, "COMPLETED, CANCELLED");
    policy_next_statuses(S(COMPLETED), buf, sizeof buf);
    assert_string_equal(buf, "none");
    policy_next_statuses(S(CANCELLED), buf, sizeof buf);
    assert_string_equal(buf, "none");
}

static void test_enum_names(void **state)
{
    (void)state;
    Rooms__V1__Role r;
    Rooms__V1__RoomStatus s;
    assert_string_equal(policy_role_name(R(ORGANIZER)), "ORGANIZER");
    assert_true(policy_role_parse("VIEWER", &r));
    assert_int_equal(r, R(VIEWER));
    assert_false(policy_role_parse("ROLE_UNSPECIFIED", &r));
    assert_false(policy_role_parse("viewer'; DROP TABLE rooms;--", &r));
    assert_null(policy_role_name(0));
    assert_null(policy_role_name(77));
    assert_true(policy_status_parse("COMPLETED", &s));
    assert_null(policy_status_name(-1));
    assert_string_equal(policy_draw_policy_name(ROOMS__V1__DRAW_POLICY__ONE_WIN_PER_ROOM),
                        "ONE_WIN_PER_ROOM");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_table_public_private_admin),
        cmocka_unit_test(test_join_only_draft_or_active),
        cmocka_unit_test(test_member_changes),
        cmocka_unit_test(test_lifecycle_table),
        cmocka_unit_test(test_enum_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
