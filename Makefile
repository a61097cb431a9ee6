# Sextant — the two commands a newcomer needs:
#   make run    install what is missing, build, run the end-to-end demo
#   make test   install what is missing, build, run every test (plus sanitizer builds)
JOBS ?= $(shell nproc)
BUILD ?= build
CMAKE_FLAGS ?=
# New build trees use Ninja where installed (scripts/setup.sh installs it): it compiles a
# program's own files while the libraries it links are still being built, which Make's
# target-by-target order does not (on two cores: the ASan build in 338 s instead of 465 s,
# the release build in 426 s instead of 507 s). A tree keeps the generator it was made with.
export CMAKE_GENERATOR ?= $(if $(shell command -v ninja),Ninja,Unix Makefiles)

.PHONY: run test build setup unit-test python-test console-test asan-configure asan-build asan-test \
  asan-run tsan-configure tsan-build tsan-test tsan-run sanitizer-builds fuzz fuzz-run bench-peers clean

run: build
	./$(BUILD)/sextant demo

# The sanitizer stages build once (sanitizer-builds, both side by side), then only run
# (asan-run, tsan-run, fuzz-run): asan-test, tsan-test and fuzz would each check their build
# again (configure and an up-to-date make: 37 s in all). The sanitizer builds start as soon as
# the release build is done, at the lowest priority (nice 19), beside the release build's
# tests: those wait on processes, sockets, disks and a browser and leave a core idle about a
# fifth of their time, which the compilers take, while a test that wants a core gets it at
# once. Their output is shown when both are done; a failing test stops them. (They run in a
# session of their own, so they can be stopped together; where the kernel groups a session's
# processes for scheduling (autogroup), the group gets the low priority too.)
test: build
	@setsid sh -c '{ echo 19 > /proc/self/autogroup; } 2>/dev/null; exec nice -n 19 $(MAKE) --no-print-directory sanitizer-builds' \
	  > $(BUILD)/sanitizer-builds.log 2>&1 & san=$$!; \
	  { $(UNIT_TEST_RUN) && $(PYTHON_TEST_RUN) && $(CONSOLE_TEST_RUN); }; rc=$$?; \
	  if [ $$rc -ne 0 ]; then kill -- -$$san 2>/dev/null; wait $$san; exit $$rc; fi; \
	  wait $$san; brc=$$?; cat $(BUILD)/sanitizer-builds.log; \
	  if [ $$brc -ne 0 ]; then echo "sanitizer-builds FAILED"; exit $$brc; fi
	@$(MAKE) --no-print-directory asan-run tsan-run fuzz-run

setup:
	@BUILD_DIR=$(BUILD) bash scripts/setup.sh

# Release build, warnings as errors; the command-line program lands at build/sextant.
# `make test` leaves the Google Benchmark programs out (BENCH=OFF: CI time); `make build`,
# `make run` and `make bench-peers` build them. It also leaves out the fuzz targets' replay
# tests (FUZZ_REPLAY=OFF), whose seeds its fuzz stage runs under libFuzzer and ASan.
BENCH ?= ON
FUZZ_REPLAY ?= ON
# The libraries and programs (SEXTANT_UNITY, CMakeLists.txt) and the test programs
# (SEXTANT_UNITY_TESTS, tests/CMakeLists.txt) as unity builds in every build made here: the
# release build in 281 instead of 458 s on two cores. UNITY=OFF and UNITY_TESTS=OFF compile
# them file by file (quicker to rebuild one edited file).
UNITY ?= ON
UNITY_TESTS ?= ON
test: BENCH = OFF
test: FUZZ_REPLAY = OFF
build: setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DSEXTANT_WERROR=ON -DSEXTANT_BUILD_BENCH=$(BENCH) \
	  -DSEXTANT_FUZZ_REPLAY=$(FUZZ_REPLAY) -DSEXTANT_UNITY=$(UNITY) -DSEXTANT_UNITY_TESTS=$(UNITY_TESTS) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# The sustained-overwrite load test runs under TSan only in `make test` (CI time; alone, with
# SEXTANT_OVERWRITE_SECONDS=60, it is the measurement in docs/benchmarks.md).
UNIT_TEST_RUN = (cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -E '^IndexerHostile\.Sustained')
unit-test: build
	$(UNIT_TEST_RUN)

# The Python package (python/): its pytest suite against build/python and build/sextant, with
# Debian's interpreter; skips with a message when the extension was not built (no pybind11).
PYTHON_TEST_RUN = PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$(BUILD)/python SEXTANT_CLI=$(CURDIR)/$(BUILD)/sextant \
  /usr/bin/python3 -m pytest -q -p no:cacheprovider python/tests
python-test: build
	$(PYTHON_TEST_RUN)

# The web console (console/, served at /console) in a real browser: tests/console drives
# Debian's chromium with playwright-core (both installed by scripts/setup.sh) against
# $(BUILD)/sextant serve, and saves a screenshot of each screen under $(BUILD)/console-test
# (SCREENSHOT_DIR=docs/console refreshes the README's). Skips, saying so, without either.
CONSOLE_PW = $(BUILD)/console-test/node_modules
CONSOLE_TEST_RUN = if [ ! -x /usr/bin/chromium ] || [ ! -d $(CONSOLE_PW)/playwright-core ]; then \
	  echo "console-test: SKIPPED: needs /usr/bin/chromium and $(CONSOLE_PW)/playwright-core (scripts/setup.sh installs both)"; \
	else \
	  SEXTANT_BIN=$(BUILD)/sextant PLAYWRIGHT_DIR=$(CONSOLE_PW) SCREENSHOT_DIR=$${SCREENSHOT_DIR:-$(BUILD)/console-test/screenshots} \
	    node --test tests/console/console.test.mjs; \
	fi
console-test: build
	@$(CONSOLE_TEST_RUN)

# The test suite under AddressSanitizer + UndefinedBehaviorSanitizer. One clang build serves
# both this and the fuzz targets below (coverage-instrumented, which the tests ignore), so CI
# compiles the code three times (release, ASan+fuzz, TSan) rather than four; -O1, line
# tables only, unity builds of the libraries (SEXTANT_UNITY) and lld keep the sanitizer builds
# quick, and they leave the cluster layer out (its tests run in the release stage).
SAN_FLAGS = -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -DSEXTANT_BUILD_BENCH=OFF -DSEXTANT_CLUSTER=OFF -DSEXTANT_UNITY=$(UNITY) \
  -DSEXTANT_UNITY_TESTS=$(UNITY_TESTS)
FUZZ_TARGETS = vector_file_fuzz hnsw_load_fuzz wal_reader_fuzz filter_parse_fuzz server_request_fuzz \
  json_parse_fuzz engine_record_fuzz vector_index_load_fuzz safetensors_fuzz tokenizer_fuzz fuzz_make_seeds

asan-configure: setup
	cmake -S . -B build-asan -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ $(SAN_FLAGS) \
	  -DSEXTANT_SANITIZE=address,undefined \
	  -DSEXTANT_FUZZ=ON >/dev/null

# The checks over the Fashion-MNIST files (RealData slices, FashionMnistTest) and the filtered
# recall per layout (Layouts/: brute force in the test's own code) run in the release stage:
# here they are data reads and arithmetic, slow under ASan, with no new paths.
# Also left out here (CI time): the quantized collections' recall family (Indexes/: release
# stage only; the IVF/PQ/SQ8 indexes themselves run here in index_test) and the sustained-load
# tests (IndexerHostile.Sustained*, SegmentTest's concurrent overwrites and churn: release and
# TSan stages), which repeat the same paths for seconds, three randomized twins (payload
# index, pruned BM25, planner against brute force) and two long single-threaded file tests
# (a crash at every write, a log round trip): release stage. QuietTest's merge cap (4,352 points
# through 68 segments and two merges): release and TSan stages. The scenarios run against the
# HTTP server only (the embedded twin drives the same engine calls without the server between).
ASAN_SKIP = RealData|^Scenarios/ScenarioTest\.Run/[a-z0-9_]*_embedded|^FashionMnistTest\.|^Layouts/|^Indexes/|^IndexerHostile\.Sustained|^SegmentTest\.(ConcurrentOverwrites|ChurnIs)|^QuietTest\.MergesStopAtTheCap|^PayloadIndexRandomTest\.|^InvertedIndexTest\.PrunedSearchEqualsExhaustive|^FilterPlannerTest\.GraphSegmentAgainstBruteForce|^DurabilityTest\.CrashAtEveryWrite|^LogTest\.RoundTripThroughAFile
ASAN_PROGRAMS = common_test simd_test dataset_test index_test storage_test filter_test text_test \
  codec_test engine_test cli_test server_test hostile_test scenario_test embed_test sextant
# The test programs and the fuzz targets (make fuzz) in one build.
asan-build: asan-configure
	cmake --build build-asan -j$(JOBS) --target $(ASAN_PROGRAMS) $(FUZZ_TARGETS)
asan-test: asan-build
	@$(MAKE) --no-print-directory asan-run
asan-run:
	cd build-asan && UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure -j$(JOBS) \
	  -E '$(ASAN_SKIP)'

# The two sanitizer builds side by side (make test; CI time): each alone leaves a core idle for
# a good part of its time (linking, a library's last files), so together on two cores they
# take well under the sum of their times. -O prints each build's output whole when it ends.
sanitizer-builds:
	$(MAKE) --no-print-directory -j2 -O asan-build tsan-build

# Every test program that runs threads under ThreadSanitizer (whole programs, less the named
# single-threaded suites below: a new concurrent test is covered without anyone remembering to
# add it), in parallel through ctest. OpenBLAS runs single-threaded here: its own threads are not instrumented and
# read as races. The Fashion-MNIST slices (RealData: single-threaded, slow under TSan) run in
# the other two builds.
# server_test and embed_test run in the release and ASan stages only (CI time): the HTTP
# transport's threads are exercised here by hostile_test's HTTP suites; the embedding
# provider's shared use from many threads (ProviderTest) is not checked under TSan.
TSAN_PROGRAMS = index_test storage_test engine_test hostile_test
# Left out here to keep CI within its time, run by the other builds: suites with no thread of
# their own (parsers, kernels, damaged files, the model store, the filter planner against brute
# force, HNSW files, the crash at every write), and the recall/conformance families (every
# index kind, HNSW per metric and storage, filtered recall per layout, the quantized
# collections — release stage only — and SegmentTest's churn), whose only threads are index
# builds that the concurrent suites (HnswIndexTest, SegmentTest's overwrites, IndexerHostile,
# Kinds, ...) exercise under TSan. HNSW's in-link repair after removal rounds
# (HnswIndexTest.BatchesAndRemovals...: single-threaded removals between the same parallel
# batches the concurrent HNSW tests run here) and the screened float walk against brute force
# (HnswIndexTest.ScreenedF32...: an index built on two threads, then single-threaded searches;
# 18 s under TSan): release and ASan stages.
TSAN_SKIP = RealData|^(BertDamaged|DamagedModel|Tokenizer|TokenizerJson|TokenizerVocabTxt|PotionTokenizer|SafeTensors|Model2Vec|ModelStoreTest|ModelRegistry|BertKernels|FilterPlannerTest|HnswFileTest)\.|^(AllIndexes|MetricsAndStorage|Layouts|Indexes)/|^SegmentTest\.ChurnIs|^DurabilityTest\.CrashAtEveryWrite|^HnswIndexTest\.(BatchesAndRemovals|ScreenedF32)
tsan-configure: setup
	cmake -S . -B build-tsan $(SAN_FLAGS) -DSEXTANT_SANITIZE=thread -DSEXTANT_TEST_CLI=OFF >/dev/null
tsan-build: tsan-configure
	cmake --build build-tsan -j$(JOBS) --target $(TSAN_PROGRAMS) sextant
tsan-test: tsan-build
	@$(MAKE) --no-print-directory tsan-run
tsan-run:
	cd build-tsan && SEXTANT_OVERWRITE_SECONDS=4 OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j$(JOBS) \
	  -L '^($(subst $(eval) ,|,$(TSAN_PROGRAMS)))$$' -E '$(TSAN_SKIP)'

# The parsers under libFuzzer (clang, ASan+UBSan): each target first runs every generated seed
# and every input kept in tests/fuzz/regressions/TARGET whole (what FuzzReplay.TARGET does in
# the other builds; a corpus run would cut them to -max_len), then fuzzes for FUZZ_SECONDS.
FUZZ_SECONDS ?= 1
fuzz: asan-build
	@$(MAKE) --no-print-directory fuzz-run
fuzz-run:
	rm -rf build-asan/seeds && mkdir -p build-asan/seeds build-asan/corpus-vf build-asan/corpus-hnsw \
	  build-asan/corpus-wal build-asan/corpus-filter build-asan/corpus-server build-asan/corpus-json \
	  build-asan/corpus-record build-asan/corpus-vindex build-asan/corpus-safetensors build-asan/corpus-tokenizer
	./build-asan/tests/fuzz/fuzz_make_seeds build-asan/seeds
	@for t in vector_file_fuzz:corpus-vf:4096 hnsw_load_fuzz:corpus-hnsw:16384 \
	    wal_reader_fuzz:corpus-wal:4096 filter_parse_fuzz:corpus-filter:1024 \
	    server_request_fuzz:corpus-server:4096 json_parse_fuzz:corpus-json:4096 \
	    engine_record_fuzz:corpus-record:4096 vector_index_load_fuzz:corpus-vindex:16384 \
	    safetensors_fuzz:corpus-safetensors:4096 tokenizer_fuzz:corpus-tokenizer:1024; do \
	  set -- $$(echo $$t | tr : ' '); \
	  ./build-asan/tests/fuzz/$$1 build-asan/seeds/* $$(find tests/fuzz/regressions/$$1 -type f 2>/dev/null) \
	    > build-asan/$$1.replay.log 2>&1 \
	    || { tail -n 40 build-asan/$$1.replay.log; echo "fuzz: $$1 FAILED on a seed or kept input"; exit 1; }; \
	  echo "fuzz: $$1: $$(grep -c '^Executed' build-asan/$$1.replay.log) inputs replayed; fuzzing for $(FUZZ_SECONDS) s"; \
	  ./build-asan/tests/fuzz/$$1 -max_total_time=$(FUZZ_SECONDS) -max_len=$$3 \
	    -artifact_prefix=build-asan/ build-asan/$$2 build-asan/seeds > build-asan/$$1.log 2>&1 \
	    || { tail -n 40 build-asan/$$1.log; echo "fuzz: $$1 FAILED (input saved under build-asan/)"; exit 1; }; \
	  tail -n 1 build-asan/$$1.log; \
	done

# Sextant and its peers on Fashion-MNIST in one run (docs/benchmarks.md).
bench-peers: build
	@bash scripts/setup.sh --peers
	bash bench/ann_vs_peers.sh

clean:
	rm -rf $(BUILD) build-asan build-tsan
