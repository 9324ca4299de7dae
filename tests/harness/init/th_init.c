/* th_init.c — linked into every test executable (cmake/Testing.cmake), not into the harness
 * library (a static library's object is only pulled in when something references it).
 * stdout line-buffered: cmocka writes its verdicts there (CMOCKA_MESSAGE_OUTPUT=stdout), and
 * a fully buffered pipe loses them when ctest kills a test at its timeout. */
#include <stdio.h>

__attribute__((constructor)) static void th_init_stdout(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
}
