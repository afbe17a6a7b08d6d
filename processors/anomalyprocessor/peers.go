package anomalyprocessor // import "github.com/acceltel/acceltel/processors/anomalyprocessor"

import (
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
				g = &peerGroup{g: anomaly.NewPeerGroup(ps.cfg.Engine()), attrs: map[string]pcommon.Map{}, events: map[string]int64{}}
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

// closePeers ends the interval of every group seen in this call and emits,
// in one resource of its own, a straggler flag per member and the
// member's event counter.
func (p *anomalyProcessor) closePeers(md pmetric.Metrics, now time.Time) {
	var flags, events pmetric.NumberDataPointSlice
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
					g.events[v.Member]++
				}
				if p.cfg.Metrics.AcceltelAnomalyStraggler.Enabled {
					if flags == (pmetric.NumberDataPointSlice{}) {
						ensure()
						flags = p.newGauge(out, metricStraggler, "{state}")
					}
					dp := newPoint(flags, g.attrs[v.Member], ps.cfg.Metric, "peer", g.ts)
					dp.SetIntValue(boolInt(v.Flagged))
				}
				// Per member, with the straggler flag's attributes: one node's
				// members arrive in one record, in order.
				if n := g.events[v.Member]; n > 0 && p.cfg.Metrics.AcceltelAnomalyEvents.Enabled {
					if events == (pmetric.NumberDataPointSlice{}) {
						ensure()
						events = p.newCounter(out, metricEvents, "{event}")
					}
					p.countAt(events, g.attrs[v.Member], ps.cfg.Metric, "peer", n, g.ts)
				}
			}
			clear(g.attrs)
		}
		clear(ps.touched)
		ps.touched = ps.touched[:0]
	}
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

// countAt appends a point of an anomaly counter with a watched series' (or
// a peer member's) attributes, counted since the processor started.
func (p *anomalyProcessor) countAt(dps pmetric.NumberDataPointSlice, attrs pcommon.Map, metric, detector string, v int64, ts pcommon.Timestamp) {
	dp := newPoint(dps, attrs, metric, detector, ts)
	dp.SetStartTimestamp(p.start)
	dp.SetIntValue(v)
}
