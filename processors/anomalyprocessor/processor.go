package anomalyprocessor // import "github.com/acceltel/acceltel/processors/anomalyprocessor"

import (
	"context"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"

	"github.com/acceltel/acceltel/internal/anomaly"
	"github.com/acceltel/acceltel/internal/metricseries"
	"github.com/acceltel/acceltel/processors/anomalyprocessor/internal/metadata"
)

// Names declared in metadata.yaml; the processor writes pmetric directly
// because its points carry each watched series' own attributes.
const (
	metricScore     = "acceltel.anomaly.score"
	metricFlag      = "acceltel.anomaly.flag"
	metricStraggler = "acceltel.anomaly.straggler"
	metricEvents    = "acceltel.anomaly.events"
	attrMetric      = "acceltel.anomaly.metric"
	attrDetector    = "acceltel.anomaly.detector"
)

type series struct {
	ens          *anomaly.Ensemble
	newer, older *series // the recency list (lru.go)
	rs           *resourceSeries
	key          string // in rs.series
	obs          metricseries.Observer
	seen         time.Time
	flagged      bool  // the last flag emitted was 1
	events       int64 // anomalies that started on this series
}

type resourceSeries struct {
	series map[string]*series
	// A new resource's set is added to resources with its first series.
	key     string
	pending bool
}

type peerState struct {
	cfg    PeerGroupConfig
	groups map[string]*peerGroup
	// touched are the groups with members in this call, the only ones
	// closePeers has to visit: a gateway holds the groups of every node of
	// its partitions, and each call (one node's record) touches one node's.
	touched []*peerGroup
}

type peerGroup struct {
	g      *anomaly.PeerGroup
	attrs  map[string]pcommon.Map // this interval's members' group and member attributes
	events map[string]int64       // times each member became a straggler
	ts     pcommon.Timestamp
	seen   time.Time
}

type anomalyProcessor struct {
	cfg    *Config
	engine anomaly.Config
	now    func() time.Time

	mu sync.Mutex
	// Series are kept per resource, then by name and point attributes: a
	// resource's key (~20 attributes on a GPU, most of a series' identity)
	// is hashed once per resource in a call, not once per point.
	resources map[string]*resourceSeries
	nSeries   int
	// newest and oldest are the ends of the recency list (lru.go).
	newest, oldest *series
	evict          bool
	tel            *metadata.TelemetryBuilder // series dropped and evicted
	hist           metricseries.Histograms
	peers          []*peerState
	start          pcommon.Timestamp
	sb             strings.Builder
	key            []byte    // point key buffer (update)
	resKey         []byte    // resource key buffer
	swept          time.Time // last expire sweep
}

func newProcessor(set processor.Settings, cfg *Config) (*anomalyProcessor, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	p := &anomalyProcessor{
		cfg: cfg, engine: cfg.Detectors.Engine(), now: time.Now, tel: tel,
		resources: map[string]*resourceSeries{}, start: pcommon.NewTimestampFromTime(time.Now()),
		evict: cfg.MaxSeriesPolicy != policyRefuse, hist: metricseries.Histograms{Stat: cfg.Statistic()},
	}
	for _, pg := range cfg.PeerGroups {
		p.peers = append(p.peers, &peerState{cfg: pg, groups: map[string]*peerGroup{}})
	}
	return p, nil
}

// processMetrics leaves every input metric as it is and appends one scope of
// acceltel.anomaly.* metrics to each resource it watched, plus one resource
// for peer verdicts and the series counters, which belong to no input resource.
// One call is one interval for peer groups.
func (p *anomalyProcessor) processMetrics(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	rms := md.ResourceMetrics()
	n := rms.Len()
	for i := 0; i < n; i++ {
		rm := rms.At(i)
		res := rm.Resource().Attributes()
		var out pmetric.MetricSlice
		var score, flag, events pmetric.NumberDataPointSlice
		var haveOut, haveScore, haveFlag, haveEvents bool
		// The resource's series, looked up at its first watched point.
		var rs *resourceSeries
		sms := rm.ScopeMetrics()
		nsm := sms.Len()
		for j := 0; j < nsm; j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				p.observePeers(m, res, now)
				if !p.cfg.Includes(m.Name()) {
					continue
				}
				if rs == nil {
					rs = p.resourceSeries(res)
				}
				metricseries.Each(m, true, func(pt metricseries.Point) {
					if !p.cfg.Matches(res, pt.Attrs) {
						return
					}
					s, r := p.update(rs, m.Name(), &pt, now)
					if s == nil {
						return
					}
					// The flag is sparse: 1 at every point while the series
					// is anomalous and a single 0 when it clears, so the
					// latest flag is always right (a query's lookback finds
					// the 0) while a healthy fleet adds no flag points.
					on := r.Score >= p.cfg.ScoreThreshold
					emitFlag := p.cfg.Metrics.AcceltelAnomalyFlag.Enabled && (on || s.flagged)
					if on && !s.flagged {
						s.events++
					}
					s.flagged = on
					// Each series counts its own anomalies, next to its
					// score: a counter shared by all series would be written
					// by every Kafka partition's export at once, out of order.
					emitEvents := p.cfg.Metrics.AcceltelAnomalyEvents.Enabled && s.events > 0
					if !p.cfg.Metrics.AcceltelAnomalyScore.Enabled && !emitFlag && !emitEvents {
						return
					}
					if !haveOut {
						out, haveOut = p.newScope(rm.ScopeMetrics()), true
					}
					if p.cfg.Metrics.AcceltelAnomalyScore.Enabled {
						if !haveScore {
							score, haveScore = p.newGauge(out, metricScore, "1"), true
						}
						dp := newPoint(score, pt.Attrs, m.Name(), "ensemble", pt.Timestamp)
						dp.SetDoubleValue(r.Score)
					}
					if emitFlag {
						if !haveFlag {
							flag, haveFlag = p.newGauge(out, metricFlag, "{state}"), true
						}
						dp := newPoint(flag, pt.Attrs, m.Name(), "ensemble", pt.Timestamp)
						dp.SetIntValue(boolInt(on))
					}
					if emitEvents {
						if !haveEvents {
							events, haveEvents = p.newCounter(out, metricEvents, "{event}"), true
						}
						p.countAt(events, pt.Attrs, m.Name(), "ensemble", s.events, pt.Timestamp)
					}
				})
			}
		}
	}
	p.closePeers(md, now)
	p.expire(now)
	return md, nil
}

// update feeds one point to its series' ensemble; the series is nil when
// the point produced no score (a new series refused at the cap, a counter's
// or cumulative histogram's first point or reset, an empty histogram).
// The key is built in a reused buffer, so that looking up a known series
// allocates nothing.
func (p *anomalyProcessor) update(rs *resourceSeries, name string, pt *metricseries.Point, now time.Time) (*series, anomaly.Result) {
	p.key = metricseries.AppendPointKey(p.key[:0], name, pt.Attrs)
	s := rs.series[string(p.key)]
	if s == nil {
		if s = p.admit(rs); s == nil {
			return nil, anomaly.Result{}
		}
	} else {
		p.touch(s)
	}
	s.seen = now
	v, ok := s.obs.Value(&p.hist, pt)
	if !ok {
		return nil, anomaly.Result{}
	}
	return s, s.ens.Update(v)
}

// resourceSeries returns the series of a resource; for a new resource an
// empty set that update adds with its first series, so that resources
// whose points are all refused by max_series take no state.
func (p *anomalyProcessor) resourceSeries(res pcommon.Map) *resourceSeries {
	p.resKey = metricseries.AppendResourceKey(p.resKey[:0], res)
	if rs := p.resources[string(p.resKey)]; rs != nil {
		return rs
	}
	return &resourceSeries{series: map[string]*series{}, key: string(p.resKey), pending: true}
}

func (p *anomalyProcessor) newScope(sms pmetric.ScopeMetricsSlice) pmetric.MetricSlice {
	sm := sms.AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	return sm.Metrics()
}

func (p *anomalyProcessor) newGauge(ms pmetric.MetricSlice, name, unit string) pmetric.NumberDataPointSlice {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetUnit(unit)
	return m.SetEmptyGauge().DataPoints()
}

func newPoint(dps pmetric.NumberDataPointSlice, attrs pcommon.Map, metric, detector string, ts pcommon.Timestamp) pmetric.NumberDataPoint {
	dp := dps.AppendEmpty()
	attrs.CopyTo(dp.Attributes())
	dp.Attributes().PutStr(attrMetric, metric)
	dp.Attributes().PutStr(attrDetector, detector)
	dp.SetTimestamp(ts)
	return dp
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// expire forgets series and peer groups unseen for state_ttl. Series
// leave from the back of the recency list at every call. Peer groups are
// swept, which walks them all, and a gateway calls the processor once per
// Kafka record (one node's scrape): sweeping on every call was half of the
// processor's time (testbed/fleet), so they are swept once per state_ttl/8
// and released between state_ttl and 1.125 × state_ttl after their last point.
func (p *anomalyProcessor) expire(now time.Time) {
	p.expireSeries(now)
	if since := now.Sub(p.swept); !p.swept.IsZero() && since >= 0 && since < p.cfg.StateTTL/8 {
		return
	}
	p.swept = now
	for _, ps := range p.peers {
		for k, g := range ps.groups {
			if now.Sub(g.seen) > p.cfg.StateTTL {
				delete(ps.groups, k)
			}
		}
	}
}
