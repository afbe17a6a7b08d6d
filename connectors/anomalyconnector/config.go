package anomalyconnector // import "github.com/acceltel/acceltel/connectors/anomalyconnector"

import (
	"errors"

	"go.opentelemetry.io/collector/confmap"

	"github.com/acceltel/acceltel/internal/anomalyconfig"
)

// Config is the anomaly connector's configuration. Its watch keys are the
// anomaly processor's (internal/anomalyconfig), so that one block of YAML can
// move between the two; a series' anomaly starts when its score reaches
// score_threshold, and a state_ttl expiry ends an active one without a clear
// record.
type Config struct {
	anomalyconfig.Watch `mapstructure:",squash"`
	// ClearAfter clears an anomaly after this many consecutive points below
	// the threshold, so that one quiet point in a bad stretch clears nothing.
	ClearAfter int `mapstructure:"clear_after"`
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
	errs := c.Check()
	if c.ClearAfter < 1 {
		errs = append(errs, errors.New("clear_after must be >= 1"))
	}
	return errors.Join(errs...)
}
