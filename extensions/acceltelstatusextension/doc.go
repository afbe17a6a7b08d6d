// Package acceltelstatusextension serves a live status page, the acceltel
// report's views over the last hour, from metrics the acceltelstatus
// exporter hands it.
//
//go:generate go tool -modfile=../../internal/tools/go.mod mdatagen metadata.yaml
package acceltelstatusextension // import "github.com/acceltel/acceltel/extensions/acceltelstatusextension"
