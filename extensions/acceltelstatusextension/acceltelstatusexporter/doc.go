// Package acceltelstatusexporter feeds a metrics pipeline to the
// acceltelstatus extension's live status page.
//
//go:generate go tool -modfile=../../../internal/tools/go.mod mdatagen metadata.yaml
package acceltelstatusexporter // import "github.com/acceltel/acceltel/extensions/acceltelstatusextension/acceltelstatusexporter"
