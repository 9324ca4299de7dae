# confetti_test(NAME SOURCES <src>... LIBS <lib>... [PG] [THREADS])
# One test = one process (cmocka). PG marks a test that needs the private PostgreSQL cluster
# started by the `pg_start` fixture (tests/harness); it then gets CONFETTI_TEST_PG in its env.
# THREADS marks a test that exercises our threads (label "threads"): `make test-tsan` runs
# those under ThreadSanitizer (ctest -L threads).
enable_testing()
function(confetti_test name)
  cmake_parse_arguments(T "PG;THREADS" "TIMEOUT" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES} ${CMAKE_SOURCE_DIR}/tests/harness/init/th_init.c)
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA confetti_harness)
  add_test(NAME ${name} COMMAND ${name})
  # TIMEOUT is a hang detector, not a speed check: never under 600 s (the stress run, a busy
  # loop per core on a shared 2-core machine at load 20-35, took tests 4-10x their idle time)
  if(NOT T_TIMEOUT OR T_TIMEOUT LESS 600)
    set(T_TIMEOUT 600)
  endif()
  # the same factor scales the bounds a test puts on its own phases (tests/harness/th_phase.h)
  set(scale 1)
  if(CONFETTI_TSAN) # ThreadSanitizer runs code 5-15x slower
    set(scale 4)
  elseif(CONFETTI_SANITIZE)
    set(scale 2)
  endif()
  math(EXPR T_TIMEOUT "${T_TIMEOUT} * ${scale}")
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT}
                       ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout;CONFETTI_TEST_TIME_SCALE=${scale}")
  if(T_THREADS)
    set_tests_properties(${name} PROPERTIES LABELS threads)
  endif()
  if(T_PG)
    set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED pg
                         ENVIRONMENT "CONFETTI_TEST_PG=${CMAKE_BINARY_DIR}/testpg/env;CMOCKA_MESSAGE_OUTPUT=stdout;CONFETTI_TEST_TIME_SCALE=${scale}")
  endif()
endfunction()
