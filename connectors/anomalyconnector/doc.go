//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml

// Package anomalyconnector is the metrics → logs form of acceltel's anomaly
// engine (internal/anomaly): it scores watched series and compares peer-group
// members, and emits one log record when an anomaly starts and one when it clears.
package anomalyconnector // import "github.com/acceltel/acceltel/connectors/anomalyconnector"
