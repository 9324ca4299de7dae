/* fake_rooms.c — see fake_rooms.h. */
#include "fake_rooms.h"
#include "th.h"
#include "testsvc.h"
#include "rpc/rpc.h"
#include "rpc/server.h"
#include "base/xmalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_ROOMS = 64, MAX_MEMBERS = 16 };

typedef struct fake_room {
    char id[64];
    Rooms__V1__RoomStatus status;
    bool is_public;
    Rooms__V1__DrawPolicy policy;
    size_t n;
    struct {
        char user[64];
        Rooms__V1__Role role;
    } members[MAX_MEMBERS];
    size_t nmembers;
} fake_room;

struct fake_rooms {
    ProtobufCService svc; /* first: invoke gets it back */
    rpc_server *server;
    char url[128];
    pthread_mutex_t mu;
    fake_room rooms[MAX_ROOMS];
    size_t nrooms;
    atomic_int fail_page;
};

static fake_room *find(fake_rooms *f, const char *id)
{
    for (size_t i = 0; i < f->nrooms; i++)
        if (strcmp(f->rooms[i].id, id) == 0)
            return &f->rooms[i];
    return NULL;
}

/* The caller's role in the room (UNSPECIFIED = not a member); *visible = may see it. */
static Rooms__V1__Role role_of(const fake_room *r, const authn_identity *who, bool *visible)
{
    Rooms__V1__Role role = ROOMS__V1__ROLE__ROLE_UNSPECIFIED;
    if (who) {
        for (size_t i = 0; i < r->nmembers; i++)
            if (strcmp(r->members[i].user, who->sub) == 0)
                role = r->members[i].role;
        unsigned long long k;
        char extra;
        if (role == ROOMS__V1__ROLE__ROLE_UNSPECIFIED &&
            sscanf(who->sub, "u%9llu%c", &k, &extra) == 1 && k < r->n)
            role = ROOMS__V1__ROLE__PARTICIPANT;
    }
    *visible = r->is_public || role != ROOMS__V1__ROLE__ROLE_UNSPECIFIED || (who && who->is_admin);
    return role;
}

static cf_code check_permission(fake_rooms *f, rpc_call *call,
                                const Rooms__V1__CheckPermissionRequest *req,
                                Rooms__V1__CheckPermissionResponse *resp)
{
    pthread_mutex_lock(&f->mu);
    fake_room *r = find(f, req->room_id), copy;
    if (r)
        copy = *r;
    pthread_mutex_unlock(&f->mu);
    if (!r)
        return rpc_error(call, CF_NOT_FOUND, "room not found");
    const authn_identity *who = rpc_caller(call);
    bool visible;
    Rooms__V1__Role role = role_of(&copy, who, &visible);
    if (!visible)
        return rpc_error(call, CF_NOT_FOUND, "room not found");
    bool staff = role == ROOMS__V1__ROLE__ADMIN || role == ROOMS__V1__ROLE__ORGANIZER ||
                 role == ROOMS__V1__ROLE__MODERATOR || (who && who->is_admin);
    switch (req->action) {
    case ROOMS__V1__ACTION__VIEW:
        resp->allowed = true;
        break;
    case ROOMS__V1__ACTION__MANAGE_PRIZES:
        resp->allowed = staff;
        break;
    default:
        return rpc_error(call, CF_UNIMPLEMENTED, "fake rooms: action %d", (int)req->action);
    }
    resp->role = role;
    Rooms__V1__Room *room = rpc_alloc(call, sizeof *room);
    rooms__v1__room__init(room);
    room->room_id = rpc_strdup(call, copy.id);
    room->status = copy.status;
    room->is_public = copy.is_public;
    room->draw_policy = copy.policy;
    room->my_role = role;
    resp->room = room;
    return CF_OK;
}

static cf_code list_eligible(fake_rooms *f, rpc_call *call,
                             const Rooms__V1__ListEligibleParticipantsRequest *req,
                             Rooms__V1__ListEligibleParticipantsResponse *resp)
{
    pthread_mutex_lock(&f->mu);
    fake_room *r = find(f, req->room_id), copy;
    if (r)
        copy = *r;
    pthread_mutex_unlock(&f->mu);
    if (!r)
        return rpc_error(call, CF_NOT_FOUND, "room not found");
    bool visible;
    role_of(&copy, rpc_caller(call), &visible);
    if (!visible)
        return rpc_error(call, CF_NOT_FOUND, "room not found");
    size_t size = req->page_size <= 0      ? 20
                  : req->page_size > 10000 ? 10000
                                           : (size_t)req->page_size;
    size_t off = *req->page_token ? strtoull(req->page_token, NULL, 10) : 0;
    int fail = atomic_load(&f->fail_page);
    if (fail > 0 && off / 10000 + 1 == (size_t)fail)
        return rpc_error(call, CF_UNAVAILABLE, "fake rooms: page %d fails", fail);
    size_t end = off + size > copy.n ? copy.n : off + size;
    size_t cnt = end > off ? end - off : 0;
    resp->participants = rpc_alloc(call, (cnt + 1) * sizeof *resp->participants);
    Rooms__V1__Participant *ps = rpc_alloc(call, (cnt + 1) * sizeof *ps);
    for (size_t i = 0; i < cnt; i++) {
        rooms__v1__participant__init(&ps[i]);
        ps[i].participant_id = rpc_printf(call, "p%09zu", off + i);
        ps[i].user_id = rpc_printf(call, "u%09zu", off + i);
        ps[i].room_id = (char *)req->room_id;
        ps[i].role = ROOMS__V1__ROLE__PARTICIPANT;
        resp->participants[i] = &ps[i];
    }
    resp->n_participants = cnt;
    if (end < copy.n)
        resp->next_page_token = rpc_printf(call, "%zu", end);
    return CF_OK;
}

static void fake_invoke(ProtobufCService *svc, unsigned index, const ProtobufCMessage *in,
                        ProtobufCClosure closure, void *closure_data)
{
    fake_rooms *f = (fake_rooms *)svc;
    rpc_call *call = closure_data;
    void *resp = rpc_call_response(call);
    const char *name = svc->descriptor->methods[index].name;
    cf_code code;
    if (strcmp(name, "CheckPermission") == 0)
        code = check_permission(f, call, (const void *)in, resp);
    else if (strcmp(name, "ListEligibleParticipants") == 0)
        code = list_eligible(f, call, (const void *)in, resp);
    else
        code = rpc_error(call, CF_UNIMPLEMENTED, "fake rooms: %s", name);
    rpc_call_set_code(call, code);
    closure(resp, closure_data);
}

static void fake_destroy(ProtobufCService *svc)
{
    (void)svc;
}

fake_rooms *fake_rooms_start(authn_verifier *verifier)
{
    fake_rooms *f = xcalloc(1, sizeof *f);
    f->svc.descriptor = &rooms__v1__rooms__descriptor;
    f->svc.invoke = fake_invoke;
    f->svc.destroy = fake_destroy;
    pthread_mutex_init(&f->mu, NULL);
    th_ipc_url(f->url, sizeof f->url, "fakerooms");
    const char *urls[] = {f->url};
    rpc_server_config cfg = {.listen = urls, .nlisten = 1, .workers = 4, .verifier = verifier};
    char err[256];
    if (rpc_server_new(&cfg, &f->server) != CF_OK)
        abort();
    rpc_server_add_service(f->server, &f->svc, f);
    if (rpc_server_start(f->server, err, sizeof err) != CF_OK) {
        fprintf(stderr, "fake rooms: %s\n", err);
        abort();
    }
    return f;
}

const char *fake_rooms_url(const fake_rooms *f)
{
    return f->url;
}

void fake_rooms_add(fake_rooms *f, const char *room_id, Rooms__V1__RoomStatus status,
                    bool is_public, Rooms__V1__DrawPolicy policy, size_t nparticipants)
{
    pthread_mutex_lock(&f->mu);
    if (f->nrooms == MAX_ROOMS)
        abort();
    fake_room *r = &f->rooms[f->nrooms++];
    memset(r, 0, sizeof *r);
    snprintf(r->id, sizeof r->id, "%s", room_id);
    r->status = status;
    r->is_public = is_public;
    r->policy = policy;
    r->n = nparticipants;
    pthread_mutex_unlock(&f->mu);
}

void fake_rooms_member(fake_rooms *f, const char *room_id, const char *user, Rooms__V1__Role role)
{
    pthread_mutex_lock(&f->mu);
    fake_room *r = find(f, room_id);
    if (!r || r->nmembers == MAX_MEMBERS)
        abort();
    snprintf(r->members[r->nmembers].user, sizeof r->members[0].user, "%s", user);
    r->members[r->nmembers++].role = role;
    pthread_mutex_unlock(&f->mu);
}

void fake_rooms_set_status(fake_rooms *f, const char *room_id, Rooms__V1__RoomStatus status)
{
    pthread_mutex_lock(&f->mu);
    fake_room *r = find(f, room_id);
    if (r)
        r->status = status;
    pthread_mutex_unlock(&f->mu);
}

void fake_rooms_fail_page(fake_rooms *f, int page)
{
    atomic_store(&f->fail_page, page);
}

void fake_rooms_stop(fake_rooms *f)
{
    if (!f)
        return;
    rpc_server_free(f->server);
    pthread_mutex_destroy(&f->mu);
    free(f);
}
