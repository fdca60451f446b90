// Minimal CSI node sidecars written for the devcluster: the upstream node-driver-registrar and
// livenessprobe are not reachable as Go modules here. They accept the flags the driver chart
// passes to the upstream ones (--csi-address, --kubelet-registration-path, --health-port, ...).
module ssc.local/devcluster/sidecars

go 1.24.0

require (
	github.com/container-storage-interface/spec v1.11.0
	google.golang.org/grpc v1.72.1
	k8s.io/klog/v2 v2.130.1
	k8s.io/kubelet v0.34.4
)

require (
	github.com/go-logr/logr v1.4.2 // indirect
	golang.org/x/net v0.38.0 // indirect
	golang.org/x/sys v0.31.0 // indirect
	golang.org/x/text v0.23.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20250303144028-a0af3efb3deb // indirect
	google.golang.org/protobuf v1.36.5 // indirect
)
