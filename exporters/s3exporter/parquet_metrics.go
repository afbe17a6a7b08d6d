package s3exporter // import "github.com/acceltel/acceltel/exporters/s3exporter"

import (
	"cmp"
	"maps"
	"slices"
	"sync"

	"github.com/parquet-go/parquet-go"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// metricRow is the Parquet schema of metrics, one row per data point, and
// the type to read files back into. Column names use underscores so SQL
// needs no quoting. Timestamps are microseconds because Spark 3 cannot read
// nanosecond Parquet timestamps at all; the OTLP formats keep nanoseconds.
// Columns a point type lacks are null (value for histograms, count for
// gauges, ...). Exemplars are not written; the OTLP formats keep them.
type metricRow struct {
	Timestamp        int64             `parquet:"timestamp,timestamp(microsecond),delta"`
	MetricName       string            `parquet:"metric_name,dict"`
	Value            *float64          `parquet:"value,optional"`
	HostName         *string           `parquet:"host_name,optional,dict"`
	HwID             *string           `parquet:"hw_id,optional,dict"`
	K8sNamespaceName *string           `parquet:"k8s_namespace_name,optional,dict"`
	K8sPodName       *string           `parquet:"k8s_pod_name,optional,dict"`
	ServiceName      *string           `parquet:"service_name,optional,dict"`
	Attributes       map[string]string `parquet:"attributes" parquet-key:",dict" parquet-value:",dict"`
	StartTimestamp   *int64            `parquet:"start_timestamp,optional,timestamp(microsecond)"`
	MetricType       string            `parquet:"metric_type,dict"`
	Unit             string            `parquet:"unit,dict"`
	Temporality      *string           `parquet:"temporality,optional,dict"`
	Monotonic        *bool             `parquet:"monotonic,optional"`
	Count            *int64            `parquet:"count,optional"`
	Sum              *float64          `parquet:"sum,optional"`
	Min              *float64          `parquet:"min,optional"`
	Max              *float64          `parquet:"max,optional"`
	BucketCounts     []int64           `parquet:"bucket_counts,optional,list"`
	ExplicitBounds   []float64         `parquet:"explicit_bounds,optional,list"`
	Scale            *int32            `parquet:"scale,optional"`
	ZeroCount        *int64            `parquet:"zero_count,optional"`
	ZeroThreshold    *float64          `parquet:"zero_threshold,optional"`
	PositiveOffset   *int32            `parquet:"positive_offset,optional"`
	PositiveBuckets  []int64           `parquet:"positive_bucket_counts,optional,list"`
	NegativeOffset   *int32            `parquet:"negative_offset,optional"`
	NegativeBuckets  []int64           `parquet:"negative_bucket_counts,optional,list"`
	Quantiles        []float64         `parquet:"quantiles,optional,list"`
	QuantileValues   []float64         `parquet:"quantile_values,optional,list"`
	Flags            int32             `parquet:"flags"`
	Description      string            `parquet:"description,dict"`
	ResourceAttrs    map[string]string `parquet:"resource_attributes" parquet-key:",dict" parquet-value:",dict"`
	ScopeName        string            `parquet:"scope_name,dict"`
	ScopeVersion     string            `parquet:"scope_version,dict"`
}

// The message name is what schema-printing tools show; the Go type name is
// an implementation detail.
var metricSchema = parquet.NewSchema("acceltel_metrics", parquet.SchemaOf(metricRow{}))

// metricPoint is a data point on its way to the columns: the pdata point
// itself and what is shared with its neighbours.
type metricPoint struct {
	ts     int64
	hash   uint64
	metric *metricInfo
	res    *resourceInfo
	scope  *pcommon.InstrumentationScope
	attrs  []kv
	// One of these, by metric.kind.
	num     pmetric.NumberDataPoint
	hist    pmetric.HistogramDataPoint
	exp     pmetric.ExponentialHistogramDataPoint
	summary pmetric.SummaryDataPoint
}

type metricInfo struct {
	name, unit, description string
	kind                    pmetric.MetricType
	typeName                string
	temporality             *string
	monotonic               *bool
	// rank orders metrics by name (then the rest of their identity), so the
	// sort compares integers rather than strings.
	rank int
}

// metricKey identifies a metric across the resources of a batch, which
// all repeat it: one metricInfo serves them all.
type metricKey struct {
	name, unit, description string
	kind                    pmetric.MetricType
	temporality             pmetric.AggregationTemporality
	monotonic               bool
}

func keyOf(m pmetric.Metric) metricKey {
	k := metricKey{name: m.Name(), unit: m.Unit(), description: m.Description(), kind: m.Type()}
	switch m.Type() {
	case pmetric.MetricTypeSum:
		k.temporality, k.monotonic = m.Sum().AggregationTemporality(), m.Sum().IsMonotonic()
	case pmetric.MetricTypeHistogram:
		k.temporality = m.Histogram().AggregationTemporality()
	case pmetric.MetricTypeExponentialHistogram:
		k.temporality = m.ExponentialHistogram().AggregationTemporality()
	}
	return k
}

var (
	temporalityCumulative = "cumulative"
	temporalityDelta      = "delta"
	monotonicTrue         = true
	monotonicFalse        = false
)

func newMetricInfo(m pmetric.Metric) *metricInfo {
	mi := &metricInfo{name: m.Name(), unit: m.Unit(), description: m.Description(), kind: m.Type()}
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		mi.typeName = "gauge"
	case pmetric.MetricTypeSum:
		mi.typeName = "sum"
		mi.temporality = temporalityOf(m.Sum().AggregationTemporality())
		mi.monotonic = &monotonicFalse
		if m.Sum().IsMonotonic() {
			mi.monotonic = &monotonicTrue
		}
	case pmetric.MetricTypeHistogram:
		mi.typeName = "histogram"
		mi.temporality = temporalityOf(m.Histogram().AggregationTemporality())
	case pmetric.MetricTypeExponentialHistogram:
		mi.typeName = "exponential_histogram"
		mi.temporality = temporalityOf(m.ExponentialHistogram().AggregationTemporality())
	case pmetric.MetricTypeSummary:
		mi.typeName = "summary"
	}
	return mi
}

func compareKeys(a, b metricKey) int {
	boolInt := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	return cmp.Or(
		cmp.Compare(a.name, b.name),
		cmp.Compare(a.kind, b.kind),
		cmp.Compare(a.unit, b.unit),
		cmp.Compare(a.description, b.description),
		cmp.Compare(a.temporality, b.temporality),
		cmp.Compare(boolInt(a.monotonic), boolInt(b.monotonic)),
	)
}

func temporalityOf(t pmetric.AggregationTemporality) *string {
	switch t {
	case pmetric.AggregationTemporalityCumulative:
		return &temporalityCumulative
	case pmetric.AggregationTemporalityDelta:
		return &temporalityDelta
	}
	return nil
}

// metricPoints flattens md. The order it returns sorts by metric name, then
// series, then time: values of one series lie next to each other, which is
// what makes delta and dictionary encodings and zstd work, and page
// statistics on metric_name let readers skip the pages of other metrics.
func metricPoints(md pmetric.Metrics, points []metricPoint, arena []kv) ([]metricPoint, []int32, []kv) {
	points = points[:0]
	arena = arena[:0]
	infos := map[metricKey]*metricInfo{}
	rms := md.ResourceMetrics()
	for ri := 0; ri < rms.Len(); ri++ {
		rm := rms.At(ri)
		res := newResourceInfo(rm.Resource().Attributes())
		sms := rm.ScopeMetrics()
		for si := 0; si < sms.Len(); si++ {
			scope := sms.At(si).Scope()
			ms := sms.At(si).Metrics()
			for mi := 0; mi < ms.Len(); mi++ {
				m := ms.At(mi)
				key := keyOf(m)
				info, ok := infos[key]
				if !ok {
					info = newMetricInfo(m)
					infos[key] = info
				}
				add := func(ts pcommon.Timestamp, attrs pcommon.Map) *metricPoint {
					var kvs []kv
					var h uint64
					arena, kvs, h = appendAttrs(arena, attrs)
					points = append(points, metricPoint{
						ts: micros(ts), hash: mixHash(res.hash, h),
						metric: info, res: res, scope: &scope, attrs: kvs,
					})
					return &points[len(points)-1]
				}
				switch m.Type() {
				case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
					var dps pmetric.NumberDataPointSlice
					if m.Type() == pmetric.MetricTypeSum {
						dps = m.Sum().DataPoints()
					} else {
						dps = m.Gauge().DataPoints()
					}
					for i := 0; i < dps.Len(); i++ {
						dp := dps.At(i)
						add(dp.Timestamp(), dp.Attributes()).num = dp
					}
				case pmetric.MetricTypeHistogram:
					dps := m.Histogram().DataPoints()
					for i := 0; i < dps.Len(); i++ {
						dp := dps.At(i)
						add(dp.Timestamp(), dp.Attributes()).hist = dp
					}
				case pmetric.MetricTypeExponentialHistogram:
					dps := m.ExponentialHistogram().DataPoints()
					for i := 0; i < dps.Len(); i++ {
						dp := dps.At(i)
						add(dp.Timestamp(), dp.Attributes()).exp = dp
					}
				case pmetric.MetricTypeSummary:
					dps := m.Summary().DataPoints()
					for i := 0; i < dps.Len(); i++ {
						dp := dps.At(i)
						add(dp.Timestamp(), dp.Attributes()).summary = dp
					}
				}
			}
		}
	}
	keys := slices.SortedFunc(maps.Keys(infos), compareKeys)
	for i, k := range keys {
		infos[k].rank = i
	}
	order := make([]int32, len(points))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		pa, pb := &points[a], &points[b]
		switch {
		case pa.metric.rank != pb.metric.rank:
			return pa.metric.rank - pb.metric.rank
		case pa.hash != pb.hash:
			return cmp.Compare(pa.hash, pb.hash)
		case pa.ts != pb.ts:
			return cmp.Compare(pa.ts, pb.ts)
		}
		return int(a - b)
	})
	return points, order, arena
}

func micros(ts pcommon.Timestamp) int64 { return int64(ts) / 1000 }

// start returns the point's start time, if it has one.
func (p *metricPoint) start() (pcommon.Timestamp, bool) {
	var ts pcommon.Timestamp
	switch p.metric.kind {
	case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
		ts = p.num.StartTimestamp()
	case pmetric.MetricTypeHistogram:
		ts = p.hist.StartTimestamp()
	case pmetric.MetricTypeExponentialHistogram:
		ts = p.exp.StartTimestamp()
	case pmetric.MetricTypeSummary:
		ts = p.summary.StartTimestamp()
	}
	return ts, ts != 0
}

func (p *metricPoint) flags() uint32 {
	switch p.metric.kind {
	case pmetric.MetricTypeGauge, pmetric.MetricTypeSum:
		return uint32(p.num.Flags())
	case pmetric.MetricTypeHistogram:
		return uint32(p.hist.Flags())
	case pmetric.MetricTypeExponentialHistogram:
		return uint32(p.exp.Flags())
	case pmetric.MetricTypeSummary:
		return uint32(p.summary.Flags())
	}
	return 0
}

func (p *metricPoint) value() (float64, bool) {
	if p.metric.kind != pmetric.MetricTypeGauge && p.metric.kind != pmetric.MetricTypeSum {
		return 0, false
	}
	switch p.num.ValueType() {
	case pmetric.NumberDataPointValueTypeDouble:
		return p.num.DoubleValue(), true
	case pmetric.NumberDataPointValueTypeInt:
		return float64(p.num.IntValue()), true
	}
	return 0, false
}

func (p *metricPoint) count() (uint64, bool) {
	switch p.metric.kind {
	case pmetric.MetricTypeHistogram:
		return p.hist.Count(), true
	case pmetric.MetricTypeExponentialHistogram:
		return p.exp.Count(), true
	case pmetric.MetricTypeSummary:
		return p.summary.Count(), true
	}
	return 0, false
}

func (p *metricPoint) sum() (float64, bool) {
	switch p.metric.kind {
	case pmetric.MetricTypeHistogram:
		return p.hist.Sum(), p.hist.HasSum()
	case pmetric.MetricTypeExponentialHistogram:
		return p.exp.Sum(), p.exp.HasSum()
	case pmetric.MetricTypeSummary:
		return p.summary.Sum(), true
	}
	return 0, false
}

func (p *metricPoint) minimum() (float64, bool) {
	switch p.metric.kind {
	case pmetric.MetricTypeHistogram:
		return p.hist.Min(), p.hist.HasMin()
	case pmetric.MetricTypeExponentialHistogram:
		return p.exp.Min(), p.exp.HasMin()
	}
	return 0, false
}

func (p *metricPoint) maximum() (float64, bool) {
	switch p.metric.kind {
	case pmetric.MetricTypeHistogram:
		return p.hist.Max(), p.hist.HasMax()
	case pmetric.MetricTypeExponentialHistogram:
		return p.exp.Max(), p.exp.HasMax()
	}
	return 0, false
}

func (p *metricPoint) isHist() bool    { return p.metric.kind == pmetric.MetricTypeHistogram }
func (p *metricPoint) isExp() bool     { return p.metric.kind == pmetric.MetricTypeExponentialHistogram }
func (p *metricPoint) isSummary() bool { return p.metric.kind == pmetric.MetricTypeSummary }

func uint64List(s pcommon.UInt64Slice) (int, func(int) parquet.Value) {
	return s.Len(), func(i int) parquet.Value { return parquet.Int64Value(int64(s.At(i))) }
}

func float64List(s pcommon.Float64Slice) (int, func(int) parquet.Value) {
	return s.Len(), func(i int) parquet.Value { return parquet.DoubleValue(s.At(i)) }
}

// metricColumns says, for every leaf column of metricRow, what a point
// writes there.
var metricColumns = sync.OnceValue(func() []boundColumn[metricPoint] {
	type P = metricPoint
	type E = emitter[P]
	optF := func(get func(*P) (float64, bool)) E {
		return func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			v, ok := get(p)
			return optional(dst, ok, parquet.DoubleValue(v), l)
		}
	}
	list := func(present func(*P) bool, elems func(*P) (int, func(int) parquet.Value)) E {
		return func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			if !present(p) {
				return optionalList(dst, false, 0, nil, l)
			}
			n, at := elems(p)
			return optionalList(dst, true, n, at, l)
		}
	}
	// onlyExp reads an exponential histogram field, which a zero point
	// (any other kind) must not be asked for.
	onlyExp := func(get func(pmetric.ExponentialHistogramDataPoint) parquet.Value) E {
		return func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			if !p.isExp() {
				return optional(dst, false, parquet.Value{}, l)
			}
			return optional(dst, true, get(p.exp), l)
		}
	}
	str := func(get func(*P) string) E {
		return func(dst []parquet.Value, p *P, l leaf) []parquet.Value { return requiredString(dst, get(p), l) }
	}
	optStr := func(get func(*P) *string) E {
		return func(dst []parquet.Value, p *P, l leaf) []parquet.Value { return optionalString(dst, get(p), l) }
	}
	return bindColumns(metricSchema, map[string]E{
		"timestamp": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			return required(dst, parquet.Int64Value(p.ts), l)
		},
		"metric_name": str(func(p *P) string { return p.metric.name }),
		"value":       optF((*P).value),
		"host_name":   optStr(func(p *P) *string { return p.res.hostName }),
		"hw_id":       optStr(func(p *P) *string { return promoted(p.res.hwID, p.attrs, keyHwID) }),
		"k8s_namespace_name": optStr(func(p *P) *string {
			return promoted(p.res.namespaceName, p.attrs, keyK8sNamespaceName)
		}),
		"k8s_pod_name": optStr(func(p *P) *string { return promoted(p.res.podName, p.attrs, keyK8sPodName) }),
		"service_name": optStr(func(p *P) *string { return p.res.serviceName }),
		"attributes.key_value.key": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			return mapEntries(dst, p.attrs, false, l)
		},
		"attributes.key_value.value": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			return mapEntries(dst, p.attrs, true, l)
		},
		"start_timestamp": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			ts, ok := p.start()
			return optional(dst, ok, parquet.Int64Value(micros(ts)), l)
		},
		"metric_type": str(func(p *P) string { return p.metric.typeName }),
		"unit":        str(func(p *P) string { return p.metric.unit }),
		"temporality": optStr(func(p *P) *string { return p.metric.temporality }),
		"monotonic": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			m := p.metric.monotonic
			return optional(dst, m != nil, parquet.BooleanValue(m != nil && *m), l)
		},
		"count": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			c, ok := p.count()
			return optional(dst, ok, parquet.Int64Value(int64(c)), l)
		},
		"sum": optF((*P).sum),
		"min": optF((*P).minimum),
		"max": optF((*P).maximum),
		"bucket_counts.list.element": list((*P).isHist, func(p *P) (int, func(int) parquet.Value) {
			return uint64List(p.hist.BucketCounts())
		}),
		"explicit_bounds.list.element": list((*P).isHist, func(p *P) (int, func(int) parquet.Value) {
			return float64List(p.hist.ExplicitBounds())
		}),
		"scale": onlyExp(func(dp pmetric.ExponentialHistogramDataPoint) parquet.Value { return parquet.Int32Value(dp.Scale()) }),
		"zero_count": onlyExp(func(dp pmetric.ExponentialHistogramDataPoint) parquet.Value {
			return parquet.Int64Value(int64(dp.ZeroCount()))
		}),
		"zero_threshold": onlyExp(func(dp pmetric.ExponentialHistogramDataPoint) parquet.Value {
			return parquet.DoubleValue(dp.ZeroThreshold())
		}),
		"positive_offset": onlyExp(func(dp pmetric.ExponentialHistogramDataPoint) parquet.Value {
			return parquet.Int32Value(dp.Positive().Offset())
		}),
		"positive_bucket_counts.list.element": list((*P).isExp, func(p *P) (int, func(int) parquet.Value) {
			return uint64List(p.exp.Positive().BucketCounts())
		}),
		"negative_offset": onlyExp(func(dp pmetric.ExponentialHistogramDataPoint) parquet.Value {
			return parquet.Int32Value(dp.Negative().Offset())
		}),
		"negative_bucket_counts.list.element": list((*P).isExp, func(p *P) (int, func(int) parquet.Value) {
			return uint64List(p.exp.Negative().BucketCounts())
		}),
		"quantiles.list.element": list((*P).isSummary, func(p *P) (int, func(int) parquet.Value) {
			qs := p.summary.QuantileValues()
			return qs.Len(), func(i int) parquet.Value { return parquet.DoubleValue(qs.At(i).Quantile()) }
		}),
		"quantile_values.list.element": list((*P).isSummary, func(p *P) (int, func(int) parquet.Value) {
			qs := p.summary.QuantileValues()
			return qs.Len(), func(i int) parquet.Value { return parquet.DoubleValue(qs.At(i).Value()) }
		}),
		"flags": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			return required(dst, parquet.Int32Value(int32(p.flags())), l)
		},
		"description": str(func(p *P) string { return p.metric.description }),
		"resource_attributes.key_value.key": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			return p.res.entries(dst, false, l)
		},
		"resource_attributes.key_value.value": func(dst []parquet.Value, p *P, l leaf) []parquet.Value {
			return p.res.entries(dst, true, l)
		},
		"scope_name":    str(func(p *P) string { return p.scope.Name() }),
		"scope_version": str(func(p *P) string { return p.scope.Version() }),
	})
})
