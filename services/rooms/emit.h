/* emit.h — the events confetti-rooms publishes (SPEC §5), written to its outbox by the store
 * inside the transaction of the change they report (common/events). Each call blocks (libpq)
 * and must run inside that db_tx. */
#ifndef CONFETTI_ROOMS_EMIT_H
#define CONFETTI_ROOMS_EMIT_H

#include "db/db.h"
#include "rooms/v1/rooms.pb-c.h"
#include "store.h"

cf_code emit_room_created(db_conn *db, const char *room_id, const store_new_room *in);
/* name and is_public: the room's values after the change. */
cf_code emit_room_updated(db_conn *db, const char *room_id, const store_room_patch *p,
                          const char *name, bool is_public);
cf_code emit_room_status_changed(db_conn *db, const char *room_id, Rooms__V1__RoomStatus from,
                                 Rooms__V1__RoomStatus to);
cf_code emit_room_deleted(db_conn *db, const char *room_id);
/* room.updated with fields ["archivedAt"]: the maintenance job archived the room (maint.c). */
cf_code emit_room_archived(db_conn *db, const char *room_id, const char *name, bool is_public);
cf_code emit_participant_joined(db_conn *db, const char *room_id, const char *user_id,
                                Rooms__V1__Role role);
/* reason: "left" (themselves), "removed" (by a moderator), "user_deleted". */
cf_code emit_participant_left(db_conn *db, const char *room_id, const char *user_id,
                              const char *reason);
cf_code emit_participant_role_changed(db_conn *db, const char *room_id, const char *user_id,
                                      Rooms__V1__Role from, Rooms__V1__Role to);

#endif
