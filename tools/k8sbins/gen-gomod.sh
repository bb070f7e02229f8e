#!/usr/bin/env bash
# Regenerates go.mod/go.sum for a Kubernetes release: every staging module is replaced by its
# published tag (k8s v1.N.M <-> staging v0.N.M) and etcd is pinned to the version Kubernetes pins.
# Usage: K8S_VERSION=1.36.3 tools/k8sbins/gen-gomod.sh
# Never hand-maintain the staging list: each minor release may add modules.
set -euo pipefail
cd "$(dirname "$0")"
export GOTOOLCHAIN=local GOFLAGS=-modcacherw
K8S="${K8S_VERSION:?set K8S_VERSION, e.g. 1.36.3}"
ST="v0.${K8S#1.}"
modf=$(cd "$(mktemp -d)" && go mod download -json "k8s.io/kubernetes@v${K8S}" |
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
rm -f go.mod go.sum
go mod init example.invalid/k8sbins
go mod edit -go="$(sed -n 's/^go //p' "$modf")"
g=$(sed -n 's/^godebug //p' "$modf")
[ -n "$g" ] && go mod edit -godebug="$g"
for m in $(sed -n 's|^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/.*|\1|p' "$modf"); do
  go mod edit -replace="${m}=${m}@${ST}"
done
etcd=$(sed -n 's|^[[:space:]]*go\.etcd\.io/etcd/server/v3 \(v[^[:space:]]*\).*|\1|p' "$modf" | head -1)
go mod edit -require="k8s.io/kubernetes@v${K8S}" -require="k8s.io/component-base@${ST}" \
  -require="go.etcd.io/etcd/server/v3@${etcd}"
go mod tidy
