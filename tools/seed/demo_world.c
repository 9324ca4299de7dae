/* demo_world.c — the demo world (see demo_world.h): the world as data, then one pass that
 * makes whatever of it is missing through catalog, rooms and draw. */
#include "demo_world.h"
#include "base/arena.h"
#include "pbjson/pbjson.h"
#include "catalog/v1/catalog.pb-c.h"
#include "draw/v1/draw.pb-c.h"
#include "rooms/v1/rooms.pb-c.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define ROLE(x)   ROOMS__V1__ROLE__##x
#define STATUS(x) ROOMS__V1__ROOM_STATUS__##x

const char *const demo_people[] = {DEMO_ORGANIZER, "demo-ben",   "demo-chloe", "demo-dev",
                                   "demo-eva",     "demo-farid", "demo-gita",  "demo-hugo",
                                   "demo-ines",    "demo-jon",   NULL};

typedef struct member {
    const char *sub;
    Rooms__V1__Role role;
} member;

typedef struct prize {
    const char *name, *description;
    int quantity;
    int draw; /* winners drawn in the world's past (0 = not drawn yet) */
} prize;

typedef struct room {
    const char *key; /* the CreateRoom idempotency key */
    const char *name, *description;
    bool is_public;
    int app_version; /* 0 no app, 1 created while 1.0.0 was current, 2 after 1.1.0 */
    const char *settings;
    Rooms__V1__RoomStatus status; /* where it ends */
    member members[10];           /* besides the organizer (ORGANIZER by creating it) */
    prize prizes[3];
} room;

#define APP_KEY  "demo-app-lucky-wheel"
#define APP_NAME "Lucky Wheel"
static const char manifest_v1[] =
    "{\"name\":\"lucky-wheel\",\"version\":\"1.0.0\",\"displayName\":\"Lucky Wheel\","
    "\"description\":\"A spinning wheel that reveals each winner.\",\"settingsSchema\":{"
    "\"type\":\"object\",\"properties\":{\"segments\":{\"type\":\"integer\",\"minimum\":2,"
    "\"maximum\":24}}}}";
static const char manifest_v2[] =
    "{\"name\":\"lucky-wheel\",\"version\":\"1.1.0\",\"displayName\":\"Lucky Wheel\","
    "\"description\":\"A spinning wheel that reveals each winner, now with themes.\","
    "\"settingsSchema\":{\"type\":\"object\",\"properties\":{\"segments\":{\"type\":"
    "\"integer\",\"minimum\":2,\"maximum\":24},\"theme\":{\"type\":\"string\",\"enum\":["
    "\"classic\",\"neon\",\"pastel\"]}}}}";

/* The private room comes first: it is how a later run knows the world is the demo's. */
static const room rooms[] = {
    {"demo-room-quiz",
     "Team Offsite Quiz Night",
     "Eight rounds, one buzzer, no phones. The winning table picks next year's venue.",
     false,
     0,
     NULL,
     STATUS(ACTIVE),
     {{"demo-ben", ROLE(ADMIN)},
      {"demo-chloe", ROLE(MODERATOR)},
      {"demo-dev", ROLE(PARTICIPANT)},
      {"demo-eva", ROLE(PARTICIPANT)},
      {"demo-ines", ROLE(VIEWER)}},
     {{"An extra day off", "Taken any Friday before the end of the year.", 1, 0}}},
    {"demo-room-spring",
     "Spring Raffle 2026",
     "Our spring raffle is over: thank you all! Winners were drawn live on the wheel.",
     true,
     1,
     "{\"segments\":8}",
     STATUS(COMPLETED),
     {{"demo-chloe", ROLE(MODERATOR)},
      {"demo-dev", ROLE(PARTICIPANT)},
      {"demo-eva", ROLE(PARTICIPANT)},
      {"demo-farid", ROLE(PARTICIPANT)},
      {"demo-gita", ROLE(PARTICIPANT)},
      {"demo-hugo", ROLE(PARTICIPANT)},
      {"demo-jon", ROLE(PARTICIPANT)},
      {"demo-ines", ROLE(VIEWER)}},
     {{"Coffee for a year", "One bag of beans every month from the corner roastery.", 1, 1},
      {"Confetti tote bag", "Canvas, sturdy, covered in confetti.", 3, 3}}},
    {"demo-room-summer",
     "Summer Music Festival Giveaway",
     "Join to win passes for the festival weekend. The backstage draw is done; the vinyl is "
     "drawn on the last night.",
     true,
     2,
     "{\"segments\":12,\"theme\":\"neon\"}",
     STATUS(ACTIVE),
     {{"demo-ben", ROLE(ADMIN)},
      {"demo-chloe", ROLE(MODERATOR)},
      {"demo-dev", ROLE(PARTICIPANT)},
      {"demo-eva", ROLE(PARTICIPANT)},
      {"demo-farid", ROLE(PARTICIPANT)},
      {"demo-gita", ROLE(PARTICIPANT)},
      {"demo-hugo", ROLE(PARTICIPANT)},
      {"demo-jon", ROLE(PARTICIPANT)},
      {"demo-ines", ROLE(VIEWER)}},
     {{"Backstage passes", "Two passes for Saturday night, drinks included.", 2, 2},
      {"Signed vinyl", "The headliner's new record, signed.", 1, 0}}},
    {"demo-room-autumn",
     "Autumn Book Club Draw",
     "Still being set up: one hardcover bundle for a club member, drawn at the October meeting.",
     true,
     0,
     NULL,
     STATUS(DRAFT),
     {{"demo-eva", ROLE(PARTICIPANT)}, {"demo-gita", ROLE(PARTICIPANT)}},
     {{"Hardcover bundle", "Five of this year's favourites.", 1, 0}}},
    {"demo-room-winter",
     "Winter Charity Auction",
     "Cancelled: the venue closed for renovation. Donations were returned.",
     true,
     0,
     NULL,
     STATUS(CANCELLED),
     {{"demo-farid", ROLE(PARTICIPANT)}},
     {{0}}},
};

typedef struct run {
    const demo_env *e;
    arena a; /* requests' structs and copies of ids */
    char *err;
    size_t errlen;
} run;

static void say(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(run *r, const char *fmt, ...)
{
    if (!r->e->log)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("demo: ", r->e->log);
    vfprintf(r->e->log, fmt, ap);
    fputc('\n', r->e->log);
    va_end(ap);
}

/* One call as `sub` (admin token when asked), with an idempotency key when idem is not NULL.
 * The caller frees the result with done(). */
static rpc_ccall *call(run *r, rpc_client *c, const ProtobufCServiceDescriptor *d,
                       const char *method, const char *sub, bool admin, const char *idem,
                       const void *req)
{
    rpc_ccall *cc = calloc(1, sizeof *cc);
    rpc_ccall_init(cc, NULL);
    cc->timeout_ms = 30000; /* a loaded machine; each call is small */
    char *bearer = r->e->mint(r->e->mint_arg, sub, admin);
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(d, method);
    if (!bearer || !m) {
        cc->code = CF_INTERNAL;
        cc->message = !m ? "no such method" : "cannot mint a token";
        free(bearer);
        return cc;
    }
    rpc_ccall_md(cc, "authorization", bearer);
    if (idem)
        rpc_ccall_md(cc, "idempotency-key", idem);
    rpc_client_invoke(c, d, (unsigned)(m - d->methods), req, cc);
    free(bearer);
    return cc;
}

static void done(rpc_ccall *cc)
{
    rpc_ccall_free(cc);
    free(cc);
}

/* Records a failed step in r->err and returns its code (the call is freed). */
static cf_code failed(run *r, rpc_ccall *cc, const char *step)
{
    cf_code code = cc->code;
    snprintf(r->err, r->errlen, "%s: %s: %s", step, cf_code_name(code), cc->message);
    done(cc);
    return code;
}

static Google__Protobuf__Struct *structure(run *r, const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    Google__Protobuf__Struct *s = NULL;
    if (j)
        pbjson_struct_from_json(j, arena_allocator(&r->a), &s, NULL);
    json_decref(j);
    return s;
}

#define ROOMS   (&rooms__v1__rooms__descriptor)
#define CATALOG (&catalog__v1__catalog__descriptor)
#define DRAW    (&draw__v1__draw__descriptor)

/* Does the platform hold the demo world (its private room), or other rooms, or nothing? */
static cf_code survey(run *r, bool *demo, bool *other)
{
    Rooms__V1__ListRoomsRequest q = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
    q.page_size = 1;
    q.is_public = "false"; /* private rooms the organizer is in: only the demo's */
    rpc_ccall *cc = call(r, r->e->rooms, ROOMS, "ListRooms", DEMO_ORGANIZER, false, NULL, &q);
    if (cc->code != CF_OK)
        return failed(r, cc, "ListRooms (is the demo there?)");
    *demo = ((Rooms__V1__ListRoomsResponse *)cc->response)->n_rooms > 0;
    done(cc);
    q.is_public = "";
    cc = call(r, r->e->rooms, ROOMS, "ListRooms", "demo-admin", true, NULL, &q);
    if (cc->code != CF_OK)
        return failed(r, cc, "ListRooms (is the platform empty?)");
    *other = ((Rooms__V1__ListRoomsResponse *)cc->response)->n_rooms > 0;
    done(cc);
    return CF_OK;
}

/* The app, registered once with manifest 1.0.0; *id in r->a. Looked up by name among the
 * organizer's apps first: catalog forgets idempotency keys after a while (schema/004), a
 * name does not go. */
static cf_code app_register(run *r, char **id)
{
    Catalog__V1__ListAppsRequest lreq = CATALOG__V1__LIST_APPS_REQUEST__INIT;
    lreq.owner_user_id = DEMO_ORGANIZER;
    lreq.page_size = 100;
    rpc_ccall *lc = call(r, r->e->catalog, CATALOG, "ListApps", DEMO_ORGANIZER, false, NULL, &lreq);
    if (lc->code != CF_OK)
        return failed(r, lc, "ListApps");
    Catalog__V1__ListAppsResponse *have = (Catalog__V1__ListAppsResponse *)lc->response;
    for (size_t i = 0; i < have->n_apps; i++)
        if (strcmp(have->apps[i]->name, APP_NAME) == 0) {
            *id = arena_strdup(&r->a, have->apps[i]->app_id);
            say(r, "app %s (%s)", APP_NAME, *id);
            done(lc);
            return CF_OK;
        }
    done(lc);
    Catalog__V1__RegisterAppRequest req = CATALOG__V1__REGISTER_APP_REQUEST__INIT;
    req.name = APP_NAME;
    req.manifest = structure(r, manifest_v1);
    rpc_ccall *cc =
        call(r, r->e->catalog, CATALOG, "RegisterApp", DEMO_ORGANIZER, false, APP_KEY, &req);
    if (cc->code != CF_OK)
        return failed(r, cc, "RegisterApp " APP_NAME);
    Catalog__V1__RegisterAppResponse *resp = (Catalog__V1__RegisterAppResponse *)cc->response;
    *id = arena_strdup(&r->a, resp->app->app_id);
    say(r, "app %s (%s)", APP_NAME, *id);
    done(cc);
    return CF_OK;
}

/* Manifest 1.1.0, once: a second publish of the same version is ALREADY_EXISTS. */
static cf_code app_publish_v2(run *r, const char *app_id)
{
    Catalog__V1__PublishManifestRequest req = CATALOG__V1__PUBLISH_MANIFEST_REQUEST__INIT;
    req.app_id = (char *)app_id;
    req.manifest = structure(r, manifest_v2);
    rpc_ccall *cc =
        call(r, r->e->catalog, CATALOG, "PublishManifest", DEMO_ORGANIZER, false, NULL, &req);
    if (cc->code != CF_OK && cc->code != CF_ALREADY_EXISTS)
        return failed(r, cc, "PublishManifest 1.1.0");
    say(r, "manifest 1.1.0 %s", cc->code == CF_OK ? "published" : "was there");
    done(cc);
    return CF_OK;
}

static cf_code room_create(run *r, const room *w, const char *app_id, Rooms__V1__Room **out,
                           rpc_ccall **hold)
{
    Rooms__V1__CreateRoomRequest req = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
    req.name = (char *)w->name;
    req.description = (char *)w->description;
    req.is_public = w->is_public;
    if (w->app_version) {
        req.app_id = (char *)app_id;
        req.app_settings = structure(r, w->settings);
    }
    rpc_ccall *cc = call(r, r->e->rooms, ROOMS, "CreateRoom", DEMO_ORGANIZER, false, w->key, &req);
    if (cc->code != CF_OK)
        return failed(r, cc, w->name);
    *out = (Rooms__V1__Room *)cc->response;
    *hold = cc;
    return CF_OK;
}

static cf_code room_members(run *r, const room *w, const char *room_id)
{
    for (const member *m = w->members; m->sub; m++) {
        Rooms__V1__AddParticipantRequest req = ROOMS__V1__ADD_PARTICIPANT_REQUEST__INIT;
        req.room_id = (char *)room_id;
        req.user_id = (char *)m->sub;
        req.role = m->role;
        rpc_ccall *cc =
            call(r, r->e->rooms, ROOMS, "AddParticipant", DEMO_ORGANIZER, false, NULL, &req);
        /* a member already there (same role: OK; another role: ALREADY_EXISTS) stays */
        if (cc->code != CF_OK && cc->code != CF_ALREADY_EXISTS)
            return failed(r, cc, "AddParticipant");
        done(cc);
    }
    return CF_OK;
}

/* The room's status moved towards `to` along the lifecycle (DRAFT → ACTIVE → COMPLETED, or
 * → CANCELLED); nothing when it is there. */
static cf_code room_status(run *r, const char *room_id, Rooms__V1__RoomStatus now,
                           Rooms__V1__RoomStatus to)
{
    while (now != to) {
        const char *method;
        Rooms__V1__RoomStatus next;
        if (to == STATUS(CANCELLED)) {
            method = "CancelRoom";
            next = to;
        } else if (now == STATUS(DRAFT)) {
            method = "ActivateRoom";
            next = STATUS(ACTIVE);
        } else if (now == STATUS(ACTIVE) && to == STATUS(COMPLETED)) {
            method = "CompleteRoom";
            next = to;
        } else {
            snprintf(r->err, r->errlen, "room %s is %d, cannot reach %d", room_id, (int)now,
                     (int)to);
            return CF_FAILED_PRECONDITION;
        }
        Rooms__V1__ActivateRoomRequest req = ROOMS__V1__ACTIVATE_ROOM_REQUEST__INIT;
        req.room_id = (char *)room_id; /* the three requests have this one field */
        rpc_ccall *cc = call(r, r->e->rooms, ROOMS, method, DEMO_ORGANIZER, false, NULL, &req);
        if (cc->code != CF_OK)
            return failed(r, cc, method);
        done(cc);
        now = next;
    }
    return CF_OK;
}

/* The room's prizes by name (missing ones created); ids into ids[] (in r->a). */
static cf_code room_prizes(run *r, const room *w, const char *room_id, char *ids[3])
{
    Draw__V1__ListPrizesRequest lreq = DRAW__V1__LIST_PRIZES_REQUEST__INIT;
    lreq.room_id = (char *)room_id;
    lreq.page_size = 100;
    rpc_ccall *cc = call(r, r->e->draw, DRAW, "ListPrizes", DEMO_ORGANIZER, false, NULL, &lreq);
    if (cc->code != CF_OK)
        return failed(r, cc, "ListPrizes");
    Draw__V1__ListPrizesResponse *have = (Draw__V1__ListPrizesResponse *)cc->response;
    for (int i = 0; i < 3; i++) {
        ids[i] = NULL;
        for (size_t j = 0; w->prizes[i].name && j < have->n_prizes; j++)
            if (strcmp(have->prizes[j]->name, w->prizes[i].name) == 0)
                ids[i] = arena_strdup(&r->a, have->prizes[j]->prize_id);
    }
    done(cc);
    for (int i = 0; i < 3 && w->prizes[i].name; i++) {
        if (ids[i])
            continue;
        Draw__V1__CreatePrizeRequest req = DRAW__V1__CREATE_PRIZE_REQUEST__INIT;
        req.room_id = (char *)room_id;
        req.name = (char *)w->prizes[i].name;
        req.description = (char *)w->prizes[i].description;
        req.quantity = w->prizes[i].quantity;
        char *key = arena_printf(&r->a, "%s-prize-%d", w->key, i);
        cc = call(r, r->e->draw, DRAW, "CreatePrize", DEMO_ORGANIZER, false, key, &req);
        if (cc->code != CF_OK)
            return failed(r, cc, "CreatePrize");
        ids[i] = arena_strdup(&r->a, ((Draw__V1__Prize *)cc->response)->prize_id);
        done(cc);
    }
    return CF_OK;
}

/* The world's past draws of an ACTIVE room: a prize with no winners yet gets its draw. */
static cf_code room_draws(run *r, const room *w, const char *room_id, char *const ids[3])
{
    for (int i = 0; i < 3 && w->prizes[i].name; i++) {
        if (!w->prizes[i].draw)
            continue;
        Draw__V1__ListWinnersRequest lreq = DRAW__V1__LIST_WINNERS_REQUEST__INIT;
        lreq.room_id = (char *)room_id;
        lreq.prize_id = ids[i];
        lreq.page_size = 1;
        rpc_ccall *cc =
            call(r, r->e->draw, DRAW, "ListWinners", DEMO_ORGANIZER, false, NULL, &lreq);
        if (cc->code != CF_OK)
            return failed(r, cc, "ListWinners");
        bool drawn = ((Draw__V1__ListWinnersResponse *)cc->response)->n_winners > 0;
        done(cc);
        if (drawn)
            continue;
        Draw__V1__DrawWinnersRequest req = DRAW__V1__DRAW_WINNERS_REQUEST__INIT;
        req.room_id = (char *)room_id;
        req.prize_id = ids[i];
        req.count = w->prizes[i].draw;
        req.idempotency_key = arena_printf(&r->a, "%s-draw-%d", w->key, i);
        cc = call(r, r->e->draw, DRAW, "DrawWinners", DEMO_ORGANIZER, false, NULL, &req);
        if (cc->code != CF_OK)
            return failed(r, cc, "DrawWinners");
        say(r, "  drew %zu winner(s) of %s",
            ((Draw__V1__DrawWinnersResponse *)cc->response)->n_winners, w->prizes[i].name);
        done(cc);
    }
    return CF_OK;
}

/* One room, from wherever a previous run left it to the world's state. */
static cf_code room_make(run *r, const room *w, const char *app_id)
{
    Rooms__V1__Room *got;
    rpc_ccall *hold;
    cf_code code = room_create(r, w, app_id, &got, &hold);
    if (code != CF_OK)
        return code;
    char *id = arena_strdup(&r->a, got->room_id);
    Rooms__V1__RoomStatus now = got->status;
    done(hold);
    say(r, "room \"%s\" (%s)", w->name, id);
    bool final = now == STATUS(COMPLETED) || now == STATUS(CANCELLED);
    char *prize_ids[3] = {NULL, NULL, NULL};
    if (!final && ((code = room_members(r, w, id)) != CF_OK ||
                   (code = room_prizes(r, w, id, prize_ids)) != CF_OK))
        return code;
    if (final)
        return now == w->status ? CF_OK : room_status(r, id, now, w->status);
    /* draws happen in an ACTIVE room: a room that ends COMPLETED is activated first */
    bool draws = false;
    for (int i = 0; i < 3; i++)
        draws |= w->prizes[i].name && w->prizes[i].draw;
    if (draws) {
        if ((code = room_status(r, id, now, STATUS(ACTIVE))) != CF_OK ||
            (code = room_draws(r, w, id, prize_ids)) != CF_OK)
            return code;
        now = STATUS(ACTIVE);
    }
    return room_status(r, id, now, w->status);
}

cf_code demo_load(const demo_env *e, demo_outcome *outcome, char *err, size_t errlen)
{
    run r = {.e = e, .err = err, .errlen = errlen};
    arena_init(&r.a, 0);
    err[0] = '\0';
    bool demo = false, other = false;
    cf_code code = survey(&r, &demo, &other);
    if (code == CF_OK && !demo && other) {
        say(&r, "the platform has rooms of its own: no demo world loaded");
        *outcome = DEMO_NOT_EMPTY;
        arena_release(&r.a);
        return CF_OK;
    }
    char *app_id = NULL;
    if (code == CF_OK)
        code = app_register(&r, &app_id);
    /* rooms on manifest 1.0.0 first, then 1.1.0 is published, then the rooms on it */
    for (size_t i = 0; code == CF_OK && i < sizeof rooms / sizeof *rooms; i++)
        if (rooms[i].app_version < 2)
            code = room_make(&r, &rooms[i], app_id);
    if (code == CF_OK)
        code = app_publish_v2(&r, app_id);
    for (size_t i = 0; code == CF_OK && i < sizeof rooms / sizeof *rooms; i++)
        if (rooms[i].app_version == 2)
            code = room_make(&r, &rooms[i], app_id);
    if (code == CF_OK) {
        say(&r, "the demo world is in place");
        *outcome = DEMO_LOADED;
    }
    arena_release(&r.a);
    return code;
}
