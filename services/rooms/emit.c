/* emit.c — building rooms' events and adding them to the outbox (see emit.h). */
#include "emit.h"

#include "events/events.h"

static cf_code add(db_conn *db, const char *room_id, Events__V1__Event *ev)
{
    ev->source = "rooms";
    ev->room_id = (char *)room_id;
    return events_outbox_add(db, ev);
}

cf_code emit_room_created(db_conn *db, const char *room_id, const store_new_room *in)
{
    Events__V1__RoomCreated b = EVENTS__V1__ROOM_CREATED__INIT;
    b.name = (char *)in->name;
    b.is_public = in->is_public;
    b.created_by = (char *)in->created_by;
    b.app_id = (char *)(in->app_id ? in->app_id : "");
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.body_case = EVENTS__V1__EVENT__BODY_ROOM_CREATED;
    ev.room_created = &b;
    return add(db, room_id, &ev);
}

cf_code emit_room_updated(db_conn *db, const char *room_id, const store_room_patch *p,
                          const char *name, bool is_public)
{
    char *fields[7];
    size_t n = 0;
    if (p->set_name)
        fields[n++] = "name";
    if (p->set_description)
        fields[n++] = "description";
    if (p->set_public)
        fields[n++] = "isPublic";
    if (p->set_settings)
        fields[n++] = "appSettings";
    if (p->set_starts)
        fields[n++] = "startsAt";
    if (p->set_ends)
        fields[n++] = "endsAt";
    if (p->set_policy)
        fields[n++] = "drawPolicy";
    Events__V1__RoomUpdated b = EVENTS__V1__ROOM_UPDATED__INIT;
    b.fields = fields;
    b.n_fields = n;
    b.name = (char *)name;
    b.is_public = is_public;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.body_case = EVENTS__V1__EVENT__BODY_ROOM_UPDATED;
    ev.room_updated = &b;
    return add(db, room_id, &ev);
}

cf_code emit_room_status_changed(db_conn *db, const char *room_id, Rooms__V1__RoomStatus from,
                                 Rooms__V1__RoomStatus to)
{
    Events__V1__RoomStatusChanged b = EVENTS__V1__ROOM_STATUS_CHANGED__INIT;
    b.from = from;
    b.to = to;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.body_case = EVENTS__V1__EVENT__BODY_ROOM_STATUS_CHANGED;
    ev.room_status_changed = &b;
    return add(db, room_id, &ev);
}

cf_code emit_room_deleted(db_conn *db, const char *room_id)
{
    Events__V1__RoomDeleted b = EVENTS__V1__ROOM_DELETED__INIT;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.body_case = EVENTS__V1__EVENT__BODY_ROOM_DELETED;
    ev.room_deleted = &b;
    return add(db, room_id, &ev);
}

cf_code emit_room_archived(db_conn *db, const char *room_id, const char *name, bool is_public)
{
    char *fields[] = {"archivedAt"};
    Events__V1__RoomUpdated b = EVENTS__V1__ROOM_UPDATED__INIT;
    b.fields = fields;
    b.n_fields = 1;
    b.name = (char *)name;
    b.is_public = is_public;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.body_case = EVENTS__V1__EVENT__BODY_ROOM_UPDATED;
    ev.room_updated = &b;
    return add(db, room_id, &ev);
}

cf_code emit_participant_joined(db_conn *db, const char *room_id, const char *user_id,
                                Rooms__V1__Role role)
{
    Events__V1__ParticipantJoined b = EVENTS__V1__PARTICIPANT_JOINED__INIT;
    b.user_id = (char *)user_id;
    b.role = role;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.body_case = EVENTS__V1__EVENT__BODY_PARTICIPANT_JOINED;
    ev.participant_joined = &b;
    return add(db, room_id, &ev);
}

cf_code emit_participant_left(db_conn *db, const char *room_id, const char *user_id,
                              const char *reason)
{
    Events__V1__ParticipantLeft b = EVENTS__V1__PARTICIPANT_LEFT__INIT;
    b.user_id = (char *)user_id;
    b.reason = (char *)reason;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.body_case = EVENTS__V1__EVENT__BODY_PARTICIPANT_LEFT;
    ev.participant_left = &b;
    return add(db, room_id, &ev);
}

cf_code emit_participant_role_changed(db_conn *db, const char *room_id, const char *user_id,
                                      Rooms__V1__Role from, Rooms__V1__Role to)
{
    Events__V1__ParticipantRoleChanged b = EVENTS__V1__PARTICIPANT_ROLE_CHANGED__INIT;
    b.user_id = (char *)user_id;
    b.from = from;
    b.to = to;
    Events__V1__Event ev = EVENTS__V1__EVENT__INIT;
    ev.body_case = EVENTS__V1__EVENT__BODY_PARTICIPANT_ROLE_CHANGED;
    ev.participant_role_changed = &b;
    return add(db, room_id, &ev);
}
