package anomalyprocessor // import "github.com/acceltel/acceltel/processors/anomalyprocessor"

import (
	"context"
	"time"

	"github.com/acceltel/acceltel/internal/anomaly"
)

// The series are also on one list, most recently seen first, linked
// through the series themselves: seeing a series moves it to the front and
// the least recently seen is at the back, so both eviction at max_series
// and state_ttl expiry take the back in O(1), without walking a million
// series or a map.

// admit creates the series of p.key in rs, making room at max_series by
// evicting the least recently seen series, or returns nil when the policy
// is to refuse.
func (p *anomalyProcessor) admit(rs *resourceSeries) *series {
	if p.nSeries >= p.cfg.MaxSeries {
		if !p.evict || p.oldest == nil {
			p.tel.AnomalySeriesDropped.Add(context.Background(), 1)
			return nil
		}
		p.remove(p.oldest)
		p.tel.AnomalySeriesEvicted.Add(context.Background(), 1)
	}
	k := string(p.key)
	s := &series{ens: anomaly.New(p.engine), rs: rs, key: k}
	if rs.pending {
		p.resources[rs.key], rs.pending = rs, false
	}
	rs.series[k] = s
	p.nSeries++
	p.pushFront(s)
	return s
}

// touch marks s as the most recently seen series.
func (p *anomalyProcessor) touch(s *series) {
	if p.newest == s {
		return
	}
	p.unlink(s)
	p.pushFront(s)
}

func (p *anomalyProcessor) pushFront(s *series) {
	s.newer, s.older = nil, p.newest
	if p.newest != nil {
		p.newest.newer = s
	} else {
		p.oldest = s
	}
	p.newest = s
}

func (p *anomalyProcessor) unlink(s *series) {
	if s.newer != nil {
		s.newer.older = s.older
	} else {
		p.newest = s.older
	}
	if s.older != nil {
		s.older.newer = s.newer
	} else {
		p.oldest = s.newer
	}
	s.newer, s.older = nil, nil
}

// remove forgets s, and its resource once that has no series left. The
// resource becomes pending again, so that a caller still holding it (the
// resource of the point that evicted s) adds it back with its next series.
func (p *anomalyProcessor) remove(s *series) {
	p.unlink(s)
	rs := s.rs
	delete(rs.series, s.key)
	p.nSeries--
	if len(rs.series) == 0 {
		if p.resources[rs.key] == rs {
			delete(p.resources, rs.key)
		}
		rs.pending = true
	}
}

// expireSeries forgets the series unseen for state_ttl: they are the back
// of the list, so each call costs one comparison plus one per expired series.
func (p *anomalyProcessor) expireSeries(now time.Time) {
	for s := p.oldest; s != nil && now.Sub(s.seen) > p.cfg.StateTTL; s = p.oldest {
		p.remove(s)
	}
}
