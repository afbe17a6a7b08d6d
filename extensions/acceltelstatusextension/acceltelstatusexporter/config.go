package acceltelstatusexporter // import "github.com/acceltel/acceltel/extensions/acceltelstatusextension/acceltelstatusexporter"

import (
	"go.opentelemetry.io/collector/component"
)

// Config is the configuration of the acceltelstatus exporter.
type Config struct {
	// Extension is the acceltelstatus extension to feed; the default is
	// the unnamed one.
	Extension component.ID `mapstructure:"extension"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// Validate checks that an extension of the right type is named.
func (c *Config) Validate() error {
	if c.Extension.Type().String() != "acceltelstatus" {
		return errWrongType(c.Extension)
	}
	return nil
}
