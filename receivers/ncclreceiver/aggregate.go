package ncclreceiver // import "github.com/acceltel/acceltel/receivers/ncclreceiver"

import (
	"bytes"
	"math"
	"strconv"
	"time"

	"github.com/acceltel/acceltel/internal/attribution"
)

// busBWFactor is the nccl-tests factor from algorithm bandwidth to bus
// bandwidth: what each rank's links carry, so numbers compare across ranks
// counts. 0 means the factor is unknown (ranks not reported) or the
// operation moves nothing over the bus (one rank).
func busBWFactor(fn []byte, nranks int32) float64 {
	n := float64(nranks)
	name := bytes.TrimRight(fn, "\x00")
	is := func(s string) bool { return bytes.EqualFold(name, []byte(s)) } // no allocation
	switch {
	case is("AllReduce"):
		if nranks < 1 {
			return 0
		}
		return 2 * (n - 1) / n
	case is("ReduceScatter"), is("AllGather"), is("AllToAll"):
		if nranks < 1 {
			return 0
		}
		return (n - 1) / n
	default: // broadcast, reduce, send, recv and what NCCL adds later
		return 1
	}
}

// bandwidths returns algbw and busbw in By/s; GPU kernel time when the
// plugin had it (what nccl-tests and NCCL Inspector divide by), else the
// host's start-to-completion time.
func bandwidths(r *record) (algbw, busbw float64) {
	ns := r.DurationNs
	if r.Flags&flagGPUTimer != 0 && r.ExecNs > 0 {
		ns = r.ExecNs
	}
	if ns == 0 {
		return 0, 0
	}
	algbw = float64(r.Bytes) / (float64(ns) / 1e9)
	return algbw, algbw * busBWFactor(r.Func[:], r.NRanks)
}

// Explicit bucket bounds, powers of two: 1 µs to ~17 s, 1 MB/s to ~2 TB/s.
var (
	durationBounds  = powers(1e-6, 25)
	bandwidthBounds = powers(1e6, 22)
)

func powers(base float64, n int) []float64 {
	b := make([]float64, n)
	for i := range b {
		b[i] = base * math.Pow(2, float64(i))
	}
	return b
}

// hist is a cumulative explicit-bucket histogram.
type hist struct {
	counts   []uint64
	count    uint64
	sum      float64
	min, max float64
}

func (h *hist) add(v float64, bounds []float64) {
	if h.counts == nil {
		h.counts = make([]uint64, len(bounds)+1)
		h.min, h.max = v, v
	}
	i := 0
	for i < len(bounds) && v > bounds[i] { // bucket i holds (bounds[i-1], bounds[i]]
		i++
	}
	h.counts[i]++
	h.count++
	h.sum += v
	h.min = math.Min(h.min, v)
	h.max = math.Max(h.max, v)
}

// procKey is one process on one CUDA device: the resource of its series.
type procKey struct {
	pid     int32
	cudaDev int32
}

type seriesKey struct {
	commID               uint64
	rank, nranks, nnodes int32
	fn, algo             [16]byte
	proto                [8]byte
}

type series struct {
	count, bytes int64
	duration     hist
	busbw        hist
	maxBusBW     float64 // this interval's largest, for the gauge
}

type proc struct {
	series   map[seriesKey]*series
	dropped  uint32 // plugin's own count, as last reported
	owner    attribution.Owner
	lastSeen time.Time
	lags     map[lagKey]*lagAcc // this interval's completion lags, by rank
}

// state is everything received, between two scrapes and since start.
type state struct {
	procs     map[procKey]*proc
	malformed map[string]int64
	records   int64
	spread    *spreadTracker
}

// Defaults of completion_spread, also what newState uses.
const (
	defaultSpreadMaxWait    = 2 * time.Second
	defaultSpreadMaxPending = 1024
)

func newState() *state {
	return &state{
		procs:     map[procKey]*proc{},
		malformed: map[string]int64{},
		spread:    newSpreadTracker(defaultSpreadMaxWait, defaultSpreadMaxPending),
	}
}

// add folds the records of one datagram from pid into the state.
func (s *state) add(pid int32, recs []record, dropped uint32, now time.Time, attribute func(int32) attribution.Owner) {
	var p *proc
	var last procKey
	for i := range recs {
		r := &recs[i]
		k := procKey{pid: pid, cudaDev: r.CUDADev}
		if p == nil || k != last {
			p = s.procs[k]
			if p == nil {
				p = &proc{series: map[seriesKey]*series{}}
				if attribute != nil {
					p.owner = attribute(pid)
				}
				s.procs[k] = p
			}
			last = k
			p.lastSeen = now
			p.dropped = dropped
		}
		sk := seriesKey{commID: r.CommID, rank: r.Rank, nranks: r.NRanks, nnodes: r.NNodes, fn: r.Func, algo: r.Algo, proto: r.Proto}
		se := p.series[sk]
		if se == nil {
			se = &series{}
			p.series[sk] = se
		}
		se.count++
		// check bounds r.Bytes; the counter stops at its maximum, never wraps.
		se.bytes = min(se.bytes, math.MaxInt64-int64(r.Bytes)) + int64(r.Bytes)
		se.duration.add(float64(r.DurationNs)/1e9, durationBounds)
		if _, bw := bandwidths(r); bw > 0 {
			se.busbw.add(bw, bandwidthBounds)
			se.maxBusBW = math.Max(se.maxBusBW, bw)
		}
		s.spread.observe(s, k, r, now)
	}
	s.records += int64(len(recs))
}

// expire forgets processes silent for longer than ttl, so a node that runs
// job after job does not keep every finished job's series.
func (s *state) expire(now time.Time, ttl time.Duration) {
	s.spread.flush(s, now, ttl)
	for k, p := range s.procs {
		if now.Sub(p.lastSeen) > ttl {
			delete(s.procs, k)
		}
	}
}

func commIDString(id uint64) string { return "0x" + strconv.FormatUint(id, 16) }
