package anomaly

import (
	"errors"
	"math"
	"math/bits"
	"sort"
)

// Direction says which side of the peer median counts as off.
type Direction int

const (
	// Both flags members above or below their peers.
	Both Direction = iota
	// High flags members above (e.g. step time, temperature).
	High
	// Low flags members below (e.g. SM clock, throughput).
	Low
)

// PeerConfig parameterises peer-group (fleet) detection.
type PeerConfig struct {
	Threshold   float64 // robust |z| against the group's median and MAD
	MinRelative float64 // and |x - median| / |median| at least this, so a tight fleet's tiny spread flags nothing
	K, N        int     // flagged when off in K of the last N intervals (N <= 64)
	MinMembers  int     // groups smaller than this are not judged
	Direction   Direction
}

// DefaultPeerConfig flags a member 3.5 robust sigmas and 5% off its peers in 3 of 5 intervals.
func DefaultPeerConfig() PeerConfig {
	return PeerConfig{Threshold: 3.5, MinRelative: 0.05, K: 3, N: 5, MinMembers: 4}
}

// Validate reports an unusable peer configuration.
func (c PeerConfig) Validate() error {
	var errs []error
	if c.Threshold <= 0 {
		errs = append(errs, errors.New("peer threshold must be > 0"))
	}
	if c.MinRelative < 0 {
		errs = append(errs, errors.New("peer min_relative must be >= 0"))
	}
	if c.N < 1 || c.N > 64 || c.K < 1 || c.K > c.N {
		errs = append(errs, errors.New("peer hysteresis needs 1 <= k <= n <= 64"))
	}
	if c.MinMembers < 3 {
		errs = append(errs, errors.New("peer min_members must be >= 3"))
	}
	return errors.Join(errs...)
}

// PeerVerdict is one member's standing in one interval.
type PeerVerdict struct {
	Member        string
	Value, Median float64
	Z             float64
	Off, Flagged  bool
	FlagChanged   bool // Flagged differs from the previous interval
	GroupSize     int
}

type peerMember struct {
	hist    uint64 // bit i: off i intervals ago
	flagged bool
	idle    uint16 // intervals since last seen
}

// PeerGroup judges the members of one peer group interval by interval.
type PeerGroup struct {
	cfg     PeerConfig
	members map[string]*peerMember
	cur     []PeerVerdict
	idx     map[string]int // member -> index in cur, this interval
	scratch []float64
}

// NewPeerGroup returns a peer group; the config must be valid.
func NewPeerGroup(c PeerConfig) *PeerGroup {
	return &PeerGroup{cfg: c, members: map[string]*peerMember{}, idx: map[string]int{}}
}

// Observe records member's value for the current interval (the last value wins).
func (g *PeerGroup) Observe(member string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if i, ok := g.idx[member]; ok {
		g.cur[i].Value = v
		return
	}
	g.idx[member] = len(g.cur)
	g.cur = append(g.cur, PeerVerdict{Member: member, Value: v})
}

// Len returns how many members the group tracks.
func (g *PeerGroup) Len() int { return len(g.members) }

// Close ends the interval and returns each observed member's verdict. The
// slice is reused by the next interval. Members unseen for 4*N intervals are forgotten.
func (g *PeerGroup) Close() []PeerVerdict {
	out := g.cur
	clear(g.idx)
	for _, m := range g.members {
		m.idle++
	}
	if len(out) == 0 {
		g.forget()
		return nil
	}
	g.scratch = g.scratch[:0]
	for _, v := range out {
		g.scratch = append(g.scratch, v.Value)
	}
	med, mad := sliceMedianMAD(g.scratch)
	judge := len(out) >= g.cfg.MinMembers
	scale := math.Max(madToSigma*mad, 1e-9*(1+math.Abs(med)))
	mask := uint64(1)<<uint(g.cfg.N) - 1
	if g.cfg.N == 64 {
		mask = ^uint64(0)
	}
	for i := range out {
		v := &out[i]
		m := g.members[v.Member]
		if m == nil {
			m = &peerMember{}
			g.members[v.Member] = m
		}
		m.idle = 0
		v.Median, v.GroupSize = med, len(out)
		v.Z = (v.Value - med) / scale
		dev := v.Value - med
		switch g.cfg.Direction {
		case High:
			dev = math.Max(dev, 0)
		case Low:
			dev = math.Max(-dev, 0)
		}
		v.Off = judge && math.Abs(dev)/scale > g.cfg.Threshold && math.Abs(dev) >= g.cfg.MinRelative*math.Abs(med)
		m.hist = m.hist << 1
		if v.Off {
			m.hist |= 1
		}
		c := bits.OnesCount64(m.hist & mask)
		was := m.flagged
		// Set at K of N, clear only when fewer than half of K remain: a
		// straggler that is off 2 intervals in 3 does not flap.
		if c >= g.cfg.K {
			m.flagged = true
		} else if c < (g.cfg.K+1)/2 {
			m.flagged = false
		}
		v.Flagged, v.FlagChanged = m.flagged, m.flagged != was
	}
	g.cur = out[:0]
	g.forget()
	return out
}

func (g *PeerGroup) forget() {
	for k, m := range g.members {
		if int(m.idle) > 4*g.cfg.N {
			delete(g.members, k)
		}
	}
}

func sliceMedianMAD(v []float64) (float64, float64) {
	sort.Float64s(v)
	med := sortedMedian(v)
	for i := range v {
		v[i] = math.Abs(v[i] - med)
	}
	sort.Float64s(v)
	return med, sortedMedian(v)
}

func sortedMedian(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
