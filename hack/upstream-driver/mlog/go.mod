// Our own stand-in for monis.app/mlog, the logging helper the upstream driver's main package imports:
// its v0.0.2 is refused by the module proxy here. It provides only the five names the driver uses.
module monis.app/mlog

go 1.23.0

require k8s.io/klog/v2 v2.120.1

require github.com/go-logr/logr v1.4.1 // indirect
