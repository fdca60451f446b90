module github.com/secrets-store-csi/hack/upstream-driver

go 1.25

require sigs.k8s.io/secrets-store-csi-driver v1.6.0
