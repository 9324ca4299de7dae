/* policy.c — SPEC §3's role table and room lifecycle, written as the tables they are. */
#include "policy.h"

#include <stdio.h>
#include <string.h>

/* Columns of the role table: the five room roles, then "not a member". */
enum { COL_ADMIN, COL_ORGANIZER, COL_MODERATOR, COL_PARTICIPANT, COL_VIEWER, COL_NONE, NCOLS };

/* SPEC §3 "Roles", row for row (1 = y). Read for a room the subject can see; a private room
 * hides itself from non-members before this table is consulted. Platform admins bypass it. */
static const unsigned char role_table[][NCOLS] = {
    /*                        ADMIN ORG MOD PART VIEW none */
    [ROOMS__V1__ACTION__VIEW] = {1, 1, 1, 1, 1, 1},
    [ROOMS__V1__ACTION__EDIT] = {1, 1, 0, 0, 0, 0},
    [ROOMS__V1__ACTION__MANAGE_MEMBERS] = {1, 1, 1, 0, 0, 0},
    [ROOMS__V1__ACTION__MANAGE_PRIZES] = {1, 1, 1, 0, 0, 0},
    [ROOMS__V1__ACTION__JOIN] = {0, 0, 0, 0, 0, 1},  /* public DRAFT/ACTIVE rooms only */
    [ROOMS__V1__ACTION__LEAVE] = {1, 1, 1, 1, 1, 0}, /* last ORGANIZER: store.c refuses */
};

#define NACTIONS (sizeof role_table / sizeof *role_table)

static int role_column(Rooms__V1__Role role)
{
    switch (role) {
    case ROOMS__V1__ROLE__ADMIN:
        return COL_ADMIN;
    case ROOMS__V1__ROLE__ORGANIZER:
        return COL_ORGANIZER;
    case ROOMS__V1__ROLE__MODERATOR:
        return COL_MODERATOR;
    case ROOMS__V1__ROLE__PARTICIPANT:
        return COL_PARTICIPANT;
    case ROOMS__V1__ROLE__VIEWER:
        return COL_VIEWER;
    case ROOMS__V1__ROLE__ROLE_UNSPECIFIED:
        return COL_NONE;
    default:
        return -1;
    }
}

/* Statuses a room can be joined in. */
static bool joinable(Rooms__V1__RoomStatus s)
{
    return s == ROOMS__V1__ROOM_STATUS__DRAFT || s == ROOMS__V1__ROOM_STATUS__ACTIVE;
}

policy_verdict policy_check(Rooms__V1__Action action, policy_subject who, bool room_public,
                            Rooms__V1__RoomStatus status)
{
    int col = role_column(who.role);
    if (action <= 0 || (size_t)action >= NACTIONS || col < 0)
        return POLICY_DENY;
    if (who.platform_admin)
        return POLICY_ALLOW;
    if (col == COL_NONE && !room_public)
        return POLICY_HIDDEN;
    if (!role_table[action][col])
        return POLICY_DENY;
    if (action == ROOMS__V1__ACTION__JOIN && !joinable(status))
        return POLICY_CLOSED;
    return POLICY_ALLOW;
}

bool policy_role_is_privileged(Rooms__V1__Role role)
{
    return role == ROOMS__V1__ROLE__ORGANIZER || role == ROOMS__V1__ROLE__ADMIN;
}

policy_verdict policy_member_change(policy_subject who, Rooms__V1__Role target_old,
                                    Rooms__V1__Role target_new)
{
    /* visibility was settled by the caller: ask the table as for a public room */
    Rooms__V1__Action need =
        policy_role_is_privileged(target_old) || policy_role_is_privileged(target_new)
            ? ROOMS__V1__ACTION__EDIT
            : ROOMS__V1__ACTION__MANAGE_MEMBERS;
    return policy_check(need, who, true, ROOMS__V1__ROOM_STATUS__ACTIVE) == POLICY_ALLOW
               ? POLICY_ALLOW
               : POLICY_DENY;
}

bool policy_self_join_role(Rooms__V1__Role role)
{
    return role == ROOMS__V1__ROLE__PARTICIPANT || role == ROOMS__V1__ROLE__VIEWER;
}

/* SPEC §3 "Room lifecycle": for each operation, its target and the statuses it may leave. */
static const struct {
    const char *name;
    Rooms__V1__RoomStatus to;
    Rooms__V1__RoomStatus from[2];
} op_table[POLICY_OP_COUNT] = {
    [POLICY_OP_ACTIVATE] = {"activate",
                            ROOMS__V1__ROOM_STATUS__ACTIVE,
                            {ROOMS__V1__ROOM_STATUS__DRAFT}},
    [POLICY_OP_COMPLETE] = {"complete",
                            ROOMS__V1__ROOM_STATUS__COMPLETED,
                            {ROOMS__V1__ROOM_STATUS__ACTIVE}},
    [POLICY_OP_CANCEL] = {"cancel",
                          ROOMS__V1__ROOM_STATUS__CANCELLED,
                          {ROOMS__V1__ROOM_STATUS__DRAFT, ROOMS__V1__ROOM_STATUS__ACTIVE}},
};

Rooms__V1__RoomStatus policy_op_target(policy_op op)
{
    return op_table[op].to;
}

bool policy_op_allowed(policy_op op, Rooms__V1__RoomStatus from)
{
    for (size_t i = 0; i < 2; i++)
        if (op_table[op].from[i] == from && from != ROOMS__V1__ROOM_STATUS__ROOM_STATUS_UNSPECIFIED)
            return true;
    return false;
}

const char *policy_op_name(policy_op op)
{
    return op_table[op].name;
}

void policy_next_statuses(Rooms__V1__RoomStatus from, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int op = 0; op < POLICY_OP_COUNT; op++) {
        if (!policy_op_allowed((policy_op)op, from))
            continue;
        int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                         policy_status_name(op_table[op].to));
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    if (!used)
        snprintf(buf, len, "none");
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);
    return e && v != 0 ? e->name : NULL;
}

static bool enum_parse(const ProtobufCEnumDescriptor *d, const char *name, int *out)
{
    const ProtobufCEnumValue *e =
        name ? protobuf_c_enum_descriptor_get_value_by_name(d, name) : NULL;
    if (!e || e->value == 0)
        return false;
    *out = e->value;
    return true;
}

const char *policy_status_name(int status)
{
    return enum_name(&rooms__v1__room_status__descriptor, status);
}

bool policy_status_parse(const char *name, Rooms__V1__RoomStatus *out)
{
    int v;
    if (!enum_parse(&rooms__v1__room_status__descriptor, name, &v))
        return false;
    *out = (Rooms__V1__RoomStatus)v;
    return true;
}

const char *policy_role_name(int role)
{
    return enum_name(&rooms__v1__role__descriptor, role);
}

bool policy_role_parse(const char *name, Rooms__V1__Role *out)
{
    int v;
    if (!enum_parse(&rooms__v1__role__descriptor, name, &v))
        return false;
    *out = (Rooms__V1__Role)v;
    return true;
}

const char *policy_draw_policy_name(int p)
{
    return enum_name(&rooms__v1__draw_policy__descriptor, p);
}

bool policy_draw_policy_parse(const char *name, Rooms__V1__DrawPolicy *out)
{
    int v;
    if (!enum_parse(&rooms__v1__draw_policy__descriptor, name, &v))
        return false;
    *out = (Rooms__V1__DrawPolicy)v;
    return true;
}
