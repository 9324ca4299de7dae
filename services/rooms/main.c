/* main.c — confetti-rooms: rooms, membership, roles and permission checks (rooms.v1.Rooms). */
#include "rooms.h"

int main(int argc, char **argv)
{
    return svc_main(rooms_service_def(), argc, argv);
}
