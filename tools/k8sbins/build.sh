#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kube-controller-manager from the Go module proxy into a cache
# directory outside the repository and prints that directory: a KUBEBUILDER_ASSETS directory.
#
# The cache key holds the Kubernetes, etcd and Go versions and a hash of go.sum, so any change to
# the pins builds afresh. A build goes to <dir>.tmp.<pid> and is renamed into place only when every
# binary is there, so a killed build never leaves a half-filled cache. A cache hit costs nothing.
#
# Environment: K8SBINS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/capt-k8sbins).
# Progress goes to stderr; stdout is only the directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-modcacherw

k8s=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
etcd=$(go list -m -f '{{.Version}}' go.etcd.io/etcd/server/v3)
gov=$(go env GOVERSION)
sum=$(sha256sum go.sum go.mod cmd/*/main.go | sha256sum | cut -c1-12)
root=${K8SBINS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/capt-k8sbins}
dir="$root/k8s-${k8s#v}-etcd-${etcd#v}-${gov}-${sum}"
bins=(kube-apiserver etcd kube-controller-manager)

complete() { for b in "${bins[@]}"; do [ -x "$1/$b" ] || return 1; done; }

if complete "$dir"; then
  echo "k8sbins: cached in $dir" >&2
  echo "$dir"
  exit 0
fi

mkdir -p "$root"
tmp="$dir.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp"
minor=$(echo "$k8s" | cut -d. -f2)
v=k8s.io/component-base/version
stamp="-X $v.gitVersion=$k8s -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
stamp="$stamp -X $v.gitCommit=0000000000000000000000000000000000000000 -X $v.buildDate=1970-01-01T00:00:00Z"
for b in "${bins[@]}"; do
  echo "k8sbins: building $b ($k8s, etcd $etcd, $gov)" >&2
  start=$(date +%s)
  go build -trimpath -ldflags "-s -w $stamp" -o "$tmp/$b" "./cmd/$b"
  echo "k8sbins: $b built in $(( $(date +%s) - start ))s" >&2
done
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir"
