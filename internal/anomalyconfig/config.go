// Package anomalyconfig is the configuration the anomaly processor and the
// anomaly connector share, so that one block of YAML moves between them and
// both map it onto the engine (internal/anomaly) the same way.
package anomalyconfig // import "github.com/acceltel/acceltel/internal/anomalyconfig"

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/acceltel/acceltel/internal/anomaly"
	"github.com/acceltel/acceltel/internal/metricseries"
)

// Watch selects what to watch and how; components embed it with
// `mapstructure:",squash"` and call Check from their Validate.
type Watch struct {
	// Include selects watched metrics: exact names, or prefixes ending in '*'.
	// (The key "metrics" belongs to the per-metric enabled flags of mdatagen.)
	Include []string `mapstructure:"include"`
	// MatchAttributes narrows the watched points to those whose attributes
	// (the point's, else its resource's) have these values, e.g.
	// hw.gpu.task: general.
	MatchAttributes map[string]string `mapstructure:"match_attributes"`
	// Detectors parameterises the per-series ensemble.
	Detectors Detectors `mapstructure:"detectors"`
	// HistogramStatistic is what each point of a watched histogram is
	// watched as: mean, or a percentile such as p50, p99 or p99.9 of the
	// point's interval.
	HistogramStatistic string `mapstructure:"histogram_statistic"`
	// ScoreThreshold is the score at which a series is anomalous (0.5: SPOT's
	// threshold at false-alarm probability detectors.spot_q).
	ScoreThreshold float64 `mapstructure:"score_threshold"`
	// PeerGroups compares members of a group interval by interval (one
	// ConsumeMetrics call is one interval).
	PeerGroups []PeerGroup `mapstructure:"peer_groups"`
	// MaxSeries caps the series with state; what a new series does at the
	// cap is the component's choice (see its README).
	MaxSeries int `mapstructure:"max_series"`
	// StateTTL forgets a series or group not seen for this long.
	StateTTL time.Duration `mapstructure:"state_ttl"`
}

// Detectors maps onto anomaly.Config.
type Detectors struct {
	RobustWindow   int     `mapstructure:"robust_window"`
	EWMAAlpha      float64 `mapstructure:"ewma_alpha"`
	Seasonal       bool    `mapstructure:"seasonal"`
	SeasonalPeriod int     `mapstructure:"seasonal_period"` // samples; 0 detects
	Combine        string  `mapstructure:"combine"`         // mean or max
	SPOTQ          float64 `mapstructure:"spot_q"`
	SPOTLevel      float64 `mapstructure:"spot_level"`
	SPOTInit       int     `mapstructure:"spot_init"`
	Refractory     float64 `mapstructure:"refractory"`
	KNNWindow      int     `mapstructure:"knn_window"` // values; 0 turns KNN off
	KNNDim         int     `mapstructure:"knn_dim"`    // values per lag vector
	KNNK           int     `mapstructure:"knn_k"`      // neighbours averaged
	KNNWeight      float64 `mapstructure:"knn_weight"` // in the mean, against the others' 1
	RestPeriod     int     `mapstructure:"rest_period"`
	// NoveltyCalib (points; 0 turns it off) learns the series' range for
	// transition novelty; a step between levels never seen before has its
	// tail probability multiplied by NoveltyP.
	NoveltyCalib int     `mapstructure:"novelty_calib"`
	NoveltyP     float64 `mapstructure:"novelty_p"`
}

// PeerGroup describes one peer comparison.
type PeerGroup struct {
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

// DefaultDetectors is the engine's default ensemble, as configuration.
func DefaultDetectors() Detectors {
	c := anomaly.DefaultConfig()
	return Detectors{
		RobustWindow: c.RobustWindow, EWMAAlpha: c.EWMAAlpha, Seasonal: c.Seasonal,
		Combine: "mean", SPOTQ: c.SPOTQ, SPOTLevel: c.SPOTLevel, SPOTInit: c.SPOTInit, Refractory: c.Refractory,
		KNNWindow: c.KNNWindow, KNNDim: c.KNNDim, KNNK: c.KNNK, KNNWeight: c.KNNWeight, RestPeriod: c.RestPeriod,
		NoveltyCalib: c.NoveltyCalib, NoveltyP: c.NoveltyP,
	}
}

// Engine is the engine configuration these settings describe.
func (d Detectors) Engine() anomaly.Config {
	c := anomaly.DefaultConfig()
	c.RobustWindow, c.EWMAAlpha, c.Seasonal = d.RobustWindow, d.EWMAAlpha, d.Seasonal
	c.SeasonalCfg.Period = d.SeasonalPeriod
	c.Combine = anomaly.CombineMean
	if d.Combine == "max" {
		c.Combine = anomaly.CombineMax
	}
	c.SPOTQ, c.SPOTLevel, c.SPOTInit, c.Refractory = d.SPOTQ, d.SPOTLevel, d.SPOTInit, d.Refractory
	c.KNNWindow, c.KNNDim, c.KNNK, c.KNNWeight, c.RestPeriod = d.KNNWindow, d.KNNDim, d.KNNK, d.KNNWeight, d.RestPeriod
	c.NoveltyCalib, c.NoveltyP = d.NoveltyCalib, d.NoveltyP
	return c
}

// Statistic is the parsed histogram_statistic (mean if it does not parse:
// Check reports that).
func (w *Watch) Statistic() metricseries.Statistic {
	s, _ := metricseries.ParseStatistic(w.HistogramStatistic)
	return s
}

// Engine is the engine's peer configuration for this group.
func (p PeerGroup) Engine() anomaly.PeerConfig {
	c := anomaly.PeerConfig{Threshold: p.Threshold, MinRelative: p.MinRelative, K: p.K, N: p.N, MinMembers: p.MinMembers}
	switch p.Direction {
	case "high":
		c.Direction = anomaly.High
	case "low":
		c.Direction = anomaly.Low
	}
	return c
}

// FillPeerDefaults sets each group's unset fields to the engine's defaults,
// which mapstructure cannot do for list elements; components call it from
// their Unmarshal.
func FillPeerDefaults(groups []PeerGroup) {
	d := anomaly.DefaultPeerConfig()
	for i := range groups {
		p := &groups[i]
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
}

// Check returns every problem of the shared settings. It is not named
// Validate so that confmap does not run it a second time on the embedded
// struct after the component's own Validate.
func (w *Watch) Check() []error {
	var errs []error
	if len(w.Include) == 0 && len(w.PeerGroups) == 0 {
		errs = append(errs, errors.New("include or peer_groups must name at least one metric"))
	}
	for _, m := range w.Include {
		if strings.TrimSuffix(m, "*") == "" || strings.Count(m, "*") > 1 || (strings.Contains(m, "*") && !strings.HasSuffix(m, "*")) {
			errs = append(errs, fmt.Errorf("include: %q must be a name or a prefix ending in '*'", m))
		}
	}
	errs = append(errs, w.Detectors.check()...)
	if _, err := metricseries.ParseStatistic(w.HistogramStatistic); err != nil {
		errs = append(errs, fmt.Errorf("histogram_statistic: %w", err))
	}
	if !(w.ScoreThreshold > 0 && w.ScoreThreshold < 1) {
		errs = append(errs, errors.New("score_threshold must be in (0,1)"))
	}
	for i, p := range w.PeerGroups {
		if p.Metric == "" || len(p.Member) == 0 {
			errs = append(errs, fmt.Errorf("peer_groups[%d]: metric and member are required", i))
		}
		if p.Direction != "both" && p.Direction != "high" && p.Direction != "low" {
			errs = append(errs, fmt.Errorf("peer_groups[%d]: direction %q is not both, high or low", i, p.Direction))
		}
		if err := p.Engine().Validate(); err != nil {
			errs = append(errs, fmt.Errorf("peer_groups[%d]: %w", i, err))
		}
	}
	if w.MaxSeries < 1 {
		errs = append(errs, errors.New("max_series must be >= 1"))
	}
	if w.StateTTL <= 0 {
		errs = append(errs, errors.New("state_ttl must be > 0"))
	}
	return errs
}

// Includes reports whether Include selects the metric name.
func (w *Watch) Includes(name string) bool {
	for _, m := range w.Include {
		if pre, ok := strings.CutSuffix(m, "*"); ok {
			if strings.HasPrefix(name, pre) {
				return true
			}
		} else if m == name {
			return true
		}
	}
	return false
}

// Matches reports whether a point with attrs on a resource with res passes
// MatchAttributes.
func (w *Watch) Matches(res, attrs pcommon.Map) bool {
	for k, want := range w.MatchAttributes {
		v, ok := attrs.Get(k)
		if !ok {
			v, ok = res.Get(k)
		}
		if !ok || v.AsString() != want {
			return false
		}
	}
	return true
}
