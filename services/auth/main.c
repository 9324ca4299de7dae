/* main.c — confetti-auth: the auth service process (see service.c). */
#include "auth.h"

int main(int argc, char **argv)
{
    return svc_main(auth_service_def(), argc, argv);
}
