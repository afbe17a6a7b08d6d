package metricseries // import "github.com/acceltel/acceltel/internal/metricseries"

import (
	"fmt"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Statistic is the one value a histogram point is watched as: the mean or a
// quantile of the distribution of its interval.
type Statistic struct {
	pct float64 // percentile in (0,100); 0 is the mean
}

// ParseStatistic reads "mean" or a percentile written pNN (p50, p99, p99.9).
func ParseStatistic(s string) (Statistic, error) {
	if s == "mean" {
		return Statistic{}, nil
	}
	digits, ok := strings.CutPrefix(s, "p")
	// Digits and one dot only: ParseFloat would also take "1e1", "Inf", "0x1p4".
	if ok && digits != "" && strings.Trim(digits, "0123456789.") == "" && strings.Count(digits, ".") <= 1 {
		if pct, err := strconv.ParseFloat(digits, 64); err == nil && pct > 0 && pct < 100 {
			return Statistic{pct: pct}, nil
		}
	}
	return Statistic{}, fmt.Errorf("%q is not mean or a percentile between p0 and p100 (p50, p90, p95, p99, p99.9)", s)
}

// Mean reports whether the statistic is the mean.
func (s Statistic) Mean() bool { return s.pct == 0 }

func (s Statistic) String() string {
	if s.Mean() {
		return "mean"
	}
	return "p" + strconv.FormatFloat(s.pct, 'f', -1, 64)
}

type histKind uint8

const (
	histExplicit histKind = iota + 1
	histExponential
)

// Histogram is one histogram data point, explicit-bucket or exponential.
type Histogram struct {
	explicit pmetric.HistogramDataPoint
	exp      pmetric.ExponentialHistogramDataPoint
	kind     histKind
}

// IsSet reports whether the point is a histogram's: a number point's Hist
// is nil.
func (h *Histogram) IsSet() bool { return h != nil }

// Each calls fn for every number point of a gauge or sum, as EachPoint does,
// and, when histograms is true, for every point of an explicit-bucket or
// exponential histogram: such a Point has Hist set and no Value, and
// Cumulative says its temporality (Histograms.Value turns it into a value).
func Each(m pmetric.Metric, histograms bool, fn func(Point)) {
	switch m.Type() {
	case pmetric.MetricTypeHistogram:
		if !histograms {
			return
		}
		hm := m.Histogram()
		cum := hm.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		// One Histogram per metric, reused for its points: fn must not keep it.
		h := &Histogram{kind: histExplicit}
		dps := hm.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			if !dp.Flags().NoRecordedValue() {
				h.explicit = dp
				fn(Point{Timestamp: dp.Timestamp(), Start: dp.StartTimestamp(), Attrs: dp.Attributes(), Cumulative: cum, Hist: h})
			}
		}
	case pmetric.MetricTypeExponentialHistogram:
		if !histograms {
			return
		}
		hm := m.ExponentialHistogram()
		cum := hm.AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		h := &Histogram{kind: histExponential}
		dps := hm.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			if !dp.Flags().NoRecordedValue() {
				h.exp = dp
				fn(Point{Timestamp: dp.Timestamp(), Start: dp.StartTimestamp(), Attrs: dp.Attributes(), Cumulative: cum, Hist: h})
			}
		}
	default:
		EachPoint(m, fn)
	}
}

// Histograms turns histogram points into the configured statistic. It
// keeps the interval it computes in reused buffers, so that a point costs
// no allocation: a component keeps one, used under its lock.
type Histograms struct {
	Stat Statistic
	iv   interval
}

// Value returns the statistic of the interval pt ends: a delta point's own
// distribution, or for a cumulative point its difference from the previous
// point of the series, kept in prev (which must not be nil then, and is
// updated). ok is false for a cumulative series' first point or reset, an
// interval without observations, a mean without a sum, and a quantile
// without buckets to interpolate in.
func (h *Histograms) Value(pt Point, prev *HistogramState) (v float64, ok bool) {
	iv := &h.iv
	switch {
	case pt.Hist == nil:
		return 0, false
	case pt.Cumulative:
		if !prev.diff(pt, iv) {
			return 0, false
		}
	case pt.Hist.kind == histExplicit:
		iv.setExplicit(pt.Hist.explicit)
	default:
		iv.setExponential(pt.Hist.exp)
	}
	return iv.statistic(h.Stat)
}
