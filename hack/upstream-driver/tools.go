//go:build tools

// Package tools pins the upstream Secrets Store CSI driver so `make upstream-driver` can build it for the
// side-by-side benchmarks. `go install ...@v1.6.0` does not work here: it asks the module proxy for the
// version list (deprecation check), which this environment's proxy refuses.
package tools

import _ "sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver"
