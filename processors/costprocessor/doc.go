// Package costprocessor prices GPU time and splits it between workloads and idle time.
package costprocessor // import "github.com/acceltel/acceltel/processors/costprocessor"
