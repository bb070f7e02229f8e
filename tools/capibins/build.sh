#!/usr/bin/env bash
# Builds the Cluster API core manager and clusterctl from the Go module proxy into a cache
# directory outside the repository, next to the manager's CRDs, webhook configurations and RBAC
# from the same module version, and prints that directory:
#
#   <dir>/capi-manager, <dir>/clusterctl
#   <dir>/config/crd/*.yaml            core/config/crd/bases (the 13 core CRDs)
#   <dir>/config/webhook/manifests.yaml core/config/webhook/manifests.yaml
#   <dir>/config/rbac/role.yaml         core/config/rbac/role.yaml (the manager's ClusterRole)
#   <dir>/config/metadata.yaml          the module's clusterctl metadata.yaml
#   <dir>/config/core-components.yaml   `kubectl kustomize core/config/default`: the core
#                                       provider's components, as a clusterctl repository has them
#
# Same rules as tools/k8sbins/build.sh: the cache key holds the Cluster API and Go versions and a
# hash of go.mod and go.sum; a build goes to <dir>.tmp.<pid> and is renamed into place only when
# complete; a cache hit costs nothing. Test infrastructure only: nothing here ships.
#
# Environment: CAPIBINS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/capt-capibins).
# Progress goes to stderr; stdout is only the directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-modcacherw

capi=$(go list -m -f '{{.Version}}' sigs.k8s.io/cluster-api)
gov=$(go env GOVERSION)
sum=$(sha256sum go.sum go.mod build.sh | sha256sum | cut -c1-12)
root=${CAPIBINS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/capt-capibins}
dir="$root/capi-${capi#v}-${gov}-${sum}"
bins=(capi-manager clusterctl)

complete() {
  for b in "${bins[@]}"; do [ -x "$1/$b" ] || return 1; done
  [ -f "$1/config/webhook/manifests.yaml" ] && [ -f "$1/config/rbac/role.yaml" ] &&
    [ -f "$1/config/core-components.yaml" ]
}

if complete "$dir"; then
  echo "capibins: cached in $dir" >&2
  echo "$dir"
  exit 0
fi

mkdir -p "$root"
tmp="$dir.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/config/crd" "$tmp/config/webhook" "$tmp/config/rbac"
minor=$(echo "$capi" | cut -d. -f2)
v=sigs.k8s.io/cluster-api/version
stamp="-X $v.gitVersion=$capi -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean"
stamp="$stamp -X $v.gitCommit=0000000000000000000000000000000000000000 -X $v.buildDate=1970-01-01T00:00:00Z"
build() {
  local name=$1 pkg=$2 start
  echo "capibins: building $name ($pkg@$capi, $gov)" >&2
  start=$(date +%s)
  go build -trimpath -ldflags "-s -w $stamp" -o "$tmp/$name" "$pkg"
  echo "capibins: $name built in $(($(date +%s) - start))s" >&2
}
build capi-manager sigs.k8s.io/cluster-api/core
build clusterctl sigs.k8s.io/cluster-api/cmd/clusterctl

# The manifests the manager is installed with, from the same module version.
src=$(go list -m -f '{{.Dir}}' sigs.k8s.io/cluster-api)
cp "$src"/core/config/crd/bases/*.yaml "$tmp/config/crd/"
cp "$src/core/config/webhook/manifests.yaml" "$tmp/config/webhook/manifests.yaml"
cp "$src/core/config/rbac/role.yaml" "$tmp/config/rbac/role.yaml"
cp "$src/metadata.yaml" "$tmp/config/metadata.yaml"
command -v kubectl >/dev/null || { echo "capibins: kubectl is needed (for kustomize)" >&2; exit 1; }
kubectl kustomize "$src/core/config/default" >"$tmp/config/core-components.yaml"
chmod -R u+w "$tmp/config"

rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir"
