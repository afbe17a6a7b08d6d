// Package nvmlreceiver reads NVIDIA GPU telemetry from NVML.
//
//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml
package nvmlreceiver // import "github.com/acceltel/acceltel/receivers/nvmlreceiver"
