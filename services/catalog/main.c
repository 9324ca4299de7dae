/* main.c — confetti-catalog: apps, credentials, manifests (docs/catalog.md). */
#include "catalog.h"

int main(int argc, char **argv)
{
    return svc_main(catalog_service_def(), argc, argv);
}
