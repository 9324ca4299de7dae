/* test_demo.c — the demo world `make run` loads (issue 18 item 8; tools/seed/demo_world.h),
 * against real catalog, rooms and draw services on fresh databases: after one load the world
 * is there as seen through the RPCs (rooms in every status, members in every role, an app with
 * two manifest versions and rooms locked to each, prizes, past draws with winners); a second
 * load adds and changes nothing; a platform with rooms of its own is left alone. */
#include "th.h"
#include "pg.h"
#include "service.h"
#include "testsvc.h"
#include "demo_world.h"
#include "rooms.h"
#include "catalog.h"
#include "draw.h"
#include "base/xmalloc.h"
#include "catalog/v1/catalog.pb-c.h"
#include "draw/v1/draw.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static th_keys *keys;
static th_service *catalog, *rooms, *draw;

static char *mint(void *arg, const char *sub, bool admin)
{
    (void)arg;
    char *t = th_token(keys, sub, 600, admin);
    char *b = xasprintf("Bearer %s", t);
    free(t);
    return b;
}

static rpc_ccall *rc(th_service *s, const ProtobufCServiceDescriptor *d, const char *method,
                     const char *sub, const void *in)
{
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(d, method);
    assert_non_null(m);
    rpc_ccall *cc = xcalloc(1, sizeof *cc);
    rpc_ccall_init(cc, NULL);
    char *b = mint(NULL, sub, false);
    rpc_ccall_md(cc, "authorization", b);
    rpc_client_invoke(s->client, d, (unsigned)(m - d->methods), in, cc);
    free(b);
    if (cc->code != CF_OK)
        fail_msg("%s as %s: %s: %s", method, sub, cf_code_name(cc->code), cc->message);
    return cc;
}

static void done(rpc_ccall *cc)
{
    rpc_ccall_free(cc);
    free(cc);
}

static cf_code load(th_service *rooms_svc, demo_outcome *out)
{
    demo_env e = {.rooms = rooms_svc->client,
                  .catalog = catalog->client,
                  .draw = draw->client,
                  .mint = mint,
                  .log = stderr};
    char err[512];
    cf_code code = demo_load(&e, out, err, sizeof err);
    if (code != CF_OK)
        fail_msg("demo_load: %s", err);
    return code;
}

/* The world as the RPCs show it, in one line (rooms with status, app version, members by role,
 * prizes, winners), plus what it must contain; the caller frees the line. */
static char *world(bool check)
{
    Rooms__V1__ListRoomsRequest lr = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
    lr.page_size = 100;
    rpc_ccall *lc = rc(rooms, &rooms__v1__rooms__descriptor, "ListRooms", DEMO_ORGANIZER, &lr);
    Rooms__V1__ListRoomsResponse *list = (Rooms__V1__ListRoomsResponse *)lc->response;
    bool status_seen[5] = {false}, role_seen[6] = {false}, v1 = false, v2 = false;
    size_t winners_total = 0, drawn_rooms = 0;
    char *line = xstrdup("");
    const char *app_id = NULL;
    for (size_t i = 0; i < list->n_rooms; i++) {
        Rooms__V1__Room *room = list->rooms[i];
        status_seen[room->status] = true;
        if (*room->app_id) {
            app_id = room->app_id;
            v1 |= strcmp(room->app_manifest_version, "1.0.0") == 0;
            v2 |= strcmp(room->app_manifest_version, "1.1.0") == 0;
        }
        Rooms__V1__ListParticipantsRequest pr = ROOMS__V1__LIST_PARTICIPANTS_REQUEST__INIT;
        pr.room_id = room->room_id;
        pr.page_size = 100;
        rpc_ccall *pc =
            rc(rooms, &rooms__v1__rooms__descriptor, "ListParticipants", DEMO_ORGANIZER, &pr);
        Rooms__V1__ListParticipantsResponse *ps =
            (Rooms__V1__ListParticipantsResponse *)pc->response;
        int by_role[6] = {0};
        for (size_t j = 0; j < ps->n_participants; j++) {
            role_seen[ps->participants[j]->role] = true;
            by_role[ps->participants[j]->role]++;
        }
        done(pc);
        Draw__V1__ListPrizesRequest zr = DRAW__V1__LIST_PRIZES_REQUEST__INIT;
        zr.room_id = room->room_id;
        zr.page_size = 100;
        rpc_ccall *zc = rc(draw, &draw__v1__draw__descriptor, "ListPrizes", DEMO_ORGANIZER, &zr);
        size_t prizes = ((Draw__V1__ListPrizesResponse *)zc->response)->n_prizes;
        done(zc);
        Draw__V1__ListWinnersRequest wr = DRAW__V1__LIST_WINNERS_REQUEST__INIT;
        wr.room_id = room->room_id;
        wr.page_size = 100;
        rpc_ccall *wc = rc(draw, &draw__v1__draw__descriptor, "ListWinners", DEMO_ORGANIZER, &wr);
        size_t winners = ((Draw__V1__ListWinnersResponse *)wc->response)->n_winners;
        done(wc);
        winners_total += winners;
        drawn_rooms += winners > 0;
        char *next =
            xasprintf("%s[%s %d %s a%d o%d m%d p%d v%d prizes %zu winners %zu]", line, room->name,
                      (int)room->status, room->app_manifest_version, by_role[1], by_role[2],
                      by_role[3], by_role[4], by_role[5], prizes, winners);
        free(line);
        line = next;
    }
    size_t manifests = 0;
    if (app_id) {
        Catalog__V1__ListManifestsRequest mr = CATALOG__V1__LIST_MANIFESTS_REQUEST__INIT;
        mr.app_id = (char *)app_id;
        mr.page_size = 100;
        rpc_ccall *mc =
            rc(catalog, &catalog__v1__catalog__descriptor, "ListManifests", DEMO_ORGANIZER, &mr);
        manifests = ((Catalog__V1__ListManifestsResponse *)mc->response)->n_manifests;
        done(mc);
    }
    char *next = xasprintf("%s manifests %zu", line, manifests);
    free(line);
    line = next;
    if (check) {
        print_message("world: %s\n", line);
        assert_int_equal(list->n_rooms, 5);
        for (int s = 1; s <= 4; s++) /* DRAFT, ACTIVE, COMPLETED, CANCELLED */
            if (!status_seen[s])
                fail_msg("no room in status %d: %s", s, line);
        for (int r = 1; r <= 5; r++) /* ADMIN … VIEWER */
            if (!role_seen[r])
                fail_msg("nobody in role %d: %s", r, line);
        assert_true(v1 && v2);              /* rooms locked to each manifest version */
        assert_int_equal(manifests, 2);     /* 1.0.0 and 1.1.0 */
        assert_true(drawn_rooms >= 2);      /* a completed room and an active one have winners */
        assert_int_equal(winners_total, 6); /* 1 + 3 in spring, 2 in summer */
    }
    done(lc);
    return line;
}

static void test_loads_the_world_once(void **state)
{
    (void)state;
    demo_outcome out;
    assert_int_equal(load(rooms, &out), CF_OK);
    assert_int_equal(out, DEMO_LOADED);
    char *first = world(true);
    /* a second run: the same world, nothing added, nothing changed */
    assert_int_equal(load(rooms, &out), CF_OK);
    assert_int_equal(out, DEMO_LOADED);
    char *second = world(true);
    assert_string_equal(first, second);
    free(first);
    free(second);
}

/* A platform whose rooms are not the demo's gets nothing (its own rooms stay the only ones).
 * Runs first, on the same rooms service (one instance per process: its config is global);
 * the room is deleted afterwards, which makes the platform empty again for the next test. */
static void test_leaves_a_used_platform_alone(void **state)
{
    (void)state;
    Rooms__V1__CreateRoomRequest cr = ROOMS__V1__CREATE_ROOM_REQUEST__INIT;
    cr.name = "Somebody's own room";
    cr.is_public = true;
    rpc_ccall *cc = rc(rooms, &rooms__v1__rooms__descriptor, "CreateRoom", "someone", &cr);
    char *id = xstrdup(((Rooms__V1__Room *)cc->response)->room_id);
    done(cc);
    demo_outcome out;
    assert_int_equal(load(rooms, &out), CF_OK);
    assert_int_equal(out, DEMO_NOT_EMPTY);
    Rooms__V1__ListRoomsRequest lr = ROOMS__V1__LIST_ROOMS_REQUEST__INIT;
    rpc_ccall *lc = rc(rooms, &rooms__v1__rooms__descriptor, "ListRooms", "someone", &lr);
    assert_int_equal(((Rooms__V1__ListRoomsResponse *)lc->response)->n_rooms, 1);
    done(lc);
    Catalog__V1__ListAppsRequest la = CATALOG__V1__LIST_APPS_REQUEST__INIT;
    rpc_ccall *ac = rc(catalog, &catalog__v1__catalog__descriptor, "ListApps", "someone", &la);
    assert_int_equal(((Catalog__V1__ListAppsResponse *)ac->response)->n_apps, 0);
    done(ac);
    Rooms__V1__DeleteRoomRequest dr = ROOMS__V1__DELETE_ROOM_REQUEST__INIT;
    dr.room_id = id;
    done(rc(rooms, &rooms__v1__rooms__descriptor, "DeleteRoom", "someone", &dr));
    free(id);
}

static int setup_all(void **state)
{
    (void)state;
    keys = th_keys_new("RS256");
    char rooms_url[128], caddr[160], raddr[160];
    catalog = th_service_start(catalog_service_def(), &(th_service_opts){.keys = keys});
    th_ipc_url(rooms_url, sizeof rooms_url, "demo-rooms");
    snprintf(caddr, sizeof caddr, "CONFETTI_CATALOG_URLS=%s", catalog->url);
    const char *renv[] = {caddr, NULL};
    rooms = th_service_start(rooms_service_def(),
                             &(th_service_opts){.keys = keys, .env = renv, .url = rooms_url});
    snprintf(raddr, sizeof raddr, "CONFETTI_ROOMS_URLS=%s", rooms->url);
    const char *denv[] = {raddr, "CONFETTI_ROOMS_TIMEOUT=30s", NULL};
    draw = th_service_start(draw_service_def(), &(th_service_opts){.keys = keys, .env = denv});
    return 0;
}

static int teardown_all(void **state)
{
    (void)state;
    th_service_stop(draw);
    th_service_stop(rooms);
    th_service_stop(catalog);
    th_keys_free(keys);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaves_a_used_platform_alone),
        cmocka_unit_test(test_loads_the_world_once),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
