/* scopes.c — what app tokens may call on draw.v1.Draw (docs/auth.md, "App scopes"); the
 * dispatcher checks it before any handler. Rooms then judges the app's role in the room, as for
 * any caller. */
#include "draw.h"
#include "draw/v1/draw.pb-c.h"

static const rpc_scope_rule rules[] = {
    {"GetPrize", "prizes:read"},      {"ListPrizes", "prizes:read"},
    {"CreatePrize", "prizes:write"},  {"UpdatePrize", "prizes:write"},
    {"DeletePrize", "prizes:write"},  {"GetDraw", "winners:read"},
    {"ListWinners", "winners:read"},  {"DrawWinners", "winners:draw"},
    {"RevokeWinner", "winners:draw"},
};

const rpc_scope_table draw_scopes = {&draw__v1__draw__descriptor, rules,
                                     sizeof rules / sizeof *rules};
