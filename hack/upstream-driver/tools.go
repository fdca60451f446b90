//go:build tools

// Package tools pins every non-standard package the upstream driver's main package imports, so that
// `go mod tidy` keeps their go.sum lines; the binary is built with
// `go build sigs.k8s.io/secrets-store-csi-driver/cmd/secrets-store-csi-driver`.
package tools

import (
	_ "google.golang.org/grpc"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/fields"
	_ "k8s.io/apimachinery/pkg/labels"
	_ "k8s.io/apimachinery/pkg/runtime"
	_ "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/klog/v2"
	_ "monis.app/mlog"
	_ "sigs.k8s.io/controller-runtime"
	_ "sigs.k8s.io/controller-runtime/pkg/cache"
	_ "sigs.k8s.io/controller-runtime/pkg/client"
	_ "sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	_ "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	_ "sigs.k8s.io/secrets-store-csi-driver/apis/v1"
	_ "sigs.k8s.io/secrets-store-csi-driver/controllers"
	_ "sigs.k8s.io/secrets-store-csi-driver/pkg/metrics"
	_ "sigs.k8s.io/secrets-store-csi-driver/pkg/secrets-store"
	_ "sigs.k8s.io/secrets-store-csi-driver/pkg/version"
)
