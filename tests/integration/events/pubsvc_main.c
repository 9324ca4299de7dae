/* pubsvc_main.c — confetti-pubsvc: the events tests' publishing service as a whole process
 * (svc_main: config, migrations, the relay thread, Replay, signals), so a test can SIGKILL a
 * relay. The event source is $PUBSVC_NAME (alpha, beta or auth; default alpha). */
#include "pubsvc.h"

#include <stdlib.h>

int main(int argc, char **argv)
{
    const char *name = getenv("PUBSVC_NAME");
    return svc_main(pubsvc_def(name && *name ? name : "alpha"), argc, argv);
}
