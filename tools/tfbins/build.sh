#!/usr/bin/env bash
# Builds the real Crossplane provider-terraform and OpenTofu from the Go module proxy into a cache
# directory outside the repository, next to the provider's CRDs, and prints that directory:
#
#   <dir>/provider-terraform   github.com/crossplane-contrib/provider-terraform v1.1.1, cmd/provider
#   <dir>/bin/terraform        OpenTofu v1.10.10 (cmd/tofu), named as the provider runs it
#   <dir>/crds/*.yaml          the provider's package/crds of the same version
#
# Two Go modules, one per program: in one module OpenTofu would be built on 85 dependencies
# other than the ones it pins. Same cache rules as tools/k8sbins/build.sh: the key holds the
# versions, the Go version and a hash of the go.mod/go.sum files and this script; a build goes to
# <dir>.tmp.<pid> and is renamed into place only when complete; a cache hit costs nothing.
# Test infrastructure only: nothing here ships.
#
# Environment: TFBINS_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/capt-tfbins).
# Progress goes to stderr; stdout is only the directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-modcacherw

provider=$(cd provider && go list -m -f '{{.Replace.Version}}' github.com/upbound/provider-terraform)
tofu=$(cd tofu && go list -m -f '{{.Version}}' github.com/opentofu/opentofu)
gov=$(go env GOVERSION)
sum=$(sha256sum provider/go.mod provider/go.sum tofu/go.mod tofu/go.sum build.sh | sha256sum | cut -c1-12)
root=${TFBINS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/capt-tfbins}
dir="$root/provider-terraform-${provider#v}-opentofu-${tofu#v}-${gov}-${sum}"

complete() { [ -x "$1/provider-terraform" ] && [ -x "$1/bin/terraform" ] && [ -d "$1/crds" ]; }

if complete "$dir"; then
  echo "tfbins: cached in $dir" >&2
  echo "$dir"
  exit 0
fi

mkdir -p "$root"
tmp="$dir.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/crds"
build() {
  local module=$1 name=$2 pkg=$3 ldflags=$4 start
  echo "tfbins: building $name ($pkg, $gov)" >&2
  start=$(date +%s)
  (cd "$module" && go build -trimpath -ldflags "$ldflags" -o "$tmp/$name" "$pkg")
  echo "tfbins: $name built in $(($(date +%s) - start))s" >&2
}
build provider provider-terraform github.com/upbound/provider-terraform/cmd/provider "-s -w"
# The provider runs `terraform` from PATH and never asks for its version.
build tofu bin/terraform github.com/opentofu/opentofu/cmd/tofu \
  "-s -w -X github.com/opentofu/opentofu/version.dev=no"

src=$(cd provider && go list -m -f '{{.Dir}}' github.com/upbound/provider-terraform)
cp "$src"/package/crds/*.yaml "$tmp/crds/"
chmod -R u+w "$tmp/crds"

rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir"
