#!/usr/bin/env bash
# Stage the build context of plugin/Containerfile and print its path:
#   <dir>/plugin   the package source (no venvs, caches or build output)
#   <dir>/charts   the Helm charts (the operator renders the driver chart from /charts)
#   <dir>/bin/helm the helm binary (built into $CACHE/bin by `make helm`)
# Usage: stage-context.sh [DIR]   (default $CACHE/image-context, replaced each time)
# hack/devcluster/images.sh takes it as PROJECT_CONTEXT="$(hack/image/stage-context.sh)".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CACHE=${CACHE:-$HOME/.cache/secrets-store-csi}
HELM=${HELM:-$CACHE/bin/helm}
DIR=${1:-$CACHE/image-context}

[[ -x $HELM ]] || { echo "stage-context.sh: no helm at $HELM (run 'make helm')" >&2; exit 1; }
rm -rf "$DIR"
mkdir -p "$DIR/bin"
tar -C "$ROOT" -cf - \
  --exclude='.venv' --exclude='__pycache__' --exclude='*.egg-info' --exclude='.mypy_cache' \
  --exclude='.ruff_cache' --exclude='.pytest_cache' --exclude='.hypothesis' --exclude='build' --exclude='dist' \
  plugin charts | tar -C "$DIR" -xf -
cp "$HELM" "$DIR/bin/helm"
echo "$DIR"
