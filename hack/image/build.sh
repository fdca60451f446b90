#!/usr/bin/env bash
# Build the secrets-store-csi image (plugin/Containerfile) with buildah.
#
# The context is staged in a temporary directory: plugin/ (package source, no venvs or caches), charts/
# and bin/helm (built into $CACHE/bin by `make helm`). Environment:
#   IMAGE       image name            (default localhost/secrets-store-csi:<package version>)
#   BASE_IMAGE  base image            (default: the Containerfile's, a Python slim image)
#   HELM        helm binary to embed  (default $CACHE/bin/helm)
#   OCI_ARCHIVE also write an oci-archive there (for `ctr -n k8s.io images import`)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${CACHE:-$HOME/.cache/secrets-store-csi}
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/plugin/pyproject.toml" | head -n1)
IMAGE=${IMAGE:-localhost/secrets-store-csi:$VERSION}
HELM=${HELM:-$CACHE/bin/helm}

[[ -x $HELM ]] || { echo "build.sh: no helm at $HELM (run 'make helm')" >&2; exit 1; }
command -v buildah >/dev/null || { echo "build.sh: buildah is not installed" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
tar -C "$ROOT" -cf - \
  --exclude='.venv' --exclude='__pycache__' --exclude='*.egg-info' --exclude='.mypy_cache' \
  --exclude='.ruff_cache' --exclude='.pytest_cache' --exclude='.hypothesis' --exclude='build' --exclude='dist' \
  plugin charts | tar -C "$ctx" -xf -
mkdir -p "$ctx/bin"
cp "$HELM" "$ctx/bin/helm"

args=(--format oci --layers=false -f "$ctx/plugin/Containerfile" -t "$IMAGE"
      --build-arg "VERSION=$VERSION"
      --build-arg "REVISION=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
      --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
[[ -n ${BASE_IMAGE:-} ]] && args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
# RUN steps fetch packages (pip, apt when the base lacks python3-venv): use the host's network.
buildah bud --network host "${args[@]}" "$ctx"
if [[ -n ${OCI_ARCHIVE:-} ]]; then
  rm -f "$OCI_ARCHIVE"
  buildah push "$IMAGE" "oci-archive:$OCI_ARCHIVE:$IMAGE"
fi
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$IMAGE"
