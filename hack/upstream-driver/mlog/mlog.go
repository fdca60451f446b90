// Package mlog is a stand-in for monis.app/mlog written for this repository: it covers only what
// sigs.k8s.io/secrets-store-csi-driver v1.6.0 calls (Setup, Fatal, Error, the two formats and the
// level setter), on top of klog. The benchmark compares CSI and provider paths, not log formatting,
// so JSON output is accepted and written as klog text.
package mlog

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"k8s.io/klog/v2"
)

// LogFormat names the driver's --log-format-json choice.
type LogFormat string

const (
	FormatText LogFormat = "text"
	FormatJSON LogFormat = "json"
)

// Setup returns the flush to defer at the end of main.
func Setup() func() { return klog.Flush }

// ValidateAndSetKlogLevelAndFormatGlobally keeps the klog verbosity the flags set.
func ValidateAndSetKlogLevelAndFormatGlobally(_ context.Context, level klog.Level, format LogFormat) error {
	if level < 0 {
		return fmt.Errorf("invalid klog level %d", level)
	}
	if format != FormatText && format != FormatJSON {
		return fmt.Errorf("unknown log format %q", format)
	}
	var v klog.Level
	return v.Set(strconv.Itoa(int(level)))
}

// Error logs msg with err and key/value pairs.
func Error(msg string, err error, keysAndValues ...any) {
	klog.ErrorS(err, msg, keysAndValues...)
}

// Fatal logs err and exits with status 1.
func Fatal(err error, keysAndValues ...any) {
	klog.ErrorS(err, "fatal error", keysAndValues...)
	klog.Flush()
	os.Exit(1)
}
