#!/usr/bin/env bash
# Builds the local images with buildah and imports them into containerd's k8s.io namespace.
#   images.sh [all|pause|base|sidecars|project|rootfs]...
# Each image is keyed by a hash of its inputs; an image whose key is unchanged and which
# containerd already holds is skipped. Pods use these with imagePullPolicy IfNotPresent/Never.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"
CACHE="${CACHE:-$HOME/.cache/secrets-store-csi}"
BIN="$CACHE/bin"
IMGCACHE="$CACHE/images"
CONTAINERD_SOCK=/run/containerd/containerd.sock
CTR=(ctr --address "$CONTAINERD_SOCK" -n k8s.io)
BASE_IMAGE=localhost/ssc-base:bookworm
PAUSE_IMAGE="localhost/pause:$PAUSE_VERSION"
REGISTRAR_IMAGE="localhost/csi-node-driver-registrar:$REGISTRAR_VERSION"
LIVENESSPROBE_IMAGE="localhost/livenessprobe:$LIVENESSPROBE_VERSION"
PROJECT_IMAGE=localhost/secrets-store-csi:0.1.0
PROJECT_CONTAINERFILE="$ROOT/plugin/Containerfile"
# Packages of the base image beyond debootstrap's minbase variant.
BASE_PACKAGES=python3,ca-certificates
mkdir -p "$IMGCACHE"

log() { printf '[images %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() {
	log "FAILED: $1"
	[[ -z "${2:-}" || ! -s "$2" ]] || { tail -n 25 "$2" >&2; log "full log: $2"; }
	exit 1
}

require_containerd() {
	"${CTR[@]}" version >/dev/null 2>&1 ||
		fail "containerd is not serving $CONTAINERD_SOCK: run 'make cluster-up' first (images are imported into it)"
}

in_containerd() { "${CTR[@]}" images ls -q 2>/dev/null | grep -x "$1" >/dev/null; }

# up_to_date NAME IMAGE KEY: the image was built from these inputs and containerd holds it.
up_to_date() { [[ "$(cat "$IMGCACHE/$1.key" 2>/dev/null)" == "$3" ]] && in_containerd "$2"; }

# import_image IMAGE NAME KEY: buildah -> docker archive -> containerd k8s.io, then record KEY.
import_image() {
	local image="$1" name="$2" key="$3" archive="$IMGCACHE/$2.tar"
	rm -f "$archive"
	buildah push --quiet "$image" "docker-archive:$archive:$image" >/dev/null
	"${CTR[@]}" images import --no-unpack=false "$archive" >/dev/null
	rm -f "$archive"
	in_containerd "$image" || fail "$image is not in containerd after the import"
	echo "$key" >"$IMGCACHE/$name.key"
	log "$image: imported"
}

# scratch_image IMAGE BINARY ENTRYPOINT: an image holding one static binary.
scratch_image() {
	local image="$1" binary="$2" entry="$3" ctr
	ctr="$(buildah from scratch)"
	buildah copy --quiet "$ctr" "$binary" "$entry" >/dev/null
	buildah config --entrypoint "[\"$entry\"]" --cmd '' "$ctr"
	buildah commit --quiet --rm "$ctr" "$image" >/dev/null
}

binary_key() { sha256sum "$(readlink -f "$1")" | cut -c1-16; }

build_pause() {
	require_containerd
	"$HERE/build.sh" pause
	local key
	key="$(binary_key "$BIN/pause")"
	up_to_date pause "$PAUSE_IMAGE" "$key" && { log "$PAUSE_IMAGE: up to date"; return 0; }
	scratch_image "$PAUSE_IMAGE" "$BIN/pause" /pause
	import_image "$PAUSE_IMAGE" pause "$key"
}

build_sidecars() {
	require_containerd
	"$HERE/build.sh" registrar livenessprobe
	local key
	key="$(binary_key "$BIN/csi-node-driver-registrar")"
	if up_to_date registrar "$REGISTRAR_IMAGE" "$key"; then
		log "$REGISTRAR_IMAGE: up to date"
	else
		scratch_image "$REGISTRAR_IMAGE" "$BIN/csi-node-driver-registrar" /csi-node-driver-registrar
		import_image "$REGISTRAR_IMAGE" registrar "$key"
	fi
	key="$(binary_key "$BIN/livenessprobe")"
	if up_to_date livenessprobe "$LIVENESSPROBE_IMAGE" "$key"; then
		log "$LIVENESSPROBE_IMAGE: up to date"
	else
		scratch_image "$LIVENESSPROBE_IMAGE" "$BIN/livenessprobe" /livenessprobe
		import_image "$LIVENESSPROBE_IMAGE" livenessprobe "$key"
	fi
}

# The Debian mirror this machine's apt uses (so the image gets the same packages).
debian_mirror() {
	local uri
	uri="$(grep -rhoE '^URIs:\s*\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -n 1)"
	[[ -n "$uri" ]] || uri="$(grep -hoE '^deb\s+\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n 1)"
	[[ -n "$uri" ]] || fail "no Debian mirror found in the apt sources"
	echo "$uri"
}

# bookworm_rootfs: a minimal bookworm root filesystem as a tarball in the cache.
bookworm_rootfs() {
	local tarball="$IMGCACHE/rootfs-bookworm-$(echo "$BASE_PACKAGES" | sha256sum | cut -c1-8).tar"
	if [[ -s "$tarball" ]]; then
		echo "$tarball"
		return 0
	fi
	local dir logf="$IMGCACHE/debootstrap.log" start=$SECONDS
	dir="$(mktemp -d "$IMGCACHE/rootfs.XXXXXX")"
	log "debootstrap bookworm (log: $logf)"
	nice -n 10 debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$dir" "$(debian_mirror)" >"$logf" 2>&1 ||
		{ rm -rf "$dir"; fail "debootstrap" "$logf"; }
	# Keep the image small: no docs, man pages, locales, apt lists or caches.
	rm -rf "$dir"/usr/share/{doc,man,info,locale}/* "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/* \
		"$dir"/var/cache/debconf/*-old "$dir"/var/log/*
	tar -C "$dir" --numeric-owner -cf "$tarball.tmp" .
	mv "$tarball.tmp" "$tarball"
	rm -rf "$dir"
	log "rootfs: $(du -h "$tarball" | cut -f1) in $((SECONDS - start))s"
	echo "$tarball"
}

# The rootfs tarball alone (no containerd needed): lets a build warm the cache early.
build_rootfs() { bookworm_rootfs >/dev/null; }

build_base() {
	require_containerd
	local tarball key ctr
	tarball="$(bookworm_rootfs)"
	key="$(basename "$tarball")"
	if up_to_date base "$BASE_IMAGE" "$key" && buildah inspect --type image "$BASE_IMAGE" >/dev/null 2>&1; then
		log "$BASE_IMAGE: up to date"
		return 0
	fi
	ctr="$(buildah from scratch)"
	buildah add --quiet "$ctr" "$tarball" / >/dev/null
	buildah config --cmd '["/usr/bin/python3"]' --env LANG=C.UTF-8 --env PYTHONDONTWRITEBYTECODE=1 "$ctr"
	buildah commit --quiet --rm "$ctr" "$BASE_IMAGE" >/dev/null
	import_image "$BASE_IMAGE" base "$key"
}

# The project's image: hack/image/build.sh (owned by the charts area) stages its context and runs
# buildah; without that script, plugin/Containerfile is built with the repository as context.
build_project() {
	if [[ ! -f "$PROJECT_CONTAINERFILE" ]]; then
		log "$PROJECT_CONTAINERFILE does not exist yet: skipping $PROJECT_IMAGE"
		return 0
	fi
	require_containerd
	build_base
	# The image carries the charts and helm too (for the operator): they are part of its key.
	local key logf="$IMGCACHE/project-build.log" helm_key=""
	[[ ! -e "$BIN/helm" ]] || helm_key="$(binary_key "$BIN/helm")"
	key="$(cd "$ROOT" && git ls-files -s plugin charts hack/image | sha256sum | cut -c1-16)-$(cat "$IMGCACHE/base.key")-$helm_key"
	if [[ -z "$(cd "$ROOT" && git status --porcelain plugin charts hack/image)" ]] && up_to_date project "$PROJECT_IMAGE" "$key"; then
		log "$PROJECT_IMAGE: up to date"
		return 0
	fi
	log "building $PROJECT_IMAGE from $PROJECT_CONTAINERFILE (log: $logf)"
	# hack/image/build.sh stages the context (plugin/, charts/, helm), gives the builder the host's network
	# and the CA bundle pip trusts here.
	IMAGE="$PROJECT_IMAGE" BASE_IMAGE="$BASE_IMAGE" HELM="$BIN/helm" "$ROOT/hack/image/build.sh" >"$logf" 2>&1 ||
		fail "hack/image/build.sh $PROJECT_IMAGE" "$logf"
	import_image "$PROJECT_IMAGE" project "$key"
}

main() {
	local targets=("$@") t
	[[ ${#targets[@]} -gt 0 ]] || targets=(all)
	[[ "${targets[*]}" != all ]] || targets=(pause base sidecars project)
	for t in "${targets[@]}"; do "build_$t"; done
}

main "$@"; exit $?
