/* main.c — confetti-draw: prize fund, fair and auditable winner draws (docs/draw.md). */
#include "draw.h"

int main(int argc, char **argv)
{
    return svc_main(draw_service_def(), argc, argv);
}
