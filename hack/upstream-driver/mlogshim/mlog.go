// Package mlog stands in for monis.app/mlog, which the module proxy of this environment refuses to serve.
// It covers exactly what the upstream driver's main package calls (log setup); the driver's behaviour is
// unchanged apart from log formatting. Used only to build the upstream driver for side-by-side benchmarks.
package mlog

import (
	"context"
	"fmt"
	"os"
)

// Format is the log output format.
type Format string

const (
	FormatText Format = "text"
	FormatJSON Format = "json"
)

// Setup returns the function that flushes logs on exit.
func Setup() func() { return func() {} }

// ValidateAndSetKlogLevelAndFormatGlobally accepts every level and format.
func ValidateAndSetKlogLevelAndFormatGlobally[L ~int32](_ context.Context, _ L, _ Format) error {
	return nil
}

// Error logs an error with a message.
func Error(msg string, args ...any) { fmt.Fprintln(os.Stderr, append([]any{"error:", msg}, args...)...) }

// Fatal logs an error and exits.
func Fatal(err error) {
	fmt.Fprintln(os.Stderr, "fatal:", err)
	os.Exit(1)
}
