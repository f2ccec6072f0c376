#!/bin/sh
# fuzz.sh - build every tests/fuzz/fuzz_*.c with clang's libFuzzer, ASan and UBSan, and fuzz
# each for FUZZ_SECONDS (default 60) starting from its corpus. New inputs that libFuzzer keeps
# go to build-fuzz/corpus/<name>; copy interesting ones into tests/fuzz/corpus/<name>.
# FUZZ_ONLY=<name> fuzzes one harness (e.g. FUZZ_ONLY=fuzz_fcache).
set -eu
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
out=build-fuzz
mkdir -p "$out"
flags="-std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc"
libs="$(pkg-config --libs libsodium libzstd libcrypto libcurl expat) -lgfshare -llmdb -lpthread"
srcs=$(ls src/*/*.c)
for f in tests/fuzz/fuzz_*.c; do
	name=$(basename "$f" .c)
	[ -z "${FUZZ_ONLY:-}" ] || [ "$name" = "$FUZZ_ONLY" ] || continue
	echo "fuzz: building $name"
	# shellcheck disable=SC2086
	clang $flags -DCF_VERSION='"fuzz"' $srcs "$f" $libs -o "$out/$name"
	mkdir -p "$out/corpus/$name"
	echo "fuzz: running $name for ${secs}s"
	"$out/$name" -max_total_time="$secs" -max_len=65536 "$out/corpus/$name" \
		"tests/fuzz/corpus/$name"
done
