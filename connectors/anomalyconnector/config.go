package anomalyconnector // import "github.com/acceltel/acceltel/connectors/anomalyconnector"

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/confmap"

	"github.com/acceltel/acceltel/internal/anomaly"
)

// Config is the anomaly connector's configuration. Its keys are the anomaly
// processor's, so that one block of YAML can move between the two.
type Config struct {
	// Include selects watched metrics: exact names, or prefixes ending in '*'.
	Include []string `mapstructure:"include"`
	// Detectors parameterises the per-series ensemble.
	Detectors DetectorsConfig `mapstructure:"detectors"`
	// ScoreThreshold starts an anomaly when a series' score reaches it (0.5:
	// SPOT's threshold at false-alarm probability detectors.spot_q).
	ScoreThreshold float64 `mapstructure:"score_threshold"`
	// ClearAfter clears an anomaly after this many consecutive points below
	// the threshold, so that one quiet point in a bad stretch clears nothing.
	ClearAfter int `mapstructure:"clear_after"`
	// PeerGroups compares members of a group interval by interval (one
	// ConsumeMetrics call is one interval); the group's k-of-n hysteresis
	// decides when a straggler starts and clears.
	PeerGroups []PeerGroupConfig `mapstructure:"peer_groups"`
	// MaxSeries caps the series with state; beyond it new series are not watched.
	MaxSeries int `mapstructure:"max_series"`
	// StateTTL forgets a series or group not seen for this long (an active
	// anomaly on it ends without a clear record).
	StateTTL time.Duration `mapstructure:"state_ttl"`
}

// DetectorsConfig maps onto anomaly.Config.
type DetectorsConfig struct {
	RobustWindow   int     `mapstructure:"robust_window"`
	EWMAAlpha      float64 `mapstructure:"ewma_alpha"`
	Seasonal       bool    `mapstructure:"seasonal"`
	SeasonalPeriod int     `mapstructure:"seasonal_period"` // samples; 0 detects
	Combine        string  `mapstructure:"combine"`         // mean or max
	SPOTQ          float64 `mapstructure:"spot_q"`
	SPOTLevel      float64 `mapstructure:"spot_level"`
	SPOTInit       int     `mapstructure:"spot_init"`
	Refractory     float64 `mapstructure:"refractory"`
}

// PeerGroupConfig describes one peer comparison.
type PeerGroupConfig struct {
	Metric string `mapstructure:"metric"`
	// GroupBy attributes (resource or data point) define the group, e.g. hw.model and ml.job.id.
	GroupBy []string `mapstructure:"group_by"`
	// Member attributes identify a member within a group, e.g. hw.id.
	Member      []string `mapstructure:"member"`
	Direction   string   `mapstructure:"direction"` // both, high, low
	Threshold   float64  `mapstructure:"threshold"`
	MinRelative float64  `mapstructure:"min_relative"`
	K           int      `mapstructure:"k"`
	N           int      `mapstructure:"n"`
	MinMembers  int      `mapstructure:"min_members"`
}

func defaultDetectors() DetectorsConfig {
	c := anomaly.DefaultConfig()
	return DetectorsConfig{
		RobustWindow: c.RobustWindow, EWMAAlpha: c.EWMAAlpha, Seasonal: c.Seasonal,
		Combine: "mean", SPOTQ: c.SPOTQ, SPOTLevel: c.SPOTLevel, SPOTInit: c.SPOTInit, Refractory: c.Refractory,
	}
}

func (d DetectorsConfig) engine() anomaly.Config {
	c := anomaly.DefaultConfig()
	c.RobustWindow, c.EWMAAlpha, c.Seasonal = d.RobustWindow, d.EWMAAlpha, d.Seasonal
	c.SeasonalCfg.Period = d.SeasonalPeriod
	c.Combine = anomaly.CombineMean
	if d.Combine == "max" {
		c.Combine = anomaly.CombineMax
	}
	c.SPOTQ, c.SPOTLevel, c.SPOTInit, c.Refractory = d.SPOTQ, d.SPOTLevel, d.SPOTInit, d.Refractory
	return c
}

func (p PeerGroupConfig) engine() anomaly.PeerConfig {
	c := anomaly.PeerConfig{Threshold: p.Threshold, MinRelative: p.MinRelative, K: p.K, N: p.N, MinMembers: p.MinMembers}
	switch p.Direction {
	case "high":
		c.Direction = anomaly.High
	case "low":
		c.Direction = anomaly.Low
	}
	return c
}

// Unmarshal fills each peer group's unset fields with the defaults, which
// mapstructure cannot do for list elements.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	if err := conf.Unmarshal(c); err != nil {
		return err
	}
	d := anomaly.DefaultPeerConfig()
	for i := range c.PeerGroups {
		p := &c.PeerGroups[i]
		if p.Direction == "" {
			p.Direction = "both"
		}
		if p.Threshold == 0 {
			p.Threshold = d.Threshold
		}
		if p.MinRelative == 0 {
			p.MinRelative = d.MinRelative
		}
		if p.K == 0 {
			p.K = d.K
		}
		if p.N == 0 {
			p.N = d.N
		}
		if p.MinMembers == 0 {
			p.MinMembers = d.MinMembers
		}
	}
	return nil
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Include) == 0 && len(c.PeerGroups) == 0 {
		errs = append(errs, errors.New("include or peer_groups must name at least one metric"))
	}
	for _, m := range c.Include {
		if strings.TrimSuffix(m, "*") == "" || strings.Count(m, "*") > 1 || (strings.Contains(m, "*") && !strings.HasSuffix(m, "*")) {
			errs = append(errs, fmt.Errorf("include: %q must be a name or a prefix ending in '*'", m))
		}
	}
	if c.Detectors.Combine != "mean" && c.Detectors.Combine != "max" {
		errs = append(errs, fmt.Errorf("detectors.combine: %q is not mean or max", c.Detectors.Combine))
	}
	if c.Detectors.SeasonalPeriod < 0 {
		errs = append(errs, errors.New("detectors.seasonal_period must be >= 0"))
	}
	if err := c.Detectors.engine().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("detectors: %w", err))
	}
	if !(c.ScoreThreshold > 0 && c.ScoreThreshold < 1) {
		errs = append(errs, errors.New("score_threshold must be in (0,1)"))
	}
	if c.ClearAfter < 1 {
		errs = append(errs, errors.New("clear_after must be >= 1"))
	}
	for i, p := range c.PeerGroups {
		if p.Metric == "" || len(p.Member) == 0 {
			errs = append(errs, fmt.Errorf("peer_groups[%d]: metric and member are required", i))
		}
		if p.Direction != "both" && p.Direction != "high" && p.Direction != "low" {
			errs = append(errs, fmt.Errorf("peer_groups[%d]: direction %q is not both, high or low", i, p.Direction))
		}
		if err := p.engine().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("peer_groups[%d]: %w", i, err))
		}
	}
	if c.MaxSeries < 1 {
		errs = append(errs, errors.New("max_series must be >= 1"))
	}
	if c.StateTTL <= 0 {
		errs = append(errs, errors.New("state_ttl must be > 0"))
	}
	return errors.Join(errs...)
}
