package s3exporter // import "github.com/acceltel/acceltel/exporters/s3exporter"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// partitioner assigns every data point (log record) of a request to the
// directory its template renders, and cuts the request into one part per
// directory.
type partitioner struct {
	tmpl   *template
	signal string
}

type cacheKey struct {
	res    int
	bucket int64
}

// assignment maps each point, in walk order, to a partition.
type assignment struct {
	tmpl   *template
	signal string
	now    pcommon.Timestamp
	dirs   []string
	byDir  map[string]int32
	cache  map[cacheKey]int32
	of     []int32
	resI   int
	resVal []string
}

func (p *partitioner) newAssignment(now pcommon.Timestamp) *assignment {
	return &assignment{
		tmpl:   p.tmpl,
		signal: p.signal,
		now:    now,
		byDir:  map[string]int32{},
		cache:  map[cacheKey]int32{},
		resI:   -1,
	}
}

func (a *assignment) resource(i int, attrs pcommon.Map) {
	a.resI = i
	a.resVal = a.tmpl.resourceValues(attrs)
}

// point assigns the next point; points without a time are filed under the
// time of the export.
func (a *assignment) point(ts pcommon.Timestamp) {
	if ts == 0 {
		ts = a.now
	}
	k := cacheKey{res: a.resI, bucket: a.tmpl.bucket(ts)}
	idx, ok := a.cache[k]
	if !ok {
		dir := a.tmpl.render(a.signal, a.resVal, ts)
		idx, ok = a.byDir[dir]
		if !ok {
			idx = int32(len(a.dirs))
			a.dirs = append(a.dirs, dir)
			a.byDir[dir] = idx
		}
		a.cache[k] = idx
	}
	a.of = append(a.of, idx)
}

type metricsPart struct {
	dir string
	md  pmetric.Metrics
}

type logsPart struct {
	dir string
	ld  plog.Logs
}

func (p *partitioner) splitMetrics(md pmetric.Metrics, now pcommon.Timestamp) []metricsPart {
	a := p.newAssignment(now)
	rms := md.ResourceMetrics()
	for ri := 0; ri < rms.Len(); ri++ {
		rm := rms.At(ri)
		a.resource(ri, rm.Resource().Attributes())
		sms := rm.ScopeMetrics()
		for si := 0; si < sms.Len(); si++ {
			ms := sms.At(si).Metrics()
			for mi := 0; mi < ms.Len(); mi++ {
				eachPointTime(ms.At(mi), a.point)
			}
		}
	}
	switch len(a.dirs) {
	case 0:
		return nil
	case 1:
		// The common case (one host, one hour) needs no copy.
		return []metricsPart{{dir: a.dirs[0], md: md}}
	}
	return copyMetricsParts(md, a)
}

func eachPointTime(m pmetric.Metric, f func(pcommon.Timestamp)) {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dps := m.Gauge().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			f(dps.At(i).Timestamp())
		}
	case pmetric.MetricTypeSum:
		dps := m.Sum().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			f(dps.At(i).Timestamp())
		}
	case pmetric.MetricTypeHistogram:
		dps := m.Histogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			f(dps.At(i).Timestamp())
		}
	case pmetric.MetricTypeExponentialHistogram:
		dps := m.ExponentialHistogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			f(dps.At(i).Timestamp())
		}
	case pmetric.MetricTypeSummary:
		dps := m.Summary().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			f(dps.At(i).Timestamp())
		}
	}
}

// metricsBuilder accumulates one partition; the last* indices tell whether
// the current resource, scope and metric shells can take the next point.
type metricsBuilder struct {
	md                  pmetric.Metrics
	rm                  pmetric.ResourceMetrics
	sm                  pmetric.ScopeMetrics
	m                   pmetric.Metric
	lastR, lastS, lastM int
}

func copyMetricsParts(md pmetric.Metrics, a *assignment) []metricsPart {
	bs := make([]metricsBuilder, len(a.dirs))
	for i := range bs {
		bs[i] = metricsBuilder{md: pmetric.NewMetrics(), lastR: -1}
	}
	n := 0
	rms := md.ResourceMetrics()
	for ri := 0; ri < rms.Len(); ri++ {
		rm := rms.At(ri)
		sms := rm.ScopeMetrics()
		for si := 0; si < sms.Len(); si++ {
			sm := sms.At(si)
			ms := sm.Metrics()
			for mi := 0; mi < ms.Len(); mi++ {
				m := ms.At(mi)
				eachPointIndex(m, func(pi int) {
					b := &bs[a.of[n]]
					n++
					if b.lastR != ri {
						b.rm = b.md.ResourceMetrics().AppendEmpty()
						rm.Resource().CopyTo(b.rm.Resource())
						b.rm.SetSchemaUrl(rm.SchemaUrl())
						b.lastR, b.lastS = ri, -1
					}
					if b.lastS != si {
						b.sm = b.rm.ScopeMetrics().AppendEmpty()
						sm.Scope().CopyTo(b.sm.Scope())
						b.sm.SetSchemaUrl(sm.SchemaUrl())
						b.lastS, b.lastM = si, -1
					}
					if b.lastM != mi {
						b.m = b.sm.Metrics().AppendEmpty()
						copyMetricShell(m, b.m)
						b.lastM = mi
					}
					copyPoint(m, pi, b.m)
				})
			}
		}
	}
	parts := make([]metricsPart, len(bs))
	for i := range bs {
		parts[i] = metricsPart{dir: a.dirs[i], md: bs[i].md}
	}
	return parts
}

func eachPointIndex(m pmetric.Metric, f func(int)) {
	var n int
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		n = m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		n = m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		n = m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		n = m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		n = m.Summary().DataPoints().Len()
	}
	for i := 0; i < n; i++ {
		f(i)
	}
}

// copyMetricShell copies everything of a metric but its points.
func copyMetricShell(src, dst pmetric.Metric) {
	dst.SetName(src.Name())
	dst.SetDescription(src.Description())
	dst.SetUnit(src.Unit())
	src.Metadata().CopyTo(dst.Metadata())
	switch src.Type() {
	case pmetric.MetricTypeGauge:
		dst.SetEmptyGauge()
	case pmetric.MetricTypeSum:
		s := dst.SetEmptySum()
		s.SetAggregationTemporality(src.Sum().AggregationTemporality())
		s.SetIsMonotonic(src.Sum().IsMonotonic())
	case pmetric.MetricTypeHistogram:
		dst.SetEmptyHistogram().SetAggregationTemporality(src.Histogram().AggregationTemporality())
	case pmetric.MetricTypeExponentialHistogram:
		dst.SetEmptyExponentialHistogram().SetAggregationTemporality(src.ExponentialHistogram().AggregationTemporality())
	case pmetric.MetricTypeSummary:
		dst.SetEmptySummary()
	}
}

func copyPoint(src pmetric.Metric, i int, dst pmetric.Metric) {
	switch src.Type() {
	case pmetric.MetricTypeGauge:
		src.Gauge().DataPoints().At(i).CopyTo(dst.Gauge().DataPoints().AppendEmpty())
	case pmetric.MetricTypeSum:
		src.Sum().DataPoints().At(i).CopyTo(dst.Sum().DataPoints().AppendEmpty())
	case pmetric.MetricTypeHistogram:
		src.Histogram().DataPoints().At(i).CopyTo(dst.Histogram().DataPoints().AppendEmpty())
	case pmetric.MetricTypeExponentialHistogram:
		src.ExponentialHistogram().DataPoints().At(i).CopyTo(dst.ExponentialHistogram().DataPoints().AppendEmpty())
	case pmetric.MetricTypeSummary:
		src.Summary().DataPoints().At(i).CopyTo(dst.Summary().DataPoints().AppendEmpty())
	}
}

// logTime is the time a record is filed under: when it happened, else when
// it was seen.
func logTime(lr plog.LogRecord) pcommon.Timestamp {
	if ts := lr.Timestamp(); ts != 0 {
		return ts
	}
	return lr.ObservedTimestamp()
}

func (p *partitioner) splitLogs(ld plog.Logs, now pcommon.Timestamp) []logsPart {
	a := p.newAssignment(now)
	rls := ld.ResourceLogs()
	for ri := 0; ri < rls.Len(); ri++ {
		rl := rls.At(ri)
		a.resource(ri, rl.Resource().Attributes())
		sls := rl.ScopeLogs()
		for si := 0; si < sls.Len(); si++ {
			lrs := sls.At(si).LogRecords()
			for li := 0; li < lrs.Len(); li++ {
				a.point(logTime(lrs.At(li)))
			}
		}
	}
	switch len(a.dirs) {
	case 0:
		return nil
	case 1:
		return []logsPart{{dir: a.dirs[0], ld: ld}}
	}

	type builder struct {
		ld           plog.Logs
		rl           plog.ResourceLogs
		sl           plog.ScopeLogs
		lastR, lastS int
	}
	bs := make([]builder, len(a.dirs))
	for i := range bs {
		bs[i] = builder{ld: plog.NewLogs(), lastR: -1}
	}
	n := 0
	for ri := 0; ri < rls.Len(); ri++ {
		rl := rls.At(ri)
		sls := rl.ScopeLogs()
		for si := 0; si < sls.Len(); si++ {
			sl := sls.At(si)
			lrs := sl.LogRecords()
			for li := 0; li < lrs.Len(); li++ {
				b := &bs[a.of[n]]
				n++
				if b.lastR != ri {
					b.rl = b.ld.ResourceLogs().AppendEmpty()
					rl.Resource().CopyTo(b.rl.Resource())
					b.rl.SetSchemaUrl(rl.SchemaUrl())
					b.lastR, b.lastS = ri, -1
				}
				if b.lastS != si {
					b.sl = b.rl.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(b.sl.Scope())
					b.sl.SetSchemaUrl(sl.SchemaUrl())
					b.lastS = si
				}
				lrs.At(li).CopyTo(b.sl.LogRecords().AppendEmpty())
			}
		}
	}
	parts := make([]logsPart, len(bs))
	for i := range bs {
		parts[i] = logsPart{dir: a.dirs[i], ld: bs[i].ld}
	}
	return parts
}
