# Thin wrapper over CMake + ctest. `make test` and `make demo` do all set-up on Debian 12.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
JOBS       ?= $(shell nproc)

.PHONY: all deps build asan tsan test lint format demo bench bench-prune fuzz clean

all: build

deps:
	@tools/deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=asan >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# The threaded pipelines under ThreadSanitizer (it cannot share a build with ASan): backup
# workers and store threads at 1 to 8 workers, the parallel restore, backups killed mid-run.
tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=tsan >/dev/null
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target coffer prop_pipeline
	cd $(TSAN_BUILD) && TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
		ctest --output-on-failure \
		-R '^(prop_pipeline|system_test_(restore_workers|roundtrip|crash|resume))$$'

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
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) build-fuzz
