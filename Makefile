# msnkit: thin wrapper around CMake + CTest.
#   make          release build (installs nothing; components whose
#                 libraries are missing are skipped, with a message)
#   make install  install under PREFIX (default /usr/local), staged in DESTDIR
#   make deps     install the Debian packages msnkit needs (apt-get)
# These run `make deps` first, so they work on a fresh machine:
#   make test     deps + build + all tests  make run    start msnd with a demo
#   make asan     ASan/UBSan build + tests  make fuzz   short libFuzzer runs
#   make bench    benchmarks (BENCHMARKS.md) make stress robustness suite
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
# Tests run two per CPU: most of their time is spent waiting (timeouts,
# deadlines, round trips); the suite's CPU time is about a quarter of its
# wall time at one per CPU.
TEST_JOBS  ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 2) * 2 )))
FUZZ_SECONDS ?= 20
CTEST_ARGS ?=
PREFIX     ?= /usr/local
DESTDIR    ?=

# The sanitizer and fuzz trees are made with Ninja when it is installed
# (make deps installs it): CMake's makefiles start a cmake process for every
# file compiled, about 13 % of a build's CPU time on a two-core machine. A
# tree made before keeps its generator. The release tree keeps make's, so
# that the build tests cover both (tests/integration/install).
ninja_for = $(if $(wildcard $(1)/CMakeCache.txt),,$(if $(shell command -v ninja 2>/dev/null),-G Ninja))

.PHONY: all build deps install test run asan fuzz bench stress clean

all: build

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

deps:
	@bash scripts/install-deps.sh

install: build
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

# The targets below set up the machine first; `deps` must finish before the
# build starts, even under `make -j`.
test: deps
	@$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS) $(CTEST_ARGS)

run: deps
	@$(MAKE) --no-print-directory build
	@bash scripts/run-demo.sh $(BUILD)

asan: deps
	cmake -S . -B $(ASAN_BUILD) $(call ninja_for,$(ASAN_BUILD)) -DCMAKE_BUILD_TYPE=Debug -DMSNKIT_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(TEST_JOBS) -LE '^(slow|unsanitized)$$' $(CTEST_ARGS)

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) $(call ninja_for,$(FUZZ_BUILD)) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMSNKIT_FUZZ=ON \
	  -DMSNKIT_WERROR=OFF -DMSNKIT_COMPONENTS="lib/msnp;lib/msnc;src/msnd;src/msnsniff" >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	bash fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

bench: deps
	@$(MAKE) --no-print-directory build
	bash bench/run.sh $(BUILD)

stress: deps
	@$(MAKE) --no-print-directory build
	bash tests/stress/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
