package anomalyprocessor // import "github.com/acceltel/acceltel/processors/anomalyprocessor"

import (
	"errors"

	"go.opentelemetry.io/collector/confmap"

	"github.com/acceltel/acceltel/internal/anomalyconfig"
	"github.com/acceltel/acceltel/processors/anomalyprocessor/internal/metadata"
)

// Config is the anomaly processor's configuration. Its watch keys are the
// anomaly connector's (internal/anomalyconfig).
type Config struct {
	metadata.MetricsBuilderConfig `mapstructure:",squash"`
	anomalyconfig.Watch           `mapstructure:",squash"`
}

// DetectorsConfig and PeerGroupConfig are the shared settings under their names here.
type (
	DetectorsConfig = anomalyconfig.Detectors
	PeerGroupConfig = anomalyconfig.PeerGroup
)

// Unmarshal fills each peer group's unset fields with the defaults.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	if err := conf.Unmarshal(c); err != nil {
		return err
	}
	anomalyconfig.FillPeerDefaults(c.PeerGroups)
	return nil
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	return errors.Join(c.Check()...)
}
