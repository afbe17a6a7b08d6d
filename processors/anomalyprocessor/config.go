package anomalyprocessor // import "github.com/acceltel/acceltel/processors/anomalyprocessor"

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/confmap"

	"github.com/acceltel/acceltel/internal/anomalyconfig"
	"github.com/acceltel/acceltel/processors/anomalyprocessor/internal/metadata"
)

// Config is the anomaly processor's configuration. Its watch keys are the
// anomaly connector's (internal/anomalyconfig).
type Config struct {
	metadata.MetricsBuilderConfig `mapstructure:",squash"`
	anomalyconfig.Watch           `mapstructure:",squash"`
	// MaxSeriesPolicy is what a new series does at max_series: "evict" the
	// least recently seen series (counted in acceltel.anomaly.series.evicted),
	// or be "refuse"d (its points counted in acceltel.anomaly.series.dropped),
	// which keeps the established series' state when more series are live
	// than the cap allows and eviction would keep replacing them all.
	MaxSeriesPolicy string `mapstructure:"max_series_policy"`
}

// Policies of max_series_policy.
const (
	policyEvict  = "evict"
	policyRefuse = "refuse"
)

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
	if c.MaxSeriesPolicy != policyEvict && c.MaxSeriesPolicy != policyRefuse {
		errs = append(errs, fmt.Errorf("max_series_policy: %q is not evict or refuse", c.MaxSeriesPolicy))
	}
	return errors.Join(errs...)
}
