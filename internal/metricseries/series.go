// Package metricseries flattens pdata number and histogram points into
// series keyed by metric name and attributes, for the anomaly processor and
// connector.
package metricseries // import "github.com/acceltel/acceltel/internal/metricseries"

import (
	"slices"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Point is one data point of a watched metric, flattened.
type Point struct {
	Timestamp pcommon.Timestamp
	Start     pcommon.Timestamp
	Value     float64
	Attrs     pcommon.Map
	// Hist is a histogram point's distribution (see Each), valid during the
	// call it is passed to; Value is then unset. A pointer, so that number
	// points, the common case, are not copied around with a histogram's room.
	Hist *Histogram
	// Cumulative marks a cumulative monotonic sum, whose rate is watched,
	// or a cumulative histogram, whose intervals are.
	Cumulative bool
}

// EachPoint calls fn for every number data point of a gauge or sum.
func EachPoint(m pmetric.Metric, fn func(Point)) {
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
		fn(Point{Timestamp: dp.Timestamp(), Start: dp.StartTimestamp(), Value: v, Attrs: dp.Attributes(), Cumulative: cum})
	}
}

// Key identifies a series by metric name and its resource and point
// attributes, sorted so that attribute order does not split a series.
func Key(b *strings.Builder, name string, res, attrs pcommon.Map) string {
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

// ResourceKey is the part of Key that comes from the resource: the same
// for every point of it, so a caller keying many points of one resource
// computes it once (see AppendKey).
func ResourceKey(res pcommon.Map) string {
	return string(appendSorted(nil, res))
}

// AppendResourceKey appends the bytes of ResourceKey(res) to dst: a map
// lookup with string(dst) does not allocate.
func AppendResourceKey(dst []byte, res pcommon.Map) []byte {
	return appendSorted(dst, res)
}

// AppendPointKey appends a key of name and the point attributes alone, for
// callers that keep series per resource (ResourceKey) first.
func AppendPointKey(dst []byte, name string, attrs pcommon.Map) []byte {
	dst = append(dst, name...)
	dst = append(dst, 0)
	return appendSorted(dst, attrs)
}

// AppendKey appends the bytes of Key(name, res, attrs) to dst, given
// resKey = ResourceKey(res), without sorting and writing the resource's
// attributes again for each point. A map lookup with string(key) does not
// allocate, so only a new series costs an allocation for its key.
func AppendKey(dst []byte, name, resKey string, attrs pcommon.Map) []byte {
	dst = append(dst, name...)
	dst = append(dst, 0)
	dst = append(dst, resKey...)
	dst = append(dst, 0)
	return appendSorted(dst, attrs)
}

// appendSorted writes m's attributes in key order as Key does: key '='
// value, each followed by byte 1.
func appendSorted(dst []byte, m pcommon.Map) []byte {
	var arr [16]string
	keys := arr[:0]
	for k := range m.All() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, _ := m.Get(k)
		dst = append(dst, k...)
		dst = append(dst, '=')
		dst = append(dst, v.AsString()...)
		dst = append(dst, 1)
	}
	return dst
}

// Lookup finds an attribute// Lookup finds an attribute on the point first, then on the resource.
func Lookup(key string, res, attrs pcommon.Map) (pcommon.Value, bool) {
	if v, ok := attrs.Get(key); ok {
		return v, true
	}
	return res.Get(key)
}

// JoinAttrs builds a group or member key from the named attributes; ok is
// false when one is missing, so such points join no group.
func JoinAttrs(b *strings.Builder, keys []string, res, attrs pcommon.Map) (string, bool) {
	b.Reset()
	for _, k := range keys {
		v, ok := Lookup(k, res, attrs)
		if !ok {
			return "", false
		}
		b.WriteString(v.AsString())
		b.WriteByte(0)
	}
	return b.String(), true
}
