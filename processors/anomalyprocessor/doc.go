//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml

// Package anomalyprocessor scores watched metric series with acceltel's
// streaming anomaly engine (internal/anomaly) and compares peer-group members,
// adding acceltel.anomaly.* metrics and passing its input through unchanged.
package anomalyprocessor // import "github.com/acceltel/acceltel/processors/anomalyprocessor"
