#!/usr/bin/env bash
# Builds every binary the devcluster needs from pinned Go modules into $CACHE/bin.
# Each output is named after its pinned version, so a warm run skips it and a version bump
# rebuilds only that one. Usage: build.sh [all|kube|etcd|helm|csi-sanity|coredns|registrar|livenessprobe|pause]...
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"
CACHE="${CACHE:-$HOME/.cache/secrets-store-csi}"
BIN="$CACHE/bin"
LOGDIR="$CACHE/build-logs"
mkdir -p "$BIN" "$LOGDIR"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false}"
NICE=(nice -n 10)

log() { printf '[build %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# run_step NAME OUTPUT CMD...: skip when OUTPUT exists; otherwise run CMD with its output in a
# log file, time it, and on failure show the log's tail and path.
run_step() {
	local name="$1" out="$2"
	shift 2
	if [[ -x "$out" ]]; then
		log "$name: cached ($out)"
		return 0
	fi
	local logf="$LOGDIR/$name.log" start=$SECONDS
	log "$name: building -> $out (log: $logf)"
	if ! "$@" >"$logf" 2>&1; then
		log "$name: FAILED after $((SECONDS - start))s; last lines of $logf:"
		tail -n 30 "$logf" >&2
		log "full log: $logf"
		return 1
	fi
	log "$name: done in $((SECONDS - start))s"
	echo "$name $((SECONDS - start))s" >>"$LOGDIR/timings"
}

# link NAME TARGET: stable, unversioned name for the versioned binary. A new symlink renamed over the
# old one, so a helper running $BIN/NAME meanwhile finds either the old binary or the new one, never none.
link() {
	ln -sfn "$(basename "$2")" "$BIN/.$1.link.$$"
	mv -Tf "$BIN/.$1.link.$$" "$BIN/$1"
}

# --- Kubernetes: one multi-call binary (apiserver, controller-manager, scheduler, kubelet, proxy, kubectl)
go_build_kube() {
	local out="$1" major minor
	major="${K8S_VERSION#v}"; major="${major%%.*}"
	minor="${K8S_VERSION#v*.}"; minor="${minor%%.*}"
	local ld=(-s -w)
	local pkg
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=(-X "$pkg.gitVersion=$K8S_VERSION" -X "$pkg.gitMajor=$major" -X "$pkg.gitMinor=$minor"
			-X "$pkg.gitCommit=$K8S_GIT_COMMIT" -X "$pkg.gitTreeState=clean"
			-X "$pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
	done
	(cd "$HERE/gomod/k8s" && "${NICE[@]}" go build -trimpath -ldflags "${ld[*]}" -o "$out.tmp" . && mv "$out.tmp" "$out")
}

build_kube() {
	local out="$BIN/kube-$K8S_VERSION"
	run_step kube "$out" go_build_kube "$out"
	local c
	for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do link "$c" "$out"; done
}

# --- etcd: main package at the root of go.etcd.io/etcd/server/v3, built inside a wrapper module
go_build_etcd() {
	(cd "$HERE/gomod/etcd" && "${NICE[@]}" go build -trimpath -ldflags "-s -w" -o "$1.tmp" go.etcd.io/etcd/server/v3 && mv "$1.tmp" "$1")
}
build_etcd() {
	run_step etcd "$BIN/etcd-$ETCD_VERSION" go_build_etcd "$BIN/etcd-$ETCD_VERSION"
	link etcd "$BIN/etcd-$ETCD_VERSION"
}

# go_install_to OUT MODULE@VERSION [LDFLAGS]: go install into a scratch GOBIN, then rename.
go_install_to() {
	local out="$1" pkg="$2" ld="${3:-}" gobin
	gobin="$(mktemp -d)"
	GOBIN="$gobin" "${NICE[@]}" go install -trimpath -ldflags "-s -w $ld" "$pkg"
	mv "$gobin/$(basename "${pkg%@*}")" "$out"
	rmdir "$gobin"
}

# helm's default Kubernetes version (what `helm template` and `helm lint` report as .Capabilities.KubeVersion
# without a cluster) is a link-time variable. helm's own Makefile sets it from the k8s.io/client-go version in
# its go.mod (v0.M.m -> v1.M... : major 1, minor m); a plain `go install` leaves the source default, v1.20, and
# every chart with a kubeVersion constraint above it fails to render. Prints "MAJOR MINOR".
helm_kube_version() {
	local gomod ver
	gomod="$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
	ver="$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$gomod")"
	[[ "$ver" =~ ^v0\.([0-9]+)\. ]] || { log "helm: no k8s.io/client-go v0.N in $gomod"; return 1; }
	echo "1 ${BASH_REMATCH[1]}"
}

build_helm() {
	local major minor
	read -r major minor < <(helm_kube_version)
	[[ -n "$minor" ]] || return 1
	# The Kubernetes version is part of the name: a binary built without it is rebuilt.
	local out="$BIN/helm-$HELM_VERSION-k8s$major.$minor" ld="" pkg
	ld+="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
	for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
		ld+=" -X $pkg.k8sVersionMajor=$major -X $pkg.k8sVersionMinor=$minor"
	done
	run_step helm "$out" go_install_to "$out" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" "$ld"
	link helm "$out"
}

build_csi_sanity() {
	local out="$BIN/csi-sanity-$CSI_SANITY_VERSION"
	run_step csi-sanity "$out" go_install_to "$out" "github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@$CSI_SANITY_VERSION"
	link csi-sanity "$out"
}

# CoreDNS runs on the host and serves the cluster's Service DNS (kube-dns Service -> node address).
build_coredns() {
	local out="$BIN/coredns-$COREDNS_VERSION"
	run_step coredns "$out" go_install_to "$out" "github.com/coredns/coredns@$COREDNS_VERSION" \
		"-X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION"
	link coredns "$out"
}

# --- the devcluster's own small Go programs (sidecars, pause): keyed by the hash of their source
src_key() { (cd "$HERE/gomod/$1" && cat go.mod go.sum ./*/*.go ./*.go 2>/dev/null | sha256sum | cut -c1-12); }

go_build_local() {
	local dir="$1" pkg="$2" out="$3" ver="$4"
	(cd "$HERE/gomod/$dir" && "${NICE[@]}" go build -trimpath -ldflags "-s -w -X main.version=$ver" -o "$out.tmp" "$pkg" && mv "$out.tmp" "$out")
}

build_registrar() {
	local out="$BIN/csi-node-driver-registrar-$REGISTRAR_VERSION-$(src_key sidecars)"
	run_step registrar "$out" go_build_local sidecars ./registrar "$out" "$REGISTRAR_VERSION"
	link csi-node-driver-registrar "$out"
}

build_livenessprobe() {
	local out="$BIN/livenessprobe-$LIVENESSPROBE_VERSION-$(src_key sidecars)"
	run_step livenessprobe "$out" go_build_local sidecars ./livenessprobe "$out" "$LIVENESSPROBE_VERSION"
	link livenessprobe "$out"
}

build_pause() {
	local out="$BIN/pause-$PAUSE_VERSION-$(src_key pause)"
	run_step pause "$out" go_build_local pause . "$out" "$PAUSE_VERSION"
	link pause "$out"
}

main() {
	local targets=("$@")
	[[ ${#targets[@]} -gt 0 ]] || targets=(all)
	[[ "${targets[*]}" != all ]] || targets=(kube etcd helm csi-sanity coredns registrar livenessprobe pause)
	local t
	for t in "${targets[@]}"; do "build_${t//-/_}"; done
}

main "$@"; exit $?
