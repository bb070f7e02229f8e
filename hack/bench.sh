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
if [ "${SKIP_SCALE:-0}" != 1 ]; then
  echo "hack/bench.sh: scale, N = ${sizes[*]}; load $(cut -d' ' -f1-3 /proc/loadavg)"
  cargo bench -p capt-controlplane --bench scale -- "${sizes[@]}"
fi
