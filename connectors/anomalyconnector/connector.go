package anomalyconnector // import "github.com/acceltel/acceltel/connectors/anomalyconnector"

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/connectors/anomalyconnector/internal/metadata"
	"github.com/acceltel/acceltel/internal/anomaly"
	"github.com/acceltel/acceltel/internal/metricseries"
)

// Log record attributes.
const (
	attrEvent     = "acceltel.anomaly.event" // start or clear
	attrMetric    = "acceltel.anomaly.metric"
	attrSeries    = "acceltel.anomaly.series"
	attrDetector  = "acceltel.anomaly.detector" // ensemble or peer
	attrScore     = "acceltel.anomaly.score"
	attrPeakScore = "acceltel.anomaly.score.peak"
	attrValue     = "acceltel.anomaly.value"
	attrPoints    = "acceltel.anomaly.points" // on a clear: points the anomaly lasted
	attrGroup     = "acceltel.anomaly.peer.group"
	attrMedian    = "acceltel.anomaly.peer.median"
	attrZ         = "acceltel.anomaly.peer.z"
	attrGroupSize = "acceltel.anomaly.peer.size"

	eventStart = "start"
	eventClear = "clear"
)

type series struct {
	ens  *anomaly.Ensemble
	obs  metricseries.Observer
	seen time.Time

	active bool
	quiet  int     // consecutive points below the threshold while active
	points int     // points since the anomaly started
	peak   float64 // highest score since the anomaly started
}

type peerState struct {
	cfg    PeerGroupConfig
	groups map[string]*peerGroup
}

type peerGroup struct {
	g     *anomaly.PeerGroup
	name  string                 // readable group key: k=v,k=v
	attrs map[string]pcommon.Map // this interval's members' group and member attributes
	peak  map[string]float64     // flagged members' highest |z| since they were flagged
	ts    pcommon.Timestamp
	seen  time.Time
}

type anomalyConnector struct {
	component.StartFunc
	component.ShutdownFunc

	cfg    *Config
	engine anomaly.Config
	next   consumer.Logs
	// swept is when expire last walked every series: a gateway calls once
	// per Kafka record, and a walk per call grew with the square of the
	// fleet (the processor had the same fix).
	swept  time.Time
	logger *zap.Logger
	now    func() time.Time

	mu      sync.Mutex
	series  map[string]*series
	peers   []*peerState
	dropped int64
	hist    metricseries.Histograms
	sb      strings.Builder
}

var _ connector.Metrics = (*anomalyConnector)(nil)

func newConnector(set connector.Settings, cfg *Config, next consumer.Logs) *anomalyConnector {
	c := &anomalyConnector{
		cfg: cfg, engine: cfg.Detectors.Engine(), next: next, logger: set.Logger, now: time.Now,
		series: map[string]*series{}, hist: metricseries.Histograms{Stat: cfg.Statistic()},
	}
	for _, pg := range cfg.PeerGroups {
		c.peers = append(c.peers, &peerState{cfg: pg, groups: map[string]*peerGroup{}})
	}
	return c
}

func (*anomalyConnector) Capabilities() consumer.Capabilities {
	return consumer.Capabilities{MutatesData: false}
}

// ConsumeMetrics scores md and sends one log record per anomaly that starts
// or clears in it; ensemble records sit under the resource of their series,
// peer records under an empty resource (their attributes name group and
// member). One call is one interval for peer groups.
func (c *anomalyConnector) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	ld := c.detect(md)
	if ld.LogRecordCount() == 0 {
		return nil
	}
	return c.next.ConsumeLogs(ctx, ld)
}

func (c *anomalyConnector) detect(md pmetric.Metrics) plog.Logs {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	obs := pcommon.NewTimestampFromTime(now)
	ld := plog.NewLogs()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		res := rm.Resource().Attributes()
		var out plog.LogRecordSlice
		have := false
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				c.observePeers(m, res, now)
				if !c.cfg.Includes(m.Name()) {
					continue
				}
				metricseries.Each(m, true, func(pt metricseries.Point) {
					if !c.cfg.Matches(res, pt.Attrs) {
						return
					}
					s, r, v, ok := c.update(m.Name(), res, pt, now)
					if !ok {
						return
					}
					ev := c.transition(s, r.Score)
					if ev == "" {
						return
					}
					if !have {
						rl := ld.ResourceLogs().AppendEmpty()
						res.CopyTo(rl.Resource().Attributes())
						out = newScope(rl)
						have = true
					}
					c.seriesRecord(out.AppendEmpty(), ev, m.Name(), pt, s, r.Score, v, obs)
				})
			}
		}
	}
	c.closePeers(ld, obs)
	c.expire(now)
	return ld
}

// transition applies the start/clear hysteresis to one scored point and
// returns the event it causes, if any.
func (c *anomalyConnector) transition(s *series, score float64) string {
	hot := score >= c.cfg.ScoreThreshold
	if !s.active {
		if !hot {
			return ""
		}
		s.active, s.quiet, s.points, s.peak = true, 0, 1, score
		return eventStart
	}
	s.points++
	s.peak = math.Max(s.peak, score)
	if hot {
		s.quiet = 0
		return ""
	}
	s.quiet++
	if s.quiet < c.cfg.ClearAfter {
		return ""
	}
	s.active = false
	return eventClear
}

// update feeds one point to its series' ensemble; ok is false when the point
// produced no score (a new series over the cap, a counter's or cumulative
// histogram's first point or reset, an empty histogram).
func (c *anomalyConnector) update(name string, res pcommon.Map, pt metricseries.Point, now time.Time) (*series, anomaly.Result, float64, bool) {
	key := metricseries.Key(&c.sb, name, res, pt.Attrs)
	s := c.series[key]
	if s == nil {
		if len(c.series) >= c.cfg.MaxSeries {
			if c.dropped == 0 {
				c.logger.Warn("anomaly connector: series cap reached, new series are not watched", zap.Int("max_series", c.cfg.MaxSeries))
			}
			c.dropped++
			return nil, anomaly.Result{}, 0, false
		}
		s = &series{ens: anomaly.New(c.engine)}
		c.series[key] = s
	}
	s.seen = now
	v, ok := s.obs.Value(&c.hist, &pt)
	if !ok {
		return nil, anomaly.Result{}, 0, false
	}
	return s, s.ens.Update(v), v, true
}

func newScope(rl plog.ResourceLogs) plog.LogRecordSlice {
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName(metadata.ScopeName)
	return sl.LogRecords()
}

func setEvent(lr plog.LogRecord, ev string, ts, obs pcommon.Timestamp) {
	lr.SetTimestamp(ts)
	lr.SetObservedTimestamp(obs)
	lr.SetEventName("acceltel.anomaly." + ev)
	if ev == eventStart {
		lr.SetSeverityNumber(plog.SeverityNumberWarn)
		lr.SetSeverityText("WARN")
	} else {
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
	}
	lr.Attributes().PutStr(attrEvent, ev)
}

func (c *anomalyConnector) seriesRecord(lr plog.LogRecord, ev, metric string, pt metricseries.Point, s *series, score, v float64, obs pcommon.Timestamp) {
	setEvent(lr, ev, pt.Timestamp, obs)
	a := lr.Attributes()
	pt.Attrs.CopyTo(a)
	a.PutStr(attrEvent, ev) // a series attribute of that name must not hide the event
	name := metric + "{" + readable(pt.Attrs, nil) + "}"
	a.PutStr(attrMetric, metric)
	a.PutStr(attrSeries, name)
	a.PutStr(attrDetector, "ensemble")
	a.PutDouble(attrScore, score)
	a.PutDouble(attrValue, v)
	if ev == eventStart {
		lr.Body().SetStr(fmt.Sprintf("anomaly started on %s: score %.3f, value %g", name, score, v))
		return
	}
	a.PutDouble(attrPeakScore, s.peak)
	a.PutInt(attrPoints, int64(s.points))
	lr.Body().SetStr(fmt.Sprintf("anomaly cleared on %s after %d points (peak score %.3f)", name, s.points, s.peak))
}

// observePeers records m's points in the peer groups configured for it.
func (c *anomalyConnector) observePeers(m pmetric.Metric, res pcommon.Map, now time.Time) {
	for _, ps := range c.peers {
		if ps.cfg.Metric != m.Name() {
			continue
		}
		metricseries.EachPoint(m, func(pt metricseries.Point) {
			gk, ok := metricseries.JoinAttrs(&c.sb, ps.cfg.GroupBy, res, pt.Attrs)
			if !ok {
				return
			}
			g := ps.groups[gk]
			if g == nil {
				g = &peerGroup{g: anomaly.NewPeerGroup(ps.cfg.Engine()), attrs: map[string]pcommon.Map{}, peak: map[string]float64{}}
				ga := pcommon.NewMap()
				for _, k := range ps.cfg.GroupBy {
					if v, ok := metricseries.Lookup(k, res, pt.Attrs); ok {
						v.CopyTo(ga.PutEmpty(k))
					}
				}
				g.name = readable(ga, ps.cfg.GroupBy)
				ps.groups[gk] = g
			}
			mk, ok := metricseries.JoinAttrs(&c.sb, ps.cfg.Member, res, pt.Attrs)
			if !ok {
				return
			}
			g.seen, g.ts = now, max(g.ts, pt.Timestamp)
			g.g.Observe(mk, pt.Value)
			if _, ok := g.attrs[mk]; !ok {
				a := pcommon.NewMap()
				for _, k := range append(append([]string(nil), ps.cfg.GroupBy...), ps.cfg.Member...) {
					if v, ok := metricseries.Lookup(k, res, pt.Attrs); ok {
						v.CopyTo(a.PutEmpty(k))
					}
				}
				g.attrs[mk] = a
			}
		})
	}
}

// closePeers ends the interval of every group seen in this call and writes a
// record for each member whose straggler flag started or cleared.
func (c *anomalyConnector) closePeers(ld plog.Logs, obs pcommon.Timestamp) {
	var out plog.LogRecordSlice
	have := false
	for _, ps := range c.peers {
		for _, g := range ps.groups {
			if len(g.attrs) == 0 {
				continue
			}
			for _, v := range g.g.Close() {
				if v.Flagged {
					g.peak[v.Member] = math.Max(g.peak[v.Member], math.Abs(v.Z))
				}
				if !v.FlagChanged {
					continue
				}
				if !have {
					out = newScope(ld.ResourceLogs().AppendEmpty())
					have = true
				}
				ev := eventClear
				if v.Flagged {
					ev = eventStart
				}
				lr := out.AppendEmpty()
				setEvent(lr, ev, g.ts, obs)
				ma := g.attrs[v.Member]
				a := lr.Attributes()
				ma.CopyTo(a)
				a.PutStr(attrEvent, ev)
				name := ps.cfg.Metric + "{" + readable(ma, append(append([]string(nil), ps.cfg.GroupBy...), ps.cfg.Member...)) + "}"
				score := math.Abs(v.Z) / (math.Abs(v.Z) + ps.cfg.Threshold)
				a.PutStr(attrMetric, ps.cfg.Metric)
				a.PutStr(attrSeries, name)
				a.PutStr(attrDetector, "peer")
				a.PutDouble(attrScore, score)
				a.PutDouble(attrValue, v.Value)
				a.PutStr(attrGroup, g.name)
				a.PutDouble(attrMedian, v.Median)
				a.PutDouble(attrZ, v.Z)
				a.PutInt(attrGroupSize, int64(v.GroupSize))
				off := 0.0
				if v.Median != 0 {
					off = 100 * (v.Value - v.Median) / math.Abs(v.Median)
				}
				if ev == eventStart {
					lr.Body().SetStr(fmt.Sprintf("straggler started: %s at %g, %+.1f%% off its group's median %g (group %s, %d members)",
						name, v.Value, off, v.Median, g.name, v.GroupSize))
				} else {
					pk := g.peak[v.Member]
					delete(g.peak, v.Member)
					a.PutDouble(attrPeakScore, pk/(pk+ps.cfg.Threshold))
					lr.Body().SetStr(fmt.Sprintf("straggler cleared: %s at %g, group median %g (group %s)", name, v.Value, v.Median, g.name))
				}
			}
			clear(g.attrs)
		}
	}
}

func (c *anomalyConnector) expire(now time.Time) {
	if since := now.Sub(c.swept); !c.swept.IsZero() && since >= 0 && since < c.cfg.StateTTL/8 {
		return
	}
	c.swept = now
	for k, s := range c.series {
		if now.Sub(s.seen) > c.cfg.StateTTL {
			delete(c.series, k)
		}
	}
	for _, ps := range c.peers {
		for k, g := range ps.groups {
			if now.Sub(g.seen) > c.cfg.StateTTL {
				delete(ps.groups, k)
			}
		}
	}
}

// readable writes m as k=v,k=v in the given key order, or sorted when order is nil.
func readable(m pcommon.Map, order []string) string {
	if order == nil {
		for k := range m.All() {
			order = append(order, k)
		}
		sort.Strings(order)
	}
	parts := make([]string, 0, len(order))
	for _, k := range order {
		if v, ok := m.Get(k); ok {
			parts = append(parts, k+"="+v.AsString())
		}
	}
	return strings.Join(parts, ",")
}
