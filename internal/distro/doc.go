// Package distro holds the component list of the otelcol-acceltel distribution.
//
// components.go is generated from builder-config.yaml by `make generate`: OCB
// writes it for the distribution binary and the Makefile renames its package,
// so the acceltel CLI and the collector are built from one list.
package distro
