# Confetti — the two commands: `make run` and `make test` (each installs what it needs).
# Also: make up / make down (the platform in the background), make bench, make rehearsal
# (replicas, rolling restarts and kills under load; make rehearsal-scale), make format,
# make test-tsan (the threaded tests under ThreadSanitizer), make fuzz (every libFuzzer target for
# FUZZ_SECONDS each; docs/fuzzing.md).
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
JOBS       ?= $(shell nproc)

.PHONY: all deps build build-asan build-tsan build-fuzz test test-fast test-tsan fuzz fuzz-seeds \
        run up down bench bench-peer rehearsal rehearsal-short rehearsal-scale format format-check clean

all: build

deps:
	@tools/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

build-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCONFETTI_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)

# The libFuzzer targets (tests/fuzz): clang, its own build directory, nothing else built there.
build-fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCONFETTI_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzz_all

# The whole suite twice: an optimized build, then under AddressSanitizer + UBSan; then every
# fuzz target for a few seconds from its seed corpus.
test: build build-asan build-fuzz
	ctest --test-dir $(BUILD) --output-on-failure -j2
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j2
	ctest --test-dir $(FUZZ_BUILD) --output-on-failure -j2

# Every fuzz target for FUZZ_SECONDS (default 60) each; the corpus grows in $(FUZZ_BUILD).
fuzz: build-fuzz
	@tools/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Rewrites the committed seed corpora (tests/fuzz/corpus) from real messages (tests/fuzz/seeds.c).
fuzz-seeds: build-fuzz
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target confetti-fuzz-seeds
	rm -rf tests/fuzz/corpus
	$(FUZZ_BUILD)/tests/fuzz/confetti-fuzz-seeds tests/fuzz/corpus

# The tests labelled "threads" (cmake/Testing.cmake) under ThreadSanitizer, in their own build.
# Not part of `make test`: it takes minutes (docs/operations.md, "Testing"). Any report fails
# the test; tests/tsan.supp silences only races inside nng and libpq, which are not
# instrumented. The event-stream test runs 20,000 events here instead of 100,000.
build-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCONFETTI_TSAN=ON >/dev/null
	@cmake --build $(TSAN_BUILD) -j$(JOBS)

test-tsan: build-tsan
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=\"$(CURDIR)/tests/tsan.supp\"" \
	  CONFETTI_TEST_EVENTS=20000 ctest --test-dir $(TSAN_BUILD) -L threads --output-on-failure -j2

test-fast: build
	ctest --test-dir $(BUILD) --output-on-failure -j2

run: build
	@tools/dev/run.sh foreground

up: build
	@tools/dev/run.sh background

down:
	@tools/dev/run.sh stop

bench: build
	@tools/bench/run.sh $(BUILD)

# The same benchmarks, with the Node.js peer (../shared/peers/fastify) measured first in this same
# invocation and printed beside the gateway rows with ratios (PEER_RUNS, PEER_DUR: tools/bench/peer.sh).
bench-peer: build
	@runs=$$(tools/bench/peer.sh $(BUILD)) && CONFETTI_PEER_RUNS=$$runs tools/bench/run.sh $(BUILD)

# The scale-out rehearsal (tools/rehearsal/run.sh; docs/operations.md "Rehearsal"): 2 buses,
# 2 gateways, 2 auth, 2 catalog, 3 rooms, 3 draw on 127.0.0.x, peers by name, under load; every
# replica restarted (SIGTERM), one of each SIGKILLed; then the throughput at 1, 2 and 3 replicas
# of rooms and draw. Free ports only (no clash with make run). Exits non-zero when a goal is missed.
rehearsal: build
	@tools/rehearsal/run.sh $(BUILD) full
	@tools/rehearsal/run.sh $(BUILD) scale

rehearsal-short: build
	@tools/rehearsal/run.sh $(BUILD) short

rehearsal-scale: build
	@tools/rehearsal/run.sh $(BUILD) scale

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	@git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
