//go:build !linux

package main

import (
	"context"
	"errors"

	"github.com/acceltel/acceltel/plugins/sdk"
)

func runStorage(context.Context, string, int64, int64, bool, func(sdk.Measurement) error) error {
	return errors.New("the storage benchmark needs Linux (O_DIRECT)")
}
