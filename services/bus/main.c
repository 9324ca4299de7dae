/* main.c — confetti-bus: the event broker (docs/events.md). */
#include "bus.h"

int main(int argc, char **argv)
{
    return svc_main(bus_service_def(), argc, argv);
}
