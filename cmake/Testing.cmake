# confetti_test(NAME SOURCES <src>... LIBS <lib>... [PG] [THREADS])
# One test = one process (cmocka). PG marks a test that needs the private PostgreSQL cluster
# started by the `pg_start` fixture (tests/harness); it then gets CONFETTI_TEST_PG in its env.
# THREADS marks a test that exercises our threads (label "threads"): `make test-tsan` runs
# those under ThreadSanitizer (ctest -L threads).
enable_testing()

# What every test process of a sanitizer build gets: nng 1.5.2 loses a message sent to a closing
# connection, and tests/lsan-nng152.supp names the one allocator that loss can show (and why).
# The path in double quotes: the sanitizer splits its options at spaces, and .ci/run's checkout
# path has a space and a quote. Script tests (add_test) get it through confetti_test_env.
set(CONFETTI_SANITIZER_ENV "")
if(CONFETTI_SANITIZE)
  set(CONFETTI_SANITIZER_ENV
      "LSAN_OPTIONS=suppressions=\"${CMAKE_SOURCE_DIR}/tests/lsan-nng152.supp\"")
endif()
function(confetti_test_env)
  if(CONFETTI_SANITIZER_ENV)
    set_property(TEST ${ARGN} APPEND PROPERTY ENVIRONMENT "${CONFETTI_SANITIZER_ENV}")
  endif()
endfunction()
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
  set(env "CMOCKA_MESSAGE_OUTPUT=stdout;CONFETTI_TEST_TIME_SCALE=${scale}")
  list(APPEND env ${CONFETTI_SANITIZER_ENV})
  if(T_PG)
    list(APPEND env "CONFETTI_TEST_PG=${CMAKE_BINARY_DIR}/testpg/env")
    set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED pg)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} ENVIRONMENT "${env}")
  if(T_THREADS)
    set_tests_properties(${name} PROPERTIES LABELS threads)
  endif()
endfunction()
