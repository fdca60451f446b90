//go:build tools

// Package tools pins the etcd server module so `go mod tidy` keeps it; the binary is built
// with `go build go.etcd.io/etcd/server/v3`.
package tools

import _ "go.etcd.io/etcd/server/v3"
