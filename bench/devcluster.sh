#!/usr/bin/env bash
# Prints the devcluster's figures: cold build times (from the build cache's timings), warm
# bring-up time from stopped to node Ready, and the RSS of every component at idle.
# It stops and restarts the cluster: other users of the cluster see it vanish for about a minute.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CLUSTER="$ROOT/hack/devcluster/cluster.sh"
CACHE="${CACHE:-$HOME/.cache/secrets-store-csi}"
IDLE_SECONDS="${IDLE_SECONDS:-60}"

print_build_times() {
	echo "== cold build times (last build of each step, $CACHE/build-logs/timings)"
	if [[ -s "$CACHE/build-logs/timings" ]]; then
		awk '{t[$1] = $2} END {for (k in t) printf "  %-16s %s\n", k, t[k]}' "$CACHE/build-logs/timings" | sort
	else
		echo "  (no build recorded: the cache was warm)"
	fi
}

elapsed() { awk -v a="$2" -v b="$EPOCHREALTIME" -v what="$1" 'BEGIN {printf "  %-36s %.1f s\n", what ":", b - a}'; }

measure_warm_bringup() {
	echo "== warm bring-up"
	local start
	start=$EPOCHREALTIME
	"$CLUSTER" down >/dev/null 2>&1
	elapsed "cluster-down" "$start"
	start=$EPOCHREALTIME
	"$CLUSTER" up >/dev/null 2>&1
	elapsed "cluster-up, stopped -> node Ready" "$start"
}

measure_idle_rss() {
	echo "== RSS after ${IDLE_SECONDS}s idle"
	sleep "$IDLE_SECONDS"
	"$CLUSTER" status | sed -n 's/^/  /; /RSS/p'
}

print_build_times
measure_warm_bringup
measure_idle_rss
