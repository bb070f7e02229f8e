#!/usr/bin/env bash
# Writes a clusterctl provider repository for this release into out/:
#
#   out/control-plane-capt/<version>/control-plane-components.yaml   (kubectl kustomize manifests/)
#   out/control-plane-capt/<version>/metadata.yaml                   (manifests/metadata.yaml)
#
# which is the layout clusterctl reads from a local repository, e.g. in clusterctl.yaml:
#
#   providers:
#     - name: capt
#       type: ControlPlaneProvider
#       url: file://<repo>/out/control-plane-capt/v0.1.0/control-plane-components.yaml
#
# Usage: hack/release.sh [version]   (default: v<version of the root Cargo package>)
# OUT_DIR moves the repository (default out/ in the checkout).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

version="${1:-}"
if [[ -z "$version" ]]; then
  # The first `version = "..."` after [package] in the root Cargo.toml.
  version="v$(awk '/^\[package\]/{p=1} p && /^version *=/{gsub(/[" ]/,"",$0); sub(/version=/,"",$0); print; exit}' Cargo.toml)"
fi
if [[ ! "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then
  echo "release.sh: $version is not a version like v0.1.0" >&2
  exit 1
fi
command -v kubectl >/dev/null || { echo "release.sh: kubectl is needed (for kustomize)" >&2; exit 1; }

out="${OUT_DIR:-out}/control-plane-capt/$version"
mkdir -p "$out"
kubectl kustomize manifests/ > "$out/control-plane-components.yaml"
cp manifests/metadata.yaml "$out/metadata.yaml"
# clusterctl reads every dollar-brace as a variable it must substitute, and `$$` as an escaped `$`.
if grep -n -e '\${' -e '\$\$' "$out/control-plane-components.yaml" "$out/metadata.yaml" >&2; then
  echo "release.sh: the lines above would be rewritten by clusterctl" >&2
  exit 1
fi
echo "wrote $out/control-plane-components.yaml and $out/metadata.yaml"
