#!/usr/bin/env bash
# Installs the Debian packages the devcluster needs (container runtime, CNI plugins, networking
# tools, image building). Idempotent: does nothing when every package is already installed.
set -euo pipefail

PACKAGES=(
	containerd runc containernetworking-plugins
	iptables conntrack socat ethtool iproute2 kmod util-linux mount
	openssl curl ca-certificates
	buildah debootstrap fuse-overlayfs uidmap
)

missing_packages() {
	local p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null || echo "$p"
	done
}

install_packages() {
	local missing
	mapfile -t missing < <(missing_packages)
	if [[ ${#missing[@]} -eq 0 ]]; then
		echo "[deps] all packages present"
		return 0
	fi
	echo "[deps] installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Debian starts containerd from its unit on install where systemd runs; the devcluster runs its
# own containerd with its own config, so a packaged one must not hold the socket.
stop_packaged_containerd() {
	if command -v systemctl >/dev/null && systemctl is-active --quiet containerd 2>/dev/null; then
		systemctl disable --now containerd >/dev/null 2>&1 || true
	fi
}

install_packages
stop_packaged_containerd
