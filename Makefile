# Thin wrapper over CMake + ctest. `make test` and `make demo` do all set-up on Debian 12.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)

.PHONY: all deps build asan test lint format demo bench bench-prune fuzz clean

all: build

deps:
	@tools/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=asan >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

lint: deps
	tools/lint.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# The whole suite runs under AddressSanitizer and UndefinedBehaviorSanitizer.
test: lint build asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

demo: build
	tools/demo.sh $(BUILD)

bench: build
	bench/run.sh $(BUILD)/coffer

bench-prune: build
	bench/prune.sh $(BUILD)/coffer

fuzz: deps
	tools/fuzz.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
