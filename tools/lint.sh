#!/bin/sh
# lint.sh - what the compilers and clang-format cannot check (curl's checksrc idea):
# banned functions, memcmp in secret-handling code, printing from the library.
set -eu
cd "$(dirname "$0")/.."
fail=0

files=$(git ls-files 'src/*.c' 'src/*.h' 'cli/*.c' 'cli/*.h' 'server/*.c' 'server/*.h' 2>/dev/null || true)
[ -n "$files" ] || files=$(find src cli -name '*.[ch]' 2>/dev/null)

banned='(^|[^_a-z0-9])(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|strtok|strncpy|sscanf|rand|srand|alloca)[[:space:]]*\('
for f in $files; do
	[ -f "$f" ] || continue
	if grep -nE "$banned" "$f" | grep -v 'lint: allow'; then
		echo "lint: $f: banned function" >&2
		fail=1
	fi
done

for f in $(echo "$files" | tr ' ' '\n' | grep -E '^(src/crypto/|src/keys/|src/recovery/|src/device/|server/auth)' || true); do
	[ -f "$f" ] || continue
	if grep -nE '(^|[^_a-z])memcmp[[:space:]]*\(' "$f" | grep -v 'lint: allow'; then
		echo "lint: $f: memcmp in secret-handling code (use sodium_memcmp)" >&2
		fail=1
	fi
done

for f in $(echo "$files" | tr ' ' '\n' | grep '^src/' || true); do
	[ -f "$f" ] || continue
	if grep -nE '(^|[^_a-z])(printf|fprintf|puts|perror|exit)[[:space:]]*\(' "$f" | grep -v 'lint: allow'; then
		echo "lint: $f: the library never prints or exits" >&2
		fail=1
	fi
done

if command -v clang-format >/dev/null 2>&1; then
	cfiles=$(git ls-files '*.c' '*.h' 2>/dev/null || true)
	for f in $cfiles; do
		[ -f "$f" ] || continue
		if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
			echo "lint: $f: clang-format disagrees (run 'make format')" >&2
			fail=1
		fi
	done
fi

[ "$fail" = 0 ] && echo "lint: ok"
exit "$fail"
