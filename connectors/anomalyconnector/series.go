package anomalyconnector // import "github.com/acceltel/acceltel/connectors/anomalyconnector"

// Copied from processors/anomalyprocessor/series.go (unexported there); keep the two in step.

import (
	"sort"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// point is one numeric data point of a watched metric, flattened.
type point struct {
	ts    pcommon.Timestamp
	start pcommon.Timestamp
	value float64
	attrs pcommon.Map
	// cumulative marks a cumulative monotonic sum: the engine watches its rate.
	cumulative bool
}

// eachPoint calls fn for every number data point of a gauge or sum.
func eachPoint(m pmetric.Metric, fn func(point)) {
	var dps pmetric.NumberDataPointSlice
	cum := false
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dps = m.Gauge().DataPoints()
	case pmetric.MetricTypeSum:
		dps = m.Sum().DataPoints()
		cum = m.Sum().IsMonotonic() && m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	default:
		return
	}
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		if dp.Flags().NoRecordedValue() {
			continue
		}
		v := dp.DoubleValue()
		if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
			v = float64(dp.IntValue())
		}
		fn(point{ts: dp.Timestamp(), start: dp.StartTimestamp(), value: v, attrs: dp.Attributes(), cumulative: cum})
	}
}

// seriesKey identifies a series by metric name and its resource and point
// attributes, sorted so that attribute order does not split a series.
func seriesKey(b *strings.Builder, name string, res, attrs pcommon.Map) string {
	b.Reset()
	b.WriteString(name)
	for _, m := range []pcommon.Map{res, attrs} {
		b.WriteByte(0)
		keys := make([]string, 0, m.Len())
		for k := range m.All() {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v, _ := m.Get(k)
			b.WriteString(k)
			b.WriteByte('=')
			b.WriteString(v.AsString())
			b.WriteByte(1)
		}
	}
	return b.String()
}

// lookup finds an attribute on the point first, then on the resource.
func lookup(key string, res, attrs pcommon.Map) (pcommon.Value, bool) {
	if v, ok := attrs.Get(key); ok {
		return v, true
	}
	return res.Get(key)
}

// joinAttrs builds a group or member key from the named attributes; ok is
// false when one is missing, so such points join no group.
func joinAttrs(b *strings.Builder, keys []string, res, attrs pcommon.Map) (string, bool) {
	b.Reset()
	for _, k := range keys {
		v, ok := lookup(k, res, attrs)
		if !ok {
			return "", false
		}
		b.WriteString(v.AsString())
		b.WriteByte(0)
	}
	return b.String(), true
}
