# Sextant — the two commands a newcomer needs:
#   make run    install what is missing, build, run the end-to-end demo
#   make test   install what is missing, build, run every test (plus sanitizer builds)
JOBS ?= $(shell nproc)
BUILD ?= build
CMAKE_FLAGS ?=

.PHONY: run test build setup unit-test asan-test tsan-test fuzz bench-peers clean

run: build
	./$(BUILD)/sextant demo

test: build unit-test asan-test tsan-test fuzz

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
	cmake --build build-asan -j$(JOBS) --target common_test simd_test dataset_test index_test \
	  storage_test filter_test text_test engine_test cli_test server_test sextant
	cd build-asan && UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure -j$(JOBS)

# Concurrent code under ThreadSanitizer.
tsan-test: setup
	cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEXTANT_SANITIZE=thread \
	  -DSEXTANT_BUILD_BENCH=OFF >/dev/null
	cmake --build build-tsan -j$(JOBS) --target index_test engine_test storage_test sextant
	TSAN_OPTIONS=halt_on_error=1 ./build-tsan/tests/index_test --gtest_filter='*Concurrent*'
	TSAN_OPTIONS=halt_on_error=1 ./build-tsan/tests/engine/engine_test --gtest_filter='*Concurrent*:*Snapshot*'
	TSAN_OPTIONS=halt_on_error=1 ./build-tsan/tests/storage/storage_test

# The parsers under libFuzzer (clang), FUZZ_SECONDS each, starting from generated seeds.
FUZZ_SECONDS ?= 10
fuzz: setup
	CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEXTANT_FUZZ=ON \
	  -DSEXTANT_SANITIZE=address,undefined -DSEXTANT_BUILD_TESTS=OFF -DSEXTANT_BUILD_BENCH=OFF >/dev/null
	cmake --build build-fuzz -j$(JOBS) --target vector_file_fuzz hnsw_load_fuzz wal_reader_fuzz \
	  filter_parse_fuzz server_request_fuzz fuzz_make_seeds
	rm -rf build-fuzz/seeds && mkdir -p build-fuzz/seeds build-fuzz/corpus-vf build-fuzz/corpus-hnsw \
	  build-fuzz/corpus-wal build-fuzz/corpus-filter build-fuzz/corpus-server
	./build-fuzz/tests/fuzz/fuzz_make_seeds build-fuzz/seeds
	@for t in vector_file_fuzz:corpus-vf:4096 hnsw_load_fuzz:corpus-hnsw:16384 \
	    wal_reader_fuzz:corpus-wal:4096 filter_parse_fuzz:corpus-filter:1024 \
	    server_request_fuzz:corpus-server:4096; do \
	  set -- $$(echo $$t | tr : ' '); \
	  echo "fuzz: $$1 for $(FUZZ_SECONDS) s"; \
	  ./build-fuzz/tests/fuzz/$$1 -max_total_time=$(FUZZ_SECONDS) -max_len=$$3 \
	    -artifact_prefix=build-fuzz/ build-fuzz/$$2 build-fuzz/seeds > build-fuzz/$$1.log 2>&1 \
	    || { tail -n 40 build-fuzz/$$1.log; echo "fuzz: $$1 FAILED (input saved under build-fuzz/)"; exit 1; }; \
	  tail -n 1 build-fuzz/$$1.log; \
	done

# Sextant and its peers on Fashion-MNIST in one run (docs/benchmarks.md).
bench-peers: build
	@bash scripts/setup.sh --peers
	bash bench/ann_vs_peers.sh

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
