/* policy.h — the rooms domain rules as data (SPEC §3 "Roles" and "Room lifecycle"): who may do
 * what in a room, and which status changes exist. Pure functions over the rooms.v1 enums, no I/O;
 * the handlers ask these and nothing else (tests/unit/rooms/test_policy.c checks the tables). */
#ifndef CONFETTI_ROOMS_POLICY_H
#define CONFETTI_ROOMS_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "rooms/v1/rooms.pb-c.h"

/* What the role table answers for one (action, role, room) question. */
typedef enum policy_verdict {
    POLICY_ALLOW,
    POLICY_DENY,   /* the room may be seen, the action is refused: PERMISSION_DENIED */
    POLICY_HIDDEN, /* a private room and not a member: NOT_FOUND, never a hint it exists */
    POLICY_CLOSED, /* JOIN into a room that is not DRAFT or ACTIVE: FAILED_PRECONDITION */
} policy_verdict;

/* The subject of a question: its room role (ROLE_UNSPECIFIED = not a member) and whether it is
 * a platform admin (who may do anything and see everything). */
typedef struct policy_subject {
    Rooms__V1__Role role;
    bool platform_admin;
} policy_subject;

/* SPEC §3's role table. action and role must be valid enum values (handlers validate input
 * first; anything else is DENY). */
policy_verdict policy_check(Rooms__V1__Action action, policy_subject who, bool room_public,
                            Rooms__V1__RoomStatus status);

/* True for the roles only ADMIN/ORGANIZER members and platform admins may grant or take away:
 * ORGANIZER (SPEC) and ADMIN (a room ADMIN can edit the room, so handing it out is at least as
 * strong as handing out ORGANIZER). */
bool policy_role_is_privileged(Rooms__V1__Role role);

/* May `who` give `target_old` (ROLE_UNSPECIFIED = adding someone new) the role `target_new`
 * (ROLE_UNSPECIFIED = removing them)? Needs MANAGE_MEMBERS, and EDIT when either side is
 * privileged. Returns ALLOW or DENY (visibility is checked before). */
policy_verdict policy_member_change(policy_subject who, Rooms__V1__Role target_old,
                                    Rooms__V1__Role target_new);

/* Roles one may pick when joining a room by oneself: PARTICIPANT and VIEWER. */
bool policy_self_join_role(Rooms__V1__Role role);

/* The lifecycle operations and their table (DRAFT → ACTIVE → COMPLETED; DRAFT or ACTIVE →
 * CANCELLED). */
typedef enum policy_op {
    POLICY_OP_ACTIVATE,
    POLICY_OP_COMPLETE,
    POLICY_OP_CANCEL,
} policy_op;

#define POLICY_OP_COUNT 3

/* The status an operation leads to. */
Rooms__V1__RoomStatus policy_op_target(policy_op op);
/* True if `op` may start from `from`. */
bool policy_op_allowed(policy_op op, Rooms__V1__RoomStatus from);
/* The verb of an operation, "activate". */
const char *policy_op_name(policy_op op);

/* Writes the statuses reachable from `from` ("ACTIVE, CANCELLED", or "none") into buf. */
void policy_next_statuses(Rooms__V1__RoomStatus from, char *buf, size_t len);

/* Enum names ⇄ values through the generated descriptors (the proto is the one list); NULL or
 * false for anything unknown. Names are what the database stores. */
const char *policy_status_name(int status);
bool policy_status_parse(const char *name, Rooms__V1__RoomStatus *out);
const char *policy_role_name(int role);
bool policy_role_parse(const char *name, Rooms__V1__Role *out);
const char *policy_draw_policy_name(int p);
bool policy_draw_policy_parse(const char *name, Rooms__V1__DrawPolicy *out);

#endif
