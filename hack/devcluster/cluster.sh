#!/usr/bin/env bash
# The devcluster: a single-node Kubernetes whose processes run on this host as root.
#   cluster.sh up       bring every component up (idempotent: a running cluster is left alone)
#   cluster.sh down     stop every process it started, remove pod containers, unmount the kubelet root
#   cluster.sh status   show each component and the node
#   cluster.sh env      print the export line for the admin kubeconfig
#   cluster.sh purge    down, then delete the cluster state (etcd data, certificates)
# On failure the failing step, the component's last log lines and its log path are printed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"
CACHE="${CACHE:-$HOME/.cache/secrets-store-csi}"
BIN="$CACHE/bin"
STATE=/var/lib/ssc-devcluster
PKI="$STATE/pki"
# Pid files live in /run: after a reboot none is stale (and a reused pid is never taken for ours).
PIDS=/run/ssc-devcluster/pids
LOGS=/var/log/ssc-devcluster
KUBELET_ROOT=/var/lib/kubelet
CNI_CONF_DIR="$STATE/cni"
CONTAINERD_SOCK=/run/containerd/containerd.sock
CONTAINERD_CONFIG="$STATE/containerd.toml"
KUBECONFIG_ADMIN="$STATE/admin.kubeconfig"
NODE_NAME="$(hostname)"
CLUSTER_CIDR=10.244.0.0/16
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.96.0.0/16
KUBERNETES_SVC_IP=10.96.0.1
DNS_SVC_IP=10.96.0.10
PAUSE_IMAGE="localhost/pause:$PAUSE_VERSION"
READY_TIMEOUT="${READY_TIMEOUT:-120}"
# Components in start order; down stops them in reverse.
COMPONENTS=(containerd etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
# CoreDNS (Service DNS) runs when its binary was built; the cluster works without it.
if [[ -x "$BIN/coredns" ]]; then COMPONENTS+=(coredns); fi
has_dns() { [[ " ${COMPONENTS[*]} " == *" coredns "* ]]; }

STEP="(none)"
log() { printf '[devcluster %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
step() { STEP="$1"; log "step: $1"; }

# fail COMPONENT MESSAGE: report the failing step, the component's log tail and path; exit 1.
fail() {
	local comp="$1" msg="$2" logf="$LOGS/$1.log"
	log "FAILED at step '$STEP' ($comp): $msg"
	if [[ -s "$logf" ]]; then
		echo "----- last 25 lines of $logf -----" >&2
		tail -n 25 "$logf" >&2
		echo "----- full log: $logf -----" >&2
	fi
	exit 1
}

kubectl_admin() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }

node_ip() {
	local dev
	dev="$(ip -4 route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1); exit}')"
	[[ -n "$dev" ]] || dev=lo
	ip -4 -o addr show dev "$dev" | awk '{split($4, a, "/"); print a[1]; exit}'
}

# --- process bookkeeping -------------------------------------------------------------------------
pid_of() { [[ -f "$PIDS/$1.pid" ]] && cat "$PIDS/$1.pid" || true; }
# alive PID: the process exists and is not a zombie waiting for PID 1 to reap it.
alive() {
	local state
	state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
	[[ -n "$state" && "$state" != Z ]]
}
# runs_command PID NAME: PID's command line names NAME (so a reused pid is not taken for ours).
runs_command() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -F "$2" >/dev/null; }
is_running() {
	local pid
	pid="$(pid_of "$1")"
	[[ -n "$pid" ]] && alive "$pid" && runs_command "$pid" "$1"
}

# config_key CMD...: hash of a command line and of the configuration files it names, so that a
# running component whose flags or configuration changed gets restarted.
config_key() {
	local arg
	{
		printf '%s\n' "$@"
		for arg in "$@"; do
			if [[ "$arg" == "$STATE"/*.yaml || "$arg" == "$STATE"/*.toml || "$arg" == "$STATE/Corefile" ]]; then
				cat "$arg"
			fi
		done
	} | sha256sum | cut -c1-16
}

# start_process NAME CMD...: start CMD in the background with its output appended to NAME's log.
# EXTRA_ARGS_<NAME> (dashes as underscores, e.g. EXTRA_ARGS_kube_apiserver="--feature-gates=...")
# adds flags to a component.
start_process() {
	local name="$1" key extra_var
	shift
	extra_var="EXTRA_ARGS_${name//-/_}"
	if [[ -n "${!extra_var:-}" ]]; then
		local extra
		read -r -a extra <<<"${!extra_var}"
		set -- "$@" "${extra[@]}"
	fi
	key="$(config_key "$@")"
	if is_running "$name"; then
		if [[ "$(cat "$PIDS/$name.key" 2>/dev/null)" == "$key" ]]; then
			log "$name: already running (pid $(pid_of "$name"))"
			return 0
		fi
		log "$name: command line or configuration changed: restarting"
		stop_process "$name"
	fi
	mkdir -p "$PIDS" "$LOGS"
	echo "===== $(date -u +%FT%TZ) starting $name: $*" >>"$LOGS/$name.log"
	setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &
	local pid=$! i
	echo "$pid" >"$PIDS/$name.pid"
	echo "$key" >"$PIDS/$name.key"
	# Until it execs, the child is a copy of this shell whose command line does not name the
	# component: is_running would report a component that is still starting as exited.
	for ((i = 0; i < 500; i++)); do
		if runs_command "$pid" "$name" || ! alive "$pid"; then break; fi
		sleep 0.01
	done
	log "$name: started (pid $pid, log $LOGS/$name.log)"
}

# wait_for NAME TIMEOUT CHECK...: poll CHECK until it succeeds; fail at once if NAME died.
wait_for() {
	local name="$1" timeout="$2"
	shift 2
	local deadline=$((SECONDS + timeout))
	until "$@" >/dev/null 2>&1; do
		is_running "$name" || fail "$name" "process exited"
		((SECONDS < deadline)) || fail "$name" "not ready after ${timeout}s (check: $*)"
		sleep 0.5
	done
}

# stop_process NAME [GRACE_SECONDS]: SIGTERM, then SIGKILL after the grace period.
stop_process() {
	local name="$1" grace="${2:-10}" pid i
	pid="$(pid_of "$name")"
	if [[ -n "$pid" ]] && alive "$pid"; then
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < grace * 10; i++)); do
			alive "$pid" || break
			sleep 0.1
		done
		if alive "$pid"; then
			log "$name: still alive after ${grace}s, killing"
			kill -KILL "$pid" 2>/dev/null || true
		fi
		log "$name: stopped"
	fi
	rm -f "$PIDS/$name.pid" "$PIDS/$name.key"
}

# port_free PORT COMPONENT: fail early, naming the holder, when another process holds PORT.
port_free() {
	local port="$1" comp="$2" holder
	is_running "$comp" && return 0
	holder="$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n 1)"
	[[ -z "$holder" ]] || fail "$comp" "port $port already in use: $holder"
}

# --- steps ---------------------------------------------------------------------------------------
check_binaries() {
	step "check binaries"
	local b
	for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl etcd; do
		[[ -x "$BIN/$b" ]] || fail build "$BIN/$b missing: run hack/devcluster/build.sh (make cluster-build)"
	done
	for b in containerd runc iptables conntrack openssl /usr/lib/cni/bridge; do
		command -v "$b" >/dev/null || fail deps "$b missing: run hack/devcluster/deps.sh"
	done
}

configure_kernel() {
	step "kernel settings"
	[[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] || modprobe br_netfilter 2>/dev/null ||
		fail kernel "br_netfilter is not available (no /proc/sys/net/bridge; modprobe failed)"
	grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
		fail kernel "overlay filesystem is not available"
	sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 \
		net.bridge.bridge-nf-call-ip6tables=1 net.ipv4.conf.all.route_localnet=1 >/dev/null ||
		fail kernel "sysctl failed"
}

# The kubelet root must be a shared mount so that Bidirectional mount propagation (the CSI
# driver's mounts) reaches the host; this machine's / is private, so bind it onto itself.
mount_kubelet_root() {
	step "kubelet root shared mount"
	mkdir -p "$KUBELET_ROOT"
	if ! mountpoint -q "$KUBELET_ROOT"; then
		mount --bind "$KUBELET_ROOT" "$KUBELET_ROOT"
	fi
	mount --make-rshared "$KUBELET_ROOT"
	[[ "$(findmnt -no PROPAGATION "$KUBELET_ROOT")" == shared ]] || fail kubelet "$KUBELET_ROOT is not a shared mount"
}

# openssl helpers ---------------------------------------------------------------------------------
# issue_cert NAME CN ORG SANS USAGE: key + certificate signed by the cluster CA, unless present.
issue_cert() {
	local name="$1" cn="$2" org="$3" sans="$4" usage="$5"
	[[ -s "$PKI/$name.crt" ]] && return 0
	local subj="/CN=$cn"
	[[ -z "$org" ]] || subj="/O=$org$subj"
	local ext="$PKI/$name.ext"
	{
		echo "basicConstraints=critical,CA:FALSE"
		echo "keyUsage=critical,digitalSignature,keyEncipherment"
		echo "extendedKeyUsage=$usage"
		[[ -z "$sans" ]] || echo "subjectAltName=$sans"
	} >"$ext"
	openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/$name.key" 2>/dev/null
	openssl req -new -key "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
	openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
		-days 3650 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
	rm -f "$PKI/$name.csr" "$ext"
}

# write_kubeconfig FILE CERTNAME: a kubeconfig using the client certificate CERTNAME.
write_kubeconfig() {
	local file="$1" cert="$2"
	write_if_changed "$file" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ssc-devcluster
  cluster:
    server: https://$NODE_IP:6443
    certificate-authority-data: $(base64 -w0 <"$PKI/ca.crt")
users:
- name: $cert
  user:
    client-certificate-data: $(base64 -w0 <"$PKI/$cert.crt")
    client-key-data: $(base64 -w0 <"$PKI/$cert.key")
contexts:
- name: ssc-devcluster
  context: {cluster: ssc-devcluster, user: $cert}
current-context: ssc-devcluster
EOF
	chmod 600 "$file"
}

generate_certificates() {
	step "certificates"
	mkdir -p "$PKI"
	chmod 700 "$PKI"
	# A node address change (new machine, new DHCP lease) makes the serving certificates wrong.
	if [[ -s "$PKI/node-ip" && "$(cat "$PKI/node-ip")" != "$NODE_IP" ]]; then
		log "node address changed ($(cat "$PKI/node-ip") -> $NODE_IP): reissuing serving certificates"
		rm -f "$PKI/kube-apiserver.crt" "$PKI/kubelet-serving.crt" "$PKI/etcd-server.crt"
	fi
	echo "$NODE_IP" >"$PKI/node-ip"
	if [[ ! -s "$PKI/ca.crt" ]]; then
		openssl ecparam -name prime256v1 -genkey -noout -out "$PKI/ca.key" 2>/dev/null
		openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=ssc-devcluster-ca" -days 3650 \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
			-out "$PKI/ca.crt" 2>/dev/null
	fi
	if [[ ! -s "$PKI/sa.key" ]]; then
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$PKI/sa.key" 2>/dev/null
		openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
	fi
	local svc_names="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
	issue_cert kube-apiserver kube-apiserver "" \
		"$svc_names,DNS:localhost,DNS:$NODE_NAME,IP:127.0.0.1,IP:$KUBERNETES_SVC_IP,IP:$NODE_IP" serverAuth
	issue_cert etcd-server etcd "" "DNS:localhost,IP:127.0.0.1,IP:$NODE_IP" serverAuth,clientAuth
	issue_cert etcd-client kube-apiserver-etcd-client "" "" clientAuth
	issue_cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "" clientAuth
	issue_cert admin admin system:masters "" clientAuth
	issue_cert kube-controller-manager system:kube-controller-manager "" "" clientAuth
	issue_cert kube-scheduler system:kube-scheduler "" "" clientAuth
	issue_cert kube-proxy system:kube-proxy "" "" clientAuth
	issue_cert kubelet "system:node:$NODE_NAME" system:nodes "" clientAuth
	issue_cert kubelet-serving "$NODE_NAME" "" "DNS:$NODE_NAME,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP" serverAuth
	local c
	issue_cert coredns ssc:coredns "" "" clientAuth
	for c in admin kube-controller-manager kube-scheduler kube-proxy kubelet coredns; do
		write_kubeconfig "$STATE/$c.kubeconfig" "$c"
	done
	chmod 644 "$KUBECONFIG_ADMIN" # read by the other helpers' tests, which may drop privileges
}

# write_if_changed FILE: stdin into FILE, leaving FILE untouched when the content is the same
# (kube-proxy exits when its configuration file changes under it).
write_if_changed() {
	local file="$1" tmp
	tmp="$(mktemp "$file.XXXXXX")"
	cat >"$tmp"
	if cmp -s "$tmp" "$file"; then
		rm -f "$tmp"
	else
		mv "$tmp" "$file"
	fi
}

write_configs() {
	step "component configuration"
	local dns_line="# no clusterDNS: CoreDNS is not built"
	if has_dns; then dns_line="clusterDNS: [$DNS_SVC_IP]"; fi
	mkdir -p "$CNI_CONF_DIR"
	write_if_changed "$CNI_CONF_DIR/10-ssc-devcluster.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "ssc-pods",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "$POD_CIDR"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
	write_if_changed "$CONTAINERD_CONFIG" <<EOF
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"

[grpc]
  address = "$CONTAINERD_SOCK"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This machine drops CAP_SYS_RESOURCE even for root: lowering oom_score_adj (the sandbox's
  # -998) fails in runc, so clamp container scores to containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CNI_CONF_DIR"
EOF
	write_if_changed "$STATE/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
clusterDomain: cluster.local
$dns_line
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
failSwapOn: false
podCIDR: $POD_CIDR
resolvConf: /etc/resolv.conf
serializeImagePulls: false
# Local images cannot be pulled again: never garbage-collect them, never evict for disk.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
# Short status intervals make the node Ready sooner after a start.
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
EOF
	write_if_changed "$STATE/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:18181
    ready 127.0.0.1:18182
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $STATE/coredns.kubeconfig ssc-devcluster
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    forward . /etc/resolv.conf
    cache 30
}
EOF
	write_if_changed "$STATE/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $STATE/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $CLUSTER_CIDR
hostnameOverride: $NODE_NAME
bindAddress: 0.0.0.0
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
	write_if_changed "$STATE/kube-scheduler.yaml" <<EOF
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection: {kubeconfig: $STATE/kube-scheduler.kubeconfig}
leaderElection: {leaderElect: false}
EOF
}

start_containerd() {
	step "containerd"
	if ! is_running containerd && [[ -S "$CONTAINERD_SOCK" ]] && ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; then
		fail containerd "another containerd already serves $CONTAINERD_SOCK (stop it: the devcluster runs its own)"
	fi
	# No containerd and no shim: no pod runs, so IPs still allocated are leftovers (a reboot).
	if ! is_running containerd && ! shims_alive; then release_pod_network; fi
	start_process containerd containerd --config "$CONTAINERD_CONFIG"
	wait_for containerd 30 ctr --address "$CONTAINERD_SOCK" version
	# The CRI plugin must have loaded (it fails when, for example, its config is wrong).
	ctr --address "$CONTAINERD_SOCK" plugins ls | grep 'io.containerd.grpc.v1 *cri *.* ok' >/dev/null ||
		fail containerd "the CRI plugin did not load"
}

ensure_pause_image() {
	step "pause image"
	if ! ctr --address "$CONTAINERD_SOCK" -n k8s.io images ls -q | grep -x "$PAUSE_IMAGE" >/dev/null; then
		"$HERE/images.sh" pause || fail images "could not build/import $PAUSE_IMAGE"
	fi
}

start_etcd() {
	step "etcd"
	port_free 2379 etcd
	mkdir -p "$STATE/etcd"
	chmod 700 "$STATE/etcd"
	start_process etcd "$BIN/etcd" --name "$NODE_NAME" --data-dir "$STATE/etcd" \
		--listen-client-urls https://127.0.0.1:2379 --advertise-client-urls https://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster "$NODE_NAME=http://127.0.0.1:2380" \
		--cert-file "$PKI/etcd-server.crt" --key-file "$PKI/etcd-server.key" \
		--client-cert-auth --trusted-ca-file "$PKI/ca.crt" \
		--listen-metrics-urls http://127.0.0.1:2381 --quota-backend-bytes 2147483648 \
		--log-level warn
	wait_for etcd 30 curl -sf http://127.0.0.1:2381/health
}

start_apiserver() {
	step "kube-apiserver"
	port_free 6443 kube-apiserver
	start_process kube-apiserver "$BIN/kube-apiserver" \
		--advertise-address "$NODE_IP" --bind-address 0.0.0.0 --secure-port 6443 \
		--etcd-servers https://127.0.0.1:2379 --etcd-cafile "$PKI/ca.crt" \
		--etcd-certfile "$PKI/etcd-client.crt" --etcd-keyfile "$PKI/etcd-client.key" \
		--tls-cert-file "$PKI/kube-apiserver.crt" --tls-private-key-file "$PKI/kube-apiserver.key" \
		--client-ca-file "$PKI/ca.crt" \
		--kubelet-client-certificate "$PKI/apiserver-kubelet-client.crt" \
		--kubelet-client-key "$PKI/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority "$PKI/ca.crt" \
		--kubelet-preferred-address-types InternalIP,Hostname \
		--authorization-mode Node,RBAC --allow-privileged=true \
		--enable-admission-plugins NodeRestriction \
		--service-cluster-ip-range "$SERVICE_CIDR" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$PKI/sa.pub" --service-account-signing-key-file "$PKI/sa.key" \
		--profiling=false --v 1
	wait_for kube-apiserver 90 curl -sf --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
		"https://127.0.0.1:6443/readyz"
}

start_controller_manager() {
	step "kube-controller-manager"
	port_free 10257 kube-controller-manager
	start_process kube-controller-manager "$BIN/kube-controller-manager" \
		--kubeconfig "$STATE/kube-controller-manager.kubeconfig" \
		--authentication-kubeconfig "$STATE/kube-controller-manager.kubeconfig" \
		--authorization-kubeconfig "$STATE/kube-controller-manager.kubeconfig" \
		--bind-address 127.0.0.1 --leader-elect=false \
		--cluster-signing-cert-file "$PKI/ca.crt" --cluster-signing-key-file "$PKI/ca.key" \
		--root-ca-file "$PKI/ca.crt" --service-account-private-key-file "$PKI/sa.key" \
		--use-service-account-credentials=true \
		--allocate-node-cidrs=true --cluster-cidr "$CLUSTER_CIDR" --node-cidr-mask-size 24 \
		--service-cluster-ip-range "$SERVICE_CIDR" --v 1
	wait_for kube-controller-manager 60 curl -sfk https://127.0.0.1:10257/healthz
}

start_scheduler() {
	step "kube-scheduler"
	port_free 10259 kube-scheduler
	start_process kube-scheduler "$BIN/kube-scheduler" --config "$STATE/kube-scheduler.yaml" \
		--authentication-kubeconfig "$STATE/kube-scheduler.kubeconfig" \
		--authorization-kubeconfig "$STATE/kube-scheduler.kubeconfig" \
		--bind-address 127.0.0.1 --v 1
	wait_for kube-scheduler 60 curl -sfk https://127.0.0.1:10259/healthz
}

start_kubelet() {
	step "kubelet"
	port_free 10250 kubelet
	start_process kubelet "$BIN/kubelet" --config "$STATE/kubelet.yaml" \
		--kubeconfig "$STATE/kubelet.kubeconfig" --root-dir "$KUBELET_ROOT" \
		--hostname-override "$NODE_NAME" --node-ip "$NODE_IP" --v 1
	wait_for kubelet 60 curl -sf http://127.0.0.1:10248/healthz
}

start_kube_proxy() {
	step "kube-proxy"
	port_free 10256 kube-proxy
	start_process kube-proxy "$BIN/kube-proxy" --config "$STATE/kube-proxy.yaml" --v 1
	wait_for kube-proxy 60 curl -sf http://127.0.0.1:10256/healthz
}

# CoreDNS runs on the host, bound to the node address; the kube-dns Service (no selector) points
# at it through a hand-made EndpointSlice, so pods resolve Service names via $DNS_SVC_IP.
start_coredns() {
	has_dns || { log "coredns: not built, no Service DNS (pods use ClusterIPs / *_SERVICE_HOST)"; return 0; }
	step "coredns"
	kubectl_admin apply -f - >/dev/null <<EOF || fail coredns "could not apply the kube-dns Service and RBAC"
apiVersion: v1
kind: List
items:
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRole
  metadata: {name: "ssc:coredns"}
  rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
- apiVersion: rbac.authorization.k8s.io/v1
  kind: ClusterRoleBinding
  metadata: {name: "ssc:coredns"}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "ssc:coredns"}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "ssc:coredns"}]
- apiVersion: v1
  kind: Service
  metadata:
    name: kube-dns
    namespace: kube-system
    labels: {k8s-app: kube-dns, kubernetes.io/name: CoreDNS}
  spec:
    clusterIP: $DNS_SVC_IP
    ports:
    - {name: dns, port: 53, protocol: UDP, targetPort: 53}
    - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: kube-dns-host
    namespace: kube-system
    labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: ssc-devcluster}
  addressType: IPv4
  endpoints:
  - addresses: ["$NODE_IP"]
    conditions: {ready: true}
  ports:
  - {name: dns, port: 53, protocol: UDP}
  - {name: dns-tcp, port: 53, protocol: TCP}
EOF
	port_free 18181 coredns
	start_process coredns "$BIN/coredns" -conf "$STATE/Corefile"
	wait_for coredns 30 curl -sf http://127.0.0.1:18182/ready
}

wait_node_ready() {
	step "node Ready"
	local deadline=$((SECONDS + READY_TIMEOUT))
	until [[ "$(kubectl_admin get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]; do
		is_running kubelet || fail kubelet "process exited"
		((SECONDS < deadline)) || fail kubelet "node $NODE_NAME not Ready after ${READY_TIMEOUT}s"
		sleep 1
	done
	# Pods need the default service account, which the controller-manager creates.
	deadline=$((SECONDS + 60))
	until kubectl_admin -n default get serviceaccount default >/dev/null 2>&1; do
		((SECONDS < deadline)) || fail kube-controller-manager "no default service account after 60s"
		sleep 1
	done
}

all_running() {
	local c
	for c in "${COMPONENTS[@]}"; do is_running "$c" || return 1; done
	[[ "$(kubectl_admin get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

cmd_up() {
	NODE_IP="$(node_ip)"
	if all_running; then
		log "already running: node $NODE_NAME Ready (export KUBECONFIG=$KUBECONFIG_ADMIN)"
		return 0
	fi
	local start=$SECONDS
	check_binaries
	mkdir -p "$STATE" "$LOGS" "$PIDS"
	configure_kernel
	mount_kubelet_root
	generate_certificates
	write_configs
	start_containerd
	ensure_pause_image
	start_etcd
	start_apiserver
	start_controller_manager
	start_scheduler
	start_kubelet
	start_kube_proxy
	start_coredns
	wait_node_ready
	log "cluster up in $((SECONDS - start))s: node $NODE_NAME Ready, $("$BIN/kubectl" version --kubeconfig "$KUBECONFIG_ADMIN" 2>/dev/null | grep -i server)"
	log "export KUBECONFIG=$KUBECONFIG_ADMIN"
}

# --- down ----------------------------------------------------------------------------------------
# Kills every pod container and sandbox the kubelet left in containerd, then frees what CNI
# allocated for them (the kubelet is already stopped, so nothing tears them down the usual way).
remove_pod_containers() {
	step "remove pod containers"
	is_running containerd || return 0
	local ctr_=(ctr --address "$CONTAINERD_SOCK" -n k8s.io) id
	for id in $("${ctr_[@]}" tasks ls -q 2>/dev/null); do
		"${ctr_[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
	done
	for id in $("${ctr_[@]}" tasks ls -q 2>/dev/null); do
		"${ctr_[@]}" tasks delete -f "$id" >/dev/null 2>&1 || true
	done
	for id in $("${ctr_[@]}" containers ls -q 2>/dev/null); do
		"${ctr_[@]}" containers delete "$id" >/dev/null 2>&1 || true
	done
}

release_pod_network() {
	step "release pod network"
	local ns
	for ns in /run/netns/cni-*; do
		[[ -e "$ns" ]] || continue
		umount "$ns" 2>/dev/null || true
		rm -f "$ns"
	done
	rm -rf /var/lib/cni/networks/ssc-pods /var/lib/cni/results
}

# Unmounts everything under the kubelet root (deepest first), then the root's own bind mount.
unmount_kubelet_root() {
	step "unmount kubelet root"
	local m
	while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done < <(findmnt -rno TARGET | grep -E "^$KUBELET_ROOT/" | sort -r)
	if mountpoint -q "$KUBELET_ROOT"; then
		umount "$KUBELET_ROOT" 2>/dev/null || umount -l "$KUBELET_ROOT"
	fi
	local left
	left="$(findmnt -rno TARGET | grep -E "^$KUBELET_ROOT(/|$)" || true)"
	[[ -z "$left" ]] || fail kubelet "mounts left under $KUBELET_ROOT: $left"
	# Pod directories are rebuilt by the kubelet; nothing mounted stays under them now.
	rm -rf --one-file-system "$KUBELET_ROOT/pods" "$KUBELET_ROOT/plugins_registry"
}

shims_alive() {
	local f
	for f in /run/containerd/io.containerd.runtime.v2.task/k8s.io/*/shim.pid; do
		[[ -s "$f" ]] && alive "$(cat "$f")" && return 0
	done
	return 1
}

# A shim whose task could not be killed through containerd would keep mounts alive: each shim
# wrote its pid into its bundle directory.
kill_leftover_shims() {
	local f pid
	for f in /run/containerd/io.containerd.runtime.v2.task/k8s.io/*/shim.pid; do
		[[ -s "$f" ]] || continue
		pid="$(cat "$f")"
		kill -KILL "$pid" 2>/dev/null || true
	done
}

cmd_down() {
	local start=$SECONDS c i
	step "stop components"
	for ((i = ${#COMPONENTS[@]} - 1; i >= 1; i--)); do
		# The apiserver drains its clients' watches for a long time; its state is in etcd.
		if [[ "${COMPONENTS[$i]}" == kube-apiserver ]]; then
			stop_process kube-apiserver 3
		else
			stop_process "${COMPONENTS[$i]}"
		fi
	done
	remove_pod_containers
	stop_process containerd
	kill_leftover_shims
	release_pod_network
	unmount_kubelet_root
	log "cluster down in $((SECONDS - start))s"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# PSS shares the pages of the multi-call binary among the components that map it.
pss_kib() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }

cmd_status() {
	local c rc=0 rss total=0 pss=0
	for c in "${COMPONENTS[@]}"; do
		if is_running "$c"; then
			rss="$(rss_kib "$(pid_of "$c")")"
			total=$((total + rss))
			pss=$((pss + $(pss_kib "$(pid_of "$c")")))
			printf '%-24s running (pid %s, RSS %d MiB)\n' "$c" "$(pid_of "$c")" $((rss / 1024))
		else
			printf '%-24s stopped\n' "$c"
			rc=1
		fi
	done
	printf '%-24s %d MiB RSS (%d MiB PSS)\n' "total" $((total / 1024)) $((pss / 1024))
	if [[ -s "$KUBECONFIG_ADMIN" ]] && is_running kube-apiserver; then
		kubectl_admin get nodes -o wide 2>&1 || rc=1
	fi
	echo "kubeconfig: $KUBECONFIG_ADMIN   logs: $LOGS/<component>.log"
	return $rc
}

cmd_env() { echo "export KUBECONFIG=$KUBECONFIG_ADMIN"; }

cmd_purge() {
	cmd_down
	step "delete cluster state"
	rm -rf "$STATE"
	log "state deleted ($STATE)"
}

# Several make targets (other areas' tiers too) call `cluster-up`: one change at a time.
with_lock() {
	exec 9>/run/ssc-devcluster.lock
	if ! flock -n 9; then
		log "another cluster.sh up/down is running: waiting for it"
		flock -w 600 9 || fail devcluster "still locked after 600s (/run/ssc-devcluster.lock)"
	fi
	"$@"
}

main() {
	case "${1:-}" in
	up) with_lock cmd_up ;;
	down) with_lock cmd_down ;;
	status) cmd_status ;;
	env) cmd_env ;;
	purge) with_lock cmd_purge ;;
	*)
		echo "usage: $0 {up|down|status|env|purge}" >&2
		exit 2
		;;
	esac
}

main "$@"; exit $?
