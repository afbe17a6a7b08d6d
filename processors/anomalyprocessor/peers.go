package anomalyprocessor // import "github.com/acceltel/acceltel/processors/anomalyprocessor"

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/acceltel/acceltel/internal/anomaly"
	"github.com/acceltel/acceltel/internal/metricseries"
)

// observePeers records m's points in the peer groups configured for it.
func (p *anomalyProcessor) observePeers(m pmetric.Metric, res pcommon.Map, now time.Time) {
	for _, ps := range p.peers {
		if ps.cfg.Metric != m.Name() {
			continue
		}
		metricseries.EachPoint(m, func(pt metricseries.Point) {
			gk, ok := metricseries.JoinAttrs(&p.sb, ps.cfg.GroupBy, res, pt.Attrs)
			if !ok {
				return
			}
			g := ps.groups[gk]
			if g == nil {
				g = &peerGroup{g: anomaly.NewPeerGroup(ps.cfg.Engine()), attrs: map[string]pcommon.Map{}}
				ps.groups[gk] = g
			}
			mk, ok := metricseries.JoinAttrs(&p.sb, ps.cfg.Member, res, pt.Attrs)
			if !ok {
				return
			}
			g.seen, g.ts = now, max(g.ts, pt.Timestamp)
			g.g.Observe(mk, pt.Value)
			if len(g.attrs) == 0 {
				ps.touched = append(ps.touched, g)
			}
			if _, ok := g.attrs[mk]; !ok {
				a := pcommon.NewMap()
				for _, k := range append(ps.cfg.GroupBy, ps.cfg.Member...) {
					if v, ok := metricseries.Lookup(k, res, pt.Attrs); ok {
						v.CopyTo(a.PutEmpty(k))
					}
				}
				g.attrs[mk] = a
			}
		})
	}
}

// closePeers ends the interval of every group seen in this call and emits
// one straggler flag per member; the series counters ride in the same resource.
func (p *anomalyProcessor) closePeers(md pmetric.Metrics, now time.Time) {
	var flags pmetric.NumberDataPointSlice
	var out pmetric.MetricSlice
	have := false
	ensure := func() {
		if !have {
			out = p.newScope(md.ResourceMetrics().AppendEmpty().ScopeMetrics())
			have = true
		}
	}
	for _, ps := range p.peers {
		for _, g := range ps.touched {
			for _, v := range g.g.Close() {
				if v.Flagged && v.FlagChanged {
					p.events[eventKey{ps.cfg.Metric, "peer"}]++
				}
				if !p.cfg.Metrics.AcceltelAnomalyStraggler.Enabled {
					continue
				}
				if flags == (pmetric.NumberDataPointSlice{}) {
					ensure()
					flags = p.newGauge(out, metricStraggler, "{state}")
				}
				dp := newPoint(flags, g.attrs[v.Member], ps.cfg.Metric, "peer", g.ts)
				dp.SetIntValue(boolInt(v.Flagged))
			}
			clear(g.attrs)
		}
		clear(ps.touched)
		ps.touched = ps.touched[:0]
	}
	if p.cfg.Metrics.AcceltelAnomalySeriesDropped.Enabled && p.dropped > 0 {
		ensure()
		p.counter(out, metricDropped, "{point}", p.dropped, now)
	}
	if p.cfg.Metrics.AcceltelAnomalySeriesEvicted.Enabled && p.evicted > 0 {
		ensure()
		p.counter(out, metricEvicted, "{series}", p.evicted, now)
	}
	if p.cfg.Metrics.AcceltelAnomalyEvents.Enabled && len(p.events) > 0 {
		ensure()
		p.eventCounters(out, now)
	}
}

// eventCounters appends acceltel.anomaly.events, one point per metric and
// detector that has had an anomaly, in a stable order.
func (p *anomalyProcessor) eventCounters(out pmetric.MetricSlice, now time.Time) {
	dps := p.newCounter(out, metricEvents, "{event}")
	keys := slices.SortedFunc(maps.Keys(p.events), func(a, b eventKey) int {
		return cmp.Or(strings.Compare(a.metric, b.metric), strings.Compare(a.detector, b.detector))
	})
	for _, k := range keys {
		dp := p.count(dps, p.events[k], now)
		dp.Attributes().PutStr(attrMetric, k.metric)
		dp.Attributes().PutStr(attrDetector, k.detector)
	}
}

// counter appends a cumulative sum counted since the processor started.
func (p *anomalyProcessor) counter(out pmetric.MetricSlice, name, unit string, v int64, now time.Time) {
	p.count(p.newCounter(out, name, unit), v, now)
}

// newCounter appends a monotonic cumulative sum and returns its points.
func (p *anomalyProcessor) newCounter(out pmetric.MetricSlice, name, unit string) pmetric.NumberDataPointSlice {
	m := out.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return sum.DataPoints()
}

// count appends a point counted since the processor started.
func (p *anomalyProcessor) count(dps pmetric.NumberDataPointSlice, v int64, now time.Time) pmetric.NumberDataPoint {
	dp := dps.AppendEmpty()
	dp.SetStartTimestamp(p.start)
	dp.SetTimestamp(pcommon.NewTimestampFromTime(now))
	dp.SetIntValue(v)
	return dp
}
