# shellcheck shell=bash
# lib.sh - what the benchmark scripts share (sourced by run.sh, prune.sh and bigindex.sh).
#
#   bench_tools_check NAME   TOOLS must name coffer/restic/borg only; with coffer, $COFFER
#                            must be an executable (made absolute); installs missing Debian
#                            packages (time, restic, borgbackup) when root. Uses die/usage.
#   bench_parse_time FILE    "wall user sys maxrss_kib" from a /usr/bin/time -v report

bench_tools_check() {
	local name=$1 t need_pkgs=""
	case " $TOOLS " in
	*" coffer "*)
		[ -n "$COFFER" ] || usage
		[ -x "$COFFER" ] || die "'$COFFER' is not an executable"
		COFFER=$(cd "$(dirname "$COFFER")" && pwd)/$(basename "$COFFER")
		;;
	esac
	for t in $TOOLS; do
		case "$t" in
		coffer | restic | borg) ;;
		*) die "unknown tool '$t' in TOOLS (coffer, restic, borg)" ;;
		esac
	done
	[ -x /usr/bin/time ] || need_pkgs="$need_pkgs time"
	case " $TOOLS " in *" restic "*) command -v restic >/dev/null || need_pkgs="$need_pkgs restic" ;; esac
	case " $TOOLS " in *" borg "*) command -v borg >/dev/null || need_pkgs="$need_pkgs borgbackup" ;; esac
	if [ -n "$need_pkgs" ]; then
		[ "$(id -u)" = 0 ] || die "missing Debian packages:$need_pkgs"
		echo "$name: installing$need_pkgs"
		# shellcheck disable=SC2086 # a list of package names
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need_pkgs \
			>/dev/null || die "apt-get install failed"
	fi
	command -v python3 >/dev/null || die "python3 is needed"
}

bench_parse_time() {
	awk -F': ' '
	/Elapsed \(wall clock\)/ {
		n = split($NF, p, ":"); w = 0
		for (i = 1; i <= n; i++) w = w * 60 + p[i]
	}
	/User time \(seconds\)/ { u = $NF }
	/System time \(seconds\)/ { s = $NF }
	/Maximum resident set size/ { m = $NF }
	END { printf "%.2f %.2f %.2f %d\n", w, u, s, m }' "$1"
}
