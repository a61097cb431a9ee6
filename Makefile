# Sextant — the two commands a newcomer needs:
#   make run    install what is missing, build, run the end-to-end demo
#   make test   install what is missing, build, run every test (plus sanitizer builds)
JOBS ?= $(shell nproc)
BUILD ?= build
CMAKE_FLAGS ?=

.PHONY: run test build setup unit-test asan-test tsan-test bench-peers clean

run: build
	./$(BUILD)/sextant demo

test: build unit-test asan-test tsan-test

setup:
	@bash scripts/setup.sh

# Release build; the command-line program lands at build/sextant.
build: setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

unit-test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer.
asan-test: setup
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEXTANT_SANITIZE=address,undefined \
	  -DSEXTANT_BUILD_BENCH=OFF >/dev/null
	cmake --build build-asan -j$(JOBS) --target common_test simd_test dataset_test index_test
	cd build-asan && UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure -j$(JOBS)

# Concurrent code under ThreadSanitizer.
tsan-test: setup
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEXTANT_SANITIZE=thread \
	  -DSEXTANT_BUILD_BENCH=OFF >/dev/null
	cmake --build build-tsan -j$(JOBS) --target index_test
	TSAN_OPTIONS=halt_on_error=1 ./build-tsan/tests/index_test --gtest_filter='*Concurrent*'

# Sextant and its peers on Fashion-MNIST in one run (docs/benchmarks.md).
bench-peers: build
	@bash scripts/setup.sh --peers
	bash bench/ann_vs_peers.sh

clean:
	rm -rf $(BUILD) build-asan build-tsan
