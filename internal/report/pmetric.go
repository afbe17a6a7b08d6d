package report

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// AddMetrics adds the points of the metrics the page uses; the live
// extension calls it with what its pipeline hands over.
func (b *Builder) AddMetrics(md pmetric.Metrics) {
	l := Labels{}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		res := rm.Resource().Attributes()
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if !Wanted(m.Name()) {
					continue
				}
				b.addMetric(m, res, l)
			}
		}
	}
}

func fillLabels(l Labels, res, attrs pcommon.Map) {
	clear(l)
	res.Range(func(k string, v pcommon.Value) bool { l[k] = v.AsString(); return true })
	attrs.Range(func(k string, v pcommon.Value) bool { l[k] = v.AsString(); return true })
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

func (b *Builder) addMetric(m pmetric.Metric, res pcommon.Map, l Labels) {
	name, unit := m.Name(), m.Unit()
	noValue := func(f pmetric.DataPointFlags) bool { return f.NoRecordedValue() }
	switch m.Type() {
	case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
		var kind Kind
		var dps pmetric.NumberDataPointSlice
		if m.Type() == pmetric.MetricTypeSum {
			s := m.Sum()
			kind, dps = SumKind(s.IsMonotonic(), s.AggregationTemporality() == pmetric.AggregationTemporalityDelta), s.DataPoints()
		} else {
			kind, dps = KindGauge, m.Gauge().DataPoints()
		}
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			if noValue(dp.Flags()) {
				continue
			}
			fillLabels(l, res, dp.Attributes())
			b.AddNumber(name, unit, kind, l, int64(dp.Timestamp()), numberValue(dp))
		}
	case pmetric.MetricTypeHistogram:
		h := m.Histogram()
		delta := h.AggregationTemporality() == pmetric.AggregationTemporalityDelta
		dps := h.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			if noValue(dp.Flags()) {
				continue
			}
			fillLabels(l, res, dp.Attributes())
			hist := Hist{Bounds: dp.ExplicitBounds().AsRaw(), Count: float64(dp.Count()), Sum: dp.Sum()}
			for _, c := range dp.BucketCounts().AsRaw() {
				hist.Counts = append(hist.Counts, float64(c))
			}
			if len(hist.Counts) != len(hist.Bounds)+1 {
				continue // malformed: OTLP requires one more count than bounds
			}
			b.AddHistogram(name, unit, delta, l, int64(dp.Timestamp()), hist)
		}
	case pmetric.MetricTypeExponentialHistogram:
		h := m.ExponentialHistogram()
		delta := h.AggregationTemporality() == pmetric.AggregationTemporalityDelta
		dps := h.DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			if noValue(dp.Flags()) {
				continue
			}
			fillLabels(l, res, dp.Attributes())
			hist := ExpHist(dp.Scale(), dp.ZeroCount(), dp.ZeroThreshold(), dp.Positive().Offset(), dp.Positive().BucketCounts().AsRaw(), dp.Count(), dp.Sum())
			b.AddHistogram(name, unit, delta, l, int64(dp.Timestamp()), hist)
		}
	}
}

// SumKind says how a sum adds up: a non-monotonic cumulative sum (memory
// in use, a queue length) is a level, read like a gauge.
func SumKind(monotonic, delta bool) Kind {
	switch {
	case delta:
		return KindDelta
	case monotonic:
		return KindCumulative
	}
	return KindGauge
}
