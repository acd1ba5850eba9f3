# The commands people type. CMake + Ninja do the building underneath.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
CMAKE_ARGS ?=
JOBS       ?= $(shell nproc)

.PHONY: all deps build demo test test-fast test-asan test-tsan bench install clean format format-check

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake -S . -B $(BUILD) -G Ninja $(CMAKE_ARGS) >/dev/null
	@ninja -C $(BUILD)

# Build and run every example on the embedded runtime.
demo: build
	@scripts/run-demo $(BUILD)/examples

# The full suite: the normal build, then the same tests under ASan+UBSan.
test: test-fast test-asan

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug \
	    -DCMAKE_C_COMPILER=clang -DWEFT_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	@ninja -C $(ASAN_BUILD)
	@cd $(ASAN_BUILD) && WEFT_TEST_SCALE=sanitize ctest --output-on-failure -j$(JOBS)

# The suite under ThreadSanitizer (CI runs it after make test): races in
# the runtime, the cluster driver and the daemons (their logs are checked).
test-tsan: deps
	@cmake -S . -B $(TSAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DCMAKE_C_COMPILER=clang -DWEFT_TSAN=ON $(CMAKE_ARGS) >/dev/null
	@ninja -C $(TSAN_BUILD)
	@cd $(TSAN_BUILD) && WEFT_TEST_SCALE=sanitize \
	    TSAN_OPTIONS=halt_on_error=1 ctest --output-on-failure -j$(JOBS)

bench: build
	@scripts/run-bench $(BUILD)

install: build
	@cmake --install $(BUILD)
	@if [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

# The look is the checked-in .clang-format's; CI fails on any difference.
format-check:
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
