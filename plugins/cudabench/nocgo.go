//go:build !cgo

package main

import (
	"context"
	"errors"

	"github.com/acceltel/acceltel/plugins/sdk"
)

// Opening libcuda.so.1 at run time needs dlopen, that is cgo; a build
// without it still describes its benchmarks and says why it cannot run them.
var errNoCgo = errors.New("cudabench was built with CGO_ENABLED=0 and cannot open libcuda.so.1")

func probe() error { return errNoCgo }

func runGPU(context.Context, string, config, func(sdk.Measurement) error) error { return errNoCgo }
