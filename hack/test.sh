#!/usr/bin/env bash
# The project's test command (what CI runs): every test of the workspace against a real
# kube-apiserver + etcd (+ kube-controller-manager), then a check that none of those processes
# outlived the tests.
#
# 1. tools/k8sbins/build.sh builds Kubernetes v1.36.3 from the Go module proxy, or reuses its
#    cache, and prints the binaries' directory: exported as KUBEBUILDER_ASSETS. Likewise
#    tools/capibins/build.sh for Cluster API v1.14.2 (its manager and clusterctl): CAPI_ASSETS,
#    and tools/tfbins/build.sh for provider-terraform v1.1.1 and OpenTofu v1.10.10: TFBINS_ASSETS.
# 2. CAPT_REQUIRE_APISERVER=1: a test that needs the API server and cannot start it fails (it
#    would anyway; this makes the message say the setup is broken).
# 3. CAPT_TEST_RUN_DIR: every control plane the tests start keeps its data, certificates and logs
#    under this fresh directory, so step 5 can find anything left running by command line.
# 4. cargo test --workspace --all-targets, then the doctests (--all-targets does not run them).
# 5. Any process whose command line mentions the run directory is a leak: reported, killed by
#    pid, and the run fails.
#
# Environment: CARGO_TARGET_DIR (default ~/.cache/capt-controlplane/target, shared by CI and
# development so both stay warm), K8SBINS_CACHE (see build.sh), CAPT_TEST_KEEP=1 (keep the plane
# directories and their logs).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/capt-controlplane/target}
KUBEBUILDER_ASSETS=$(tools/k8sbins/build.sh)
export KUBEBUILDER_ASSETS
# The real Cluster API core manager and clusterctl (tests/capi.rs).
CAPI_ASSETS=$(tools/capibins/build.sh)
export CAPI_ASSETS
# The real provider-terraform running OpenTofu (tests/provider_terraform.rs).
TFBINS_ASSETS=$(tools/tfbins/build.sh)
export TFBINS_ASSETS
export CAPT_REQUIRE_APISERVER=1
run_dir=$(mktemp -d "${TMPDIR:-/tmp}/capt-test-run.XXXXXX")
export CAPT_TEST_RUN_DIR=$run_dir
echo "hack/test.sh: KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS CAPI_ASSETS=$CAPI_ASSETS TFBINS_ASSETS=$TFBINS_ASSETS CAPT_TEST_RUN_DIR=$run_dir"

# Pids of processes whose command line contains the run directory (etcd's --data-dir,
# kube-apiserver's --cert-dir, kube-controller-manager's --kubeconfig all do), or whose
# environment points KUBE_CONFIG_PATH into it (provider-terraform and the OpenTofu it runs, which
# take no such argument). Reads /proc directly: no dependency on procps, and no helper process
# whose own arguments would match.
leftovers() {
  local proc cmdline environ
  for proc in /proc/[0-9]*; do
    # Braces, so that 2>/dev/null also covers a process that is gone before `<` opens its file.
    cmdline=$({ tr '\0' ' ' <"$proc/cmdline"; } 2>/dev/null) || continue
    environ=$({ tr '\0' '\n' <"$proc/environ"; } 2>/dev/null) || environ=
    if [[ $cmdline == *"$run_dir"* || $environ == *"KUBE_CONFIG_PATH=$run_dir"* ]]; then
      echo "${proc#/proc/}"
    fi
  done
}

status=0
start=$(date +%s)
cargo test --workspace --all-targets --no-fail-fast || status=$?
cargo test --workspace --doc --no-fail-fast || status=$?
echo "hack/test.sh: tests took $(($(date +%s) - start))s"

pids=$(leftovers)
if [ -n "$pids" ]; then
  echo "hack/test.sh: FAIL: control plane processes outlived the tests:" >&2
  for pid in $pids; do
    echo "  $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-200)" >&2
  done
  # shellcheck disable=SC2086 # one pid per word
  kill -KILL $pids 2>/dev/null || true
  status=1
else
  echo "hack/test.sh: OK: no etcd, kube-apiserver, kube-controller-manager or provider-terraform outlived the tests"
fi

if [ "${CAPT_TEST_KEEP:-}" = 1 ]; then
  echo "hack/test.sh: kept $run_dir (CAPT_TEST_KEEP=1)"
else
  rm -rf "$run_dir"
fi
exit "$status"
