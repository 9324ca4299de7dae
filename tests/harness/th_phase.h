/* th_phase.h — a test that hangs says where. A long test names each phase it enters with the
 * longest that phase may take; the name goes to stderr with a timestamp (unbuffered, so ctest
 * shows it even when it kills the test), and a phase still running past its bound fails the
 * whole test at once with the phase's name, instead of ctest's bare "Timeout" many minutes
 * later. */
#ifndef CONFETTI_TESTS_TH_PHASE_H
#define CONFETTI_TESTS_TH_PHASE_H

/* How much slower this build runs than a plain one: CONFETTI_TEST_TIME_SCALE (set by
 * cmake/Testing.cmake: 2 under ASan+UBSan, 4 under TSan), 1 when unset. Every bound below is
 * multiplied by it; a test scales its own waits with it too. */
int th_time_scale(void);
/* Enters phase `what` (copied), bounded by `seconds` (times th_time_scale()). The bound of the
 * previous phase ends. */
void th_phase(const char *what, int seconds);
/* Leaves the current phase: no bound until the next th_phase. */
void th_phase_end(void);

#endif
