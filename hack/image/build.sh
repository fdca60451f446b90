#!/usr/bin/env bash
# Build the secrets-store-csi image (plugin/Containerfile) with buildah, from a context staged by
# stage-context.sh (package source, charts, helm). Environment:
#   IMAGE       image name            (default localhost/secrets-store-csi:<package version>)
#   BASE_IMAGE  base image            (default: the Containerfile's, a Python slim image;
#                                      localhost/ssc-base:bookworm on the local cluster)
#   HELM        helm binary to embed  (default $CACHE/bin/helm)
#   BUILD_CA_BUNDLE  CA bundle for pip in the builder (default $PIP_CERT or $SSL_CERT_FILE when set)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/plugin/pyproject.toml" | head -n1)
IMAGE=${IMAGE:-localhost/secrets-store-csi:$VERSION}
command -v buildah >/dev/null || { echo "build.sh: buildah is not installed" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
"$HERE/stage-context.sh" "$ctx" >/dev/null

args=(--format oci --layers -f "$ctx/plugin/Containerfile" -t "$IMAGE"
      --build-arg "VERSION=$VERSION"
      --build-arg "REVISION=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
      --build-arg "CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
[[ -z ${BASE_IMAGE:-} ]] || args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
# A local base (localhost/...) exists only in this machine's storage: never try to pull it.
[[ ${BASE_IMAGE:-} != localhost/* ]] || args+=(--pull-never)
# The CA bundle pip trusts on this host (a TLS-intercepting proxy's CA, for example), mounted for the
# builder's pip only; nothing of it lands in the image.
ca=${BUILD_CA_BUNDLE:-${PIP_CERT:-${SSL_CERT_FILE:-}}}
if [[ -n $ca && -f $ca ]]; then
  args+=(-v "$(readlink -f "$ca"):/run/build-ca.crt:ro" --build-arg PIP_CERT=/run/build-ca.crt)
fi
# RUN steps fetch packages (pip; apt when the base lacks python3-venv): use the host's network.
buildah bud --network host "${args[@]}" "$ctx"
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$IMAGE"
