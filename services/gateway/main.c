/* main.c — confetti-gateway: the public HTTP/JSON API in front of the services
 * (docs/gateway.md). */
#include "svc/svc.h"

const svc_def *gateway_service_def(void);

int main(int argc, char **argv)
{
    return svc_main(gateway_service_def(), argc, argv);
}
