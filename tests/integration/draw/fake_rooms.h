/* fake_rooms.h — a stand-in rooms.v1.Rooms for the draw tests and bench: a real nng RPC server
 * (the real dispatcher, token verification and envelope), whose invoke answers CheckPermission
 * and ListEligibleParticipants from an in-memory table; every other method is UNIMPLEMENTED.
 * Only the rooms *logic* is faked, following rooms.proto and SPEC §3's role table:
 *   - an unknown room, or a private room the caller is no member of → NOT_FOUND;
 *   - VIEW: allowed for anyone who sees the room; MANAGE_PRIZES: ADMIN/ORGANIZER/MODERATOR and
 *     platform admins; the response carries the room (status, is_public, draw_policy);
 *   - participants: n live PARTICIPANTs with participant_id "p%09zu" (so bytewise order is
 *     numeric order) and user_id "u%09zu"; pages up to 10000, token = decimal offset.
 * Used because confetti_rooms_lib was still being written (docs/draw.md, "Tests"). */
#ifndef CONFETTI_TESTS_FAKE_ROOMS_H
#define CONFETTI_TESTS_FAKE_ROOMS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "authn/authn.h"
#include "rooms/v1/rooms.pb-c.h"

typedef struct fake_rooms fake_rooms;

/* Starts the server on a fresh ipc:// URL (fake_rooms_url). verifier borrowed (may be NULL). */
fake_rooms *fake_rooms_start(authn_verifier *verifier);
const char *fake_rooms_url(const fake_rooms *f);
/* Adds a room (id copied) with n participants. */
void fake_rooms_add(fake_rooms *f, const char *room_id, Rooms__V1__RoomStatus status,
                    bool is_public, Rooms__V1__DrawPolicy policy, size_t nparticipants);
/* Gives user a staff or viewer role in the room (participants are implicit). */
void fake_rooms_member(fake_rooms *f, const char *room_id, const char *user, Rooms__V1__Role role);
void fake_rooms_set_status(fake_rooms *f, const char *room_id, Rooms__V1__RoomStatus status);
/* ListEligibleParticipants answers UNAVAILABLE on its page number `page` (1-based) of every
 * listing from now on; 0 = never. */
void fake_rooms_fail_page(fake_rooms *f, int page);
/* Stops serving (the socket closes; callers see UNAVAILABLE). Frees everything. */
void fake_rooms_stop(fake_rooms *f);

#endif
