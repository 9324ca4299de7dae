/* scopes.c — what app tokens may call on rooms.v1.Rooms (docs/auth.md, "App scopes"); the
 * dispatcher checks it before any handler. The role table (policy.c) then applies to the app
 * as to any caller. CheckPermission and ListEligibleParticipants are also granted by the draw
 * scopes: draw asks them with the app's own token when the app calls draw. AppInUse is catalog's
 * (DeleteApp, never an app's): not listed, so refused. */
#include "rooms.h"
#include "rooms/v1/rooms.pb-c.h"

static const rpc_scope_rule rules[] = {
    {"GetRoom", "rooms:read"},
    {"ListRooms", "rooms:read"},
    {"ListParticipants", "rooms:read"},
    {"CreateRoom", "rooms:write"},
    {"UpdateRoom", "rooms:write"},
    {"DeleteRoom", "rooms:write"},
    {"ActivateRoom", "rooms:write"},
    {"CompleteRoom", "rooms:write"},
    {"CancelRoom", "rooms:write"},
    {"AddParticipant", "participants:write"},
    {"UpdateParticipant", "participants:write"},
    {"RemoveParticipant", "participants:write"},
    {"CheckPermission", "rooms:read prizes:read prizes:write winners:read winners:draw"},
    {"ListEligibleParticipants", "winners:draw"},
};

const rpc_scope_table rooms_scopes = {&rooms__v1__rooms__descriptor, rules,
                                      sizeof rules / sizeof *rules};
