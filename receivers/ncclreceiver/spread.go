package ncclreceiver // import "github.com/acceltel/acceltel/receivers/ncclreceiver"

import (
	"slices"
	"time"
)

// The completion spread: for the ranks of one communicator that this
// collector sees, how far apart they finish the same collective. NCCL numbers
// the collectives of a communicator per operation (the profiler's seqNumber,
// NCCL Inspector's coll_sn), the same on every rank, so (comm id, collective,
// sequence number) names one collective on all its ranks. Each rank's
// completion is its host start plus its host duration (records carry the
// host's wall clock, so ranks on one node compare directly).
//
// A sequence number is closed when all the communicator's ranks have
// reported it, or every rank (two or more) this collector has seen for the
// (comm, collective), or when it has waited max_wait since its first report; it then yields the spread (latest minus earliest
// completion) and each rank's lag behind the median. Closing needs two
// ranks: a communicator with one local rank gives no signal here, only at
// the gateway, where the anomaly processor compares the lags of all nodes.

// spreadKey is one collective of one communicator: what sequence numbers
// count.
type spreadKey struct {
	commID uint64
	fn     [16]byte
}

// completion is one rank's report of one sequence number.
type completion struct {
	rank int32
	ns   int64 // host completion time, Unix ns
	pk   procKey
}

type pendingSeq struct {
	seq   uint64
	gen   uint64    // incarnation: pendingSeqs are recycled
	first time.Time // arrival of the first report, receiver clock
	done  []completion
}

// orderEntry is a pendingSeq as it was when queued; a closed or recycled
// one no longer matches.
type orderEntry struct {
	p   *pendingSeq
	gen uint64
}

// track is the state of one (comm, collective).
type track struct {
	commID   uint64
	nranks   int32
	ranks    map[int32]time.Time // ranks seen, last report
	pending  map[uint64]*pendingSeq
	order    []orderEntry // oldest first; closed entries are skipped lazily
	spread   hist
	created  time.Time
	lastSeen time.Time
}

// lagKey is a rank's lag series, kept on its process so the lag carries
// the process's pod and container.
type lagKey struct {
	commID       uint64
	rank, nranks int32
}

type lagAcc struct {
	sum float64
	n   int64
}

// spreadTracker holds the tracks, bounded by maxPending sequence numbers per
// track.
type spreadTracker struct {
	maxWait    time.Duration
	maxPending int
	tracks     map[spreadKey]*track
	evicted    int64
	free       []*pendingSeq // recycled, so steady state does not allocate
	gen        uint64
	scratch    []int64
}

func newSpreadTracker(maxWait time.Duration, maxPending int) *spreadTracker {
	return &spreadTracker{maxWait: maxWait, maxPending: maxPending, tracks: map[spreadKey]*track{}}
}

// observe records r's completion, closing what is complete or overdue.
func (t *spreadTracker) observe(s *state, pk procKey, r *record, now time.Time) {
	if r.Kind != kindColl || r.StartUnixNs == 0 {
		return
	}
	k := spreadKey{commID: r.CommID, fn: r.Func}
	tr := t.tracks[k]
	if tr == nil {
		tr = &track{commID: r.CommID, ranks: map[int32]time.Time{}, pending: map[uint64]*pendingSeq{}, created: now}
		t.tracks[k] = tr
	}
	tr.lastSeen = now
	tr.nranks = r.NRanks
	tr.ranks[r.Rank] = now
	t.closeOverdue(s, tr, now)

	p := tr.pending[r.Seq]
	if p == nil {
		if len(tr.pending) >= t.maxPending {
			t.evictOldest(tr)
		}
		p = t.get()
		p.seq, p.first = r.Seq, now
		tr.pending[r.Seq] = p
		tr.order = append(tr.order, orderEntry{p: p, gen: p.gen})
	}
	c := completion{rank: r.Rank, ns: int64(r.StartUnixNs + r.DurationNs), pk: pk}
	i := slices.IndexFunc(p.done, func(d completion) bool { return d.rank == r.Rank })
	if i >= 0 {
		p.done[i] = c // a repeat report of a rank replaces the first
	} else {
		p.done = append(p.done, c)
	}
	// A track younger than max_wait may not know all its local ranks yet
	// (processes start, and files are read, one after another): it closes
	// early only with every rank of the communicator.
	young := now.Sub(tr.created) < t.maxWait
	switch {
	case r.NRanks > 0 && len(p.done) >= int(r.NRanks):
		t.close(s, tr, p)
	case young:
	case len(tr.ranks) >= 2 && len(p.done) >= len(tr.ranks):
		t.close(s, tr, p)
	case len(tr.ranks) == 1:
		t.close(s, tr, p) // one local rank: no spread to measure here
	}
}

func (t *spreadTracker) get() *pendingSeq {
	var p *pendingSeq
	if n := len(t.free); n > 0 {
		p = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		p = &pendingSeq{done: make([]completion, 0, 8)}
	}
	t.gen++
	p.gen = t.gen
	return p
}

func (t *spreadTracker) put(p *pendingSeq) {
	p.done = p.done[:0]
	if len(t.free) < 1024 {
		t.free = append(t.free, p)
	}
}

func (tr *track) live(e orderEntry) bool {
	return e.p.gen == e.gen && tr.pending[e.p.seq] == e.p
}

// popClosed drops the closed entries at the head of order.
func popClosed(tr *track) {
	for len(tr.order) > 0 && !tr.live(tr.order[0]) {
		tr.order[0] = orderEntry{}
		tr.order = tr.order[1:]
	}
}

// closeOverdue closes the sequence numbers that waited max_wait, oldest
// first; reports arrive about in order, so the head is where they are.
func (t *spreadTracker) closeOverdue(s *state, tr *track, now time.Time) {
	for popClosed(tr); len(tr.order) > 0 && now.Sub(tr.order[0].p.first) >= t.maxWait; popClosed(tr) {
		t.close(s, tr, tr.order[0].p)
	}
}

func (t *spreadTracker) evictOldest(tr *track) {
	popClosed(tr)
	if len(tr.order) == 0 {
		return
	}
	p := tr.order[0].p
	delete(tr.pending, p.seq)
	t.put(p)
	if len(tr.ranks) >= 2 { // with one rank known no measurement is lost
		t.evicted++
	}
	popClosed(tr)
}

// close turns a sequence number's completions into the spread and the
// lags, and recycles p.
func (t *spreadTracker) close(s *state, tr *track, p *pendingSeq) {
	delete(tr.pending, p.seq)
	defer t.put(p)
	if len(p.done) < 2 {
		return
	}
	t.scratch = t.scratch[:0]
	for _, c := range p.done {
		t.scratch = append(t.scratch, c.ns)
	}
	slices.Sort(t.scratch)
	n := len(t.scratch)
	lo, hi := t.scratch[0], t.scratch[n-1]
	// Relative to the earliest: Unix ns do not fit a float64's mantissa.
	median := float64(t.scratch[n/2] - lo)
	if n%2 == 0 {
		median = (float64(t.scratch[n/2-1]-lo) + median) / 2
	}
	tr.spread.add(float64(hi-lo)/1e9, durationBounds)
	for _, c := range p.done {
		pr := s.procs[c.pk]
		if pr == nil {
			continue // expired meanwhile
		}
		if pr.lags == nil {
			pr.lags = map[lagKey]*lagAcc{}
		}
		lk := lagKey{commID: tr.commID, rank: c.rank, nranks: tr.nranks}
		a := pr.lags[lk]
		if a == nil {
			a = &lagAcc{}
			pr.lags[lk] = a
		}
		a.sum += (float64(c.ns-lo) - median) / 1e9
		a.n++
	}
}

// flush closes what has waited max_wait, and forgets ranks and tracks silent
// for ttl (a finished job).
func (t *spreadTracker) flush(s *state, now time.Time, ttl time.Duration) {
	for k, tr := range t.tracks {
		t.closeOverdue(s, tr, now)
		for rank, seen := range tr.ranks {
			if now.Sub(seen) > ttl {
				delete(tr.ranks, rank)
			}
		}
		if now.Sub(tr.lastSeen) > ttl {
			for _, p := range tr.pending {
				t.put(p)
			}
			delete(t.tracks, k)
		}
	}
}
