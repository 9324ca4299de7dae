/* demo_world.h — the demo world `make run` loads into an empty platform (issue 18 item 8;
 * docs/operations.md, "Demo world"): people, an app with two manifest versions, rooms in every
 * status, members in every role, prizes and past draws with winners, made through the
 * services' own RPCs (catalog, rooms, draw) as the people themselves (their tokens), so every
 * rule and event of the platform applies to it.
 *
 * Idempotent: every creation is preceded by a read (the app by name, members, prizes by name,
 * draws, status changes) or carries a fixed idempotency key that rooms keeps with the room
 * (rooms are found by it: CreateRoom answers a replay with the room the key made), so a
 * second run, or a run after one that stopped half-way, adds nothing and finishes the rest.
 * A platform holding rooms that are not the demo's is left alone (nothing is loaded). */
#ifndef CONFETTI_TOOLS_DEMO_WORLD_H
#define CONFETTI_TOOLS_DEMO_WORLD_H

#include <stdbool.h>
#include <stdio.h>

#include "rpc/client.h"

/* A token for the person `sub` ("Bearer …", malloc'd; NULL on failure); admin = a platform
 * admin's token (used only to ask whether the platform is empty). */
typedef char *(*demo_mint_fn)(void *arg, const char *sub, bool admin);

typedef struct demo_env {
    rpc_client *rooms, *catalog, *draw; /* borrowed */
    demo_mint_fn mint;
    void *mint_arg;
    FILE *log; /* one line per step; NULL = quiet */
} demo_env;

typedef enum demo_outcome {
    DEMO_LOADED,   /* the world is there (made now, finished, or already complete) */
    DEMO_NOT_EMPTY /* the platform has rooms that are not the demo's: nothing done */
} demo_outcome;

/* The people of the world (token subjects; NULL-terminated) and its organizer. */
extern const char *const demo_people[];
#define DEMO_ORGANIZER "demo-ada"

/* Loads (or completes) the world. CF_OK with *outcome, or the first failing call's code with
 * err saying which step and what the service answered. Blocks (one RPC at a time). */
cf_code demo_load(const demo_env *e, demo_outcome *outcome, char *err, size_t errlen);

#endif
