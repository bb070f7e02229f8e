#!/usr/bin/env bash
# Reproduces every figure in BENCHMARKS.md with one command:
#
# 1. tools/k8sbins/build.sh builds (or reuses) kube-apiserver, etcd and kube-controller-manager
#    v1.36.3 and prints their directory: exported as KUBEBUILDER_ASSETS for the scale bench.
# 2. cargo build --release --bin capt-operator: the scale bench runs this binary as a separate
#    process (benches get no CARGO_BIN_EXE_*, so it must exist before the bench starts).
# 3. The criterion micro benches (graph, recovery, operator_paths), with short settings.
# 4. The scale bench against a real API server, for the sizes given (default: 10 100).
#
# Usage: hack/bench.sh [N...]        e.g. hack/bench.sh 10 100 1000
# Environment: CARGO_TARGET_DIR (default ~/.cache/capt-controlplane/target), CRITERION_ARGS
# (default "--warm-up-time 1 --measurement-time 3"), SKIP_MICRO=1 or SKIP_SCALE=1 to run one half.
# PROFILE=perf or PROFILE=heaptrack attaches that profiler to the first capt-operator the scale
# bench starts (use one size) and leaves its data in $PROFILE_DIR (default /tmp): the profiles
# BENCHMARKS.md quotes, e.g. `SKIP_MICRO=1 PROFILE=heaptrack hack/bench.sh 300`, then
# `heaptrack_print -f /tmp/heaptrack.capt-operator.*.zst` or `perf report -i /tmp/capt-operator.perf`.
# Results go to the terminal only; copy them into BENCHMARKS.md by hand, with `cat /proc/loadavg`
# (the machine may be shared, and load changes every figure).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/capt-controlplane/target}
KUBEBUILDER_ASSETS=$(tools/k8sbins/build.sh)
export KUBEBUILDER_ASSETS
read -r -a criterion_args <<<"${CRITERION_ARGS:---warm-up-time 1 --measurement-time 3}"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 100)

echo "hack/bench.sh: $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
cargo build --release --bin capt-operator

if [ "${SKIP_MICRO:-0}" != 1 ]; then
  for bench in graph recovery operator_paths; do
    cargo bench -p capt-controlplane --bench "$bench" -- "${criterion_args[@]}"
  done
fi
# Waits for the operator the scale bench starts and attaches the profiler named by $PROFILE.
attach_profiler() {
  local dir=${PROFILE_DIR:-/tmp} pid= tries=0
  until pid=$(pgrep -x capt-operator); do
    # The bench starts its operator within seconds of starting; past ten minutes it failed.
    tries=$((tries + 1)); [ "$tries" -lt 3000 ] || return 1
    sleep 0.2
  done
  echo "hack/bench.sh: $PROFILE attached to capt-operator $pid; data in $dir"
  case "$PROFILE" in
    perf) perf record -F 199 -g -p "$pid" -o "$dir/capt-operator.perf" ;;
    heaptrack) cd "$dir" && heaptrack -p "$pid" ;;
    *) echo "hack/bench.sh: PROFILE must be perf or heaptrack, not $PROFILE" >&2; return 1 ;;
  esac
}

if [ "${SKIP_SCALE:-0}" != 1 ]; then
  echo "hack/bench.sh: scale, N = ${sizes[*]}; load $(cut -d' ' -f1-3 /proc/loadavg)"
  cargo bench -p capt-controlplane --bench scale --no-run
  if [ -n "${PROFILE:-}" ]; then
    if pgrep -x capt-operator >/dev/null; then
      echo "hack/bench.sh: a capt-operator is already running; stop it so PROFILE finds the bench's" >&2
      exit 1
    fi
    attach_profiler &
  fi
  cargo bench -p capt-controlplane --bench scale -- "${sizes[@]}"
  wait
fi
