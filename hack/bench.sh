#!/usr/bin/env bash
# Reproduces every figure in BENCHMARKS.md with one command:
#
# 1. tools/k8sbins/build.sh builds (or reuses) kube-apiserver, etcd and kube-controller-manager
#    v1.36.3 and prints their directory: exported as KUBEBUILDER_ASSETS for the scale bench.
# 2. cargo build --release --bin capt-operator: the scale bench runs this binary as a separate
#    process (benches get no CARGO_BIN_EXE_*, so it must exist before the bench starts).
# 3. The criterion micro benches (graph, recovery, operator_paths), with short settings.
# 4. The scale bench against a real API server, for the sizes given (default: 10 100). Each N
#    leaves one JSON report in $SCALE_RESULTS_DIR (default benches/results/):
#    <YYYYMMDD-HHMMSS>-<mode>-n<N>.json, with the commit, $SCALE_LABEL, the machine and the load.
# 5. The scale tables rendered from every JSON report in that directory (`scale --render`), one
#    table per Workspace API mode with a column per report (label and N, oldest first), written
#    into BENCHMARKS.md between the lines `<!-- scale-results:begin -->` and
#    `<!-- scale-results:end -->` (printed instead, with a notice, when the markers are missing).
#    Delete or move the reports that should not be in the tables before running.
#
# Usage: hack/bench.sh [BENCH ARG...]     e.g. hack/bench.sh 10 100 1000
#   Every argument goes to the scale bench: sizes, and `--workspace-api cluster-scoped`.
# Environment:
#   WORKSPACE_API=cluster-scoped   the same as `--workspace-api cluster-scoped` (default
#                                  namespaced): the operator, the simulator and the bench's watches
#                                  use the legacy cluster-scoped tf.upbound.io Workspaces;
#   SCALE_LABEL=before             free text in each report, heading its column (e.g. before/after);
#   SCALE_RESULTS_DIR              where the reports go and the tables come from;
#   RENDER_ONLY=1                  only re-render the tables into BENCHMARKS.md from the reports
#                                  already there (no k8s binaries, no operator build, no runs,
#                                  no KUBEBUILDER_ASSETS);
#   CARGO_TARGET_DIR (default ~/.cache/capt-controlplane/target), CRITERION_ARGS (default
#   "--warm-up-time 1 --measurement-time 3"), SKIP_MICRO=1 or SKIP_SCALE=1 to run one half (the
#   tables are rendered only after scale runs, or with RENDER_ONLY=1).
# E.g. both modes, before and after a change:
#   SKIP_MICRO=1 SCALE_LABEL=before hack/bench.sh 100
#   SKIP_MICRO=1 SCALE_LABEL=before WORKSPACE_API=cluster-scoped hack/bench.sh 100
#   (change, commit) SKIP_MICRO=1 SCALE_LABEL=after hack/bench.sh 100; ... the same with WORKSPACE_API
# PROFILE=perf or PROFILE=heaptrack attaches that profiler to the first capt-operator the scale
# bench starts (use one size) and leaves its data in $PROFILE_DIR (default /tmp): the profiles
# BENCHMARKS.md quotes, e.g. `SKIP_MICRO=1 PROFILE=heaptrack hack/bench.sh 300`, then
# `heaptrack_print -f /tmp/heaptrack.capt-operator.*.zst` or `perf report -i /tmp/capt-operator.perf`.
# The micro benches' results go to the terminal only; copy them into BENCHMARKS.md by hand, with
# `cat /proc/loadavg` (the machine may be shared, and load changes every figure).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/capt-controlplane/target}
results_dir=${SCALE_RESULTS_DIR:-$root/benches/results}
export SCALE_RESULTS_DIR=$results_dir
begin_marker='<!-- scale-results:begin -->'
end_marker='<!-- scale-results:end -->'

# Renders every report in $results_dir (oldest first: the names start with the time) and writes
# the tables into BENCHMARKS.md between the markers.
render_results() {
  local files=() tables doc=BENCHMARKS.md line state=before out=
  shopt -s nullglob
  files=("$results_dir"/*.json)
  shopt -u nullglob
  if [ ${#files[@]} -eq 0 ]; then
    echo "hack/bench.sh: no scale reports in $results_dir; nothing to render" >&2
    return 0
  fi
  echo "hack/bench.sh: rendering ${#files[@]} scale report(s) from $results_dir"
  tables=$(cargo bench -p capt-controlplane --bench scale -- --render "${files[@]}")
  while IFS= read -r line || [ -n "$line" ]; do
    case $state in
      before)
        out+=$line$'\n'
        if [ "$line" = "$begin_marker" ]; then
          out+=$'\n'$tables$'\n\n'
          state=inside
        fi
        ;;
      inside)
        if [ "$line" = "$end_marker" ]; then
          out+=$line$'\n'
          state=after
        fi
        ;;
      after) out+=$line$'\n' ;;
    esac
  done <"$doc"
  if [ "$state" != after ]; then
    printf '%s\n\n' "$tables"
    echo "hack/bench.sh: $doc has no lines '$begin_marker' and '$end_marker' (in that order);" \
      "the tables above were not written into it" >&2
    return 0
  fi
  printf '%s' "$out" >"$doc.tmp"
  mv "$doc.tmp" "$doc"
  echo "hack/bench.sh: scale tables written into $doc"
}

if [ "${RENDER_ONLY:-0}" = 1 ]; then
  render_results
  exit 0
fi

KUBEBUILDER_ASSETS=$(tools/k8sbins/build.sh)
export KUBEBUILDER_ASSETS
read -r -a criterion_args <<<"${CRITERION_ARGS:---warm-up-time 1 --measurement-time 3}"
bench_args=("$@")
if [ -n "${WORKSPACE_API:-}" ]; then
  bench_args=(--workspace-api "$WORKSPACE_API" "${bench_args[@]}")
fi
# Default sizes when none is given.
has_size=0
for arg in "$@"; do
  case $arg in '' | *[!0-9]*) ;; *) has_size=1 ;; esac
done
[ "$has_size" = 1 ] || bench_args+=(10 100)

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
  echo "hack/bench.sh: scale, ${bench_args[*]}; load $(cut -d' ' -f1-3 /proc/loadavg)"
  cargo bench -p capt-controlplane --bench scale --no-run
  if [ -n "${PROFILE:-}" ]; then
    if pgrep -x capt-operator >/dev/null; then
      echo "hack/bench.sh: a capt-operator is already running; stop it so PROFILE finds the bench's" >&2
      exit 1
    fi
    attach_profiler &
  fi
  cargo bench -p capt-controlplane --bench scale -- "${bench_args[@]}"
  wait
  render_results
fi
