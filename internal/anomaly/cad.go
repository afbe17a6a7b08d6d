package anomaly

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
)

// CAD is a contextual anomaly detector after the design of Smirnov's CAD OSE
// (Contextual Anomaly Detector, open-source edition; 69.9 on NAB's full
// corpus, its best non-HTM detector), written from its description.
//
// Each value is quantised to a level (see levels) and described by facts:
// one per bit of the level. A context is a left semi-context (a set of
// facts holding at one point: the previous point's sensor facts plus the
// contexts that were active then, fed back as "neuron" facts) followed by a
// right semi-context (sensor facts of the next point). Every point adds the
// zero-level context (whole left group, whole next sensor facts); when that
// one is new, the intersections of the input with the zero-level contexts
// whose left part partly matched become potential new contexts. Contexts
// whose left part matched fully predicted their right part; those that
// came true are active, and the best-scoring ones predict the next point.
// A point whose facts were not all predicted scores (1 - share of selected
// contexts that came true + share of its potential contexts that are new)
// / 2. After a score >= cadRestAbove the next Rest points score 0.
//
// CAD OSE's memory grows without bound; here at most MaxContexts contexts
// are kept: when a new one would exceed the cap, the one unused for longest
// (not made, met again whole or selected by its left part) is forgotten, with
// its left semi-context once that opens no other context. Contexts that the
// current point touched are never forgotten for it; if all are, no new
// context is made. CAD OSE is also handed each file's minimum and maximum
// before it starts, which a stream does not have: the range is learnt over
// the first Calib points instead, as Novelty does.
type CAD struct {
	c     CADConfig
	q     levels
	bits  int // facts per value
	step  uint64
	lefts []cadLeft
	ctxs  []cadContext
	// free slots, and slots freed during this point (reused after it, so
	// that lists of slots taken before an eviction stay valid for the point)
	freeLefts, freeCtxs, pendLefts, pendCtxs []int32
	liveCtxs                                 int
	leftByKey                                map[string]int32
	ctxByKey                                 map[uint64]int32
	byNeuron                                 map[uint32][]int32 // neuron fact -> left slots holding it
	// serial numbers contexts for their neuron facts; a wrap after 4
	// billion contexts could at worst let a long-forgotten fact match again.
	serial uint32

	prevMask    uint32
	prevNeurons []uint32
	hasPrev     bool
	crossed     []int32 // left slots that shared facts with the last left group
	predicted   uint32
	sinceHigh   int

	keyBuf []byte
	uniq   map[string]struct{}
	active []cadActive
	pots   []cadPot
}

// CADConfig parameterises CAD; DefaultCADConfig has CAD OSE's values where
// it has them.
type CADConfig struct {
	Calib       int // points that set the quantisation range
	Rest        int // points scored 0 after a score >= 0.75
	MaxLeft     int // longest left part of a derived context (CAD OSE: 7)
	MaxActive   int // active contexts fed back as facts (CAD OSE: 15)
	MaxContexts int // memory cap
}

// DefaultCADConfig is the configuration `--detector cad` uses.
func DefaultCADConfig() CADConfig {
	return CADConfig{Calib: 750, Rest: 50, MaxLeft: 7, MaxActive: 15, MaxContexts: 1024}
}

// cadRestAbove is CAD OSE's base threshold: a score at or above it starts
// the rest period.
const cadRestAbove = 0.75

type cadLeft struct {
	mask    uint32   // sensor facts, one bit per fact
	neurons []uint32 // neuron facts (context serials), ascending
	ctxs    []int32  // context slots this left part opens
	matched int32    // facts shared with the last left group
	live    bool
}

func (l *cadLeft) size() int32 { return int32(bits.OnesCount32(l.mask) + len(l.neurons)) }

type cadContext struct {
	left                int32
	right               uint32 // sensor facts
	total, hits, active int32  // facts predicted, facts that came true, times fully true
	serial              uint32 // its neuron fact; never reused, unlike the slot
	last                uint64 // step last used
	zero, live          bool
}

type cadActive struct {
	slot   int32
	active int32
}

type cadPot struct {
	mask    uint32
	neurons []uint32
	right   uint32
}

// NewCAD returns a detector; out-of-range settings are clamped.
func NewCAD(c CADConfig) *CAD {
	c.Calib = min(max(c.Calib, 1), math.MaxInt32)
	c.Rest = max(c.Rest, 0)
	c.MaxLeft = max(c.MaxLeft, 1)
	c.MaxActive = max(c.MaxActive, 0)
	c.MaxContexts = max(c.MaxContexts, 2)
	return &CAD{
		c: c, q: levels{calib: uint32(c.Calib)}, bits: bits.Len(noveltyLevels - 1),
		leftByKey: map[string]int32{}, ctxByKey: map[uint64]int32{}, byNeuron: map[uint32][]int32{},
		uniq: map[string]struct{}{},
	}
}

// Contexts returns the number of contexts held.
func (d *CAD) Contexts() int { return d.liveCtxs }

// facts returns the sensor facts of a level: bit i of the level sets fact
// 2i or 2i+1.
func (d *CAD) facts(lvl uint8) uint32 {
	var m uint32
	for i := range d.bits {
		m |= 1 << (2*i + int(lvl>>i&1))
	}
	return m
}

func (d *CAD) leftKey(mask uint32, neurons []uint32) []byte {
	b := binary.LittleEndian.AppendUint32(d.keyBuf[:0], mask)
	for _, n := range neurons {
		b = binary.LittleEndian.AppendUint32(b, n)
	}
	d.keyBuf = b
	return b
}

// context finds or makes the context (left facts, right facts) and
// reports whether it made it; -1 when it is new and the memory is full of
// contexts this point has used.
func (d *CAD) context(mask uint32, neurons []uint32, right uint32, zero bool) (int32, bool) {
	li, ok := d.leftByKey[string(d.leftKey(mask, neurons))]
	if ok {
		if ci, ok := d.ctxByKey[uint64(li)<<32|uint64(right)]; ok {
			c := &d.ctxs[ci]
			c.zero = c.zero || zero
			c.last = d.step
			return ci, false
		}
	}
	if d.liveCtxs >= d.c.MaxContexts && !d.evict() {
		return -1, false
	}
	if !ok || !d.lefts[li].live {
		li = d.newLeft(mask, neurons)
	}
	d.serial++
	ci := takeSlot(&d.freeCtxs, &d.ctxs)
	d.ctxs[ci] = cadContext{left: li, right: right, serial: d.serial, last: d.step, zero: zero, live: true}
	d.ctxByKey[uint64(li)<<32|uint64(right)] = ci
	d.lefts[li].ctxs = append(d.lefts[li].ctxs, ci)
	d.liveCtxs++
	return ci, true
}

func (d *CAD) newLeft(mask uint32, neurons []uint32) int32 {
	li := takeSlot(&d.freeLefts, &d.lefts)
	l := &d.lefts[li]
	l.mask, l.neurons, l.ctxs, l.matched, l.live = mask, append(l.neurons[:0], neurons...), l.ctxs[:0], 0, true
	d.leftByKey[string(d.leftKey(mask, neurons))] = li
	for _, n := range neurons {
		d.byNeuron[n] = append(d.byNeuron[n], li)
	}
	return li
}

// takeSlot returns a free slot of s, growing s when there is none.
func takeSlot[T any](free *[]int32, s *[]T) int32 {
	if n := len(*free); n > 0 {
		i := (*free)[n-1]
		*free = (*free)[:n-1]
		return i
	}
	var zero T
	*s = append(*s, zero)
	return int32(len(*s) - 1)
}

// evict forgets the context unused for longest, if this point has not
// used it.
func (d *CAD) evict() bool {
	victim, oldest := int32(-1), d.step
	for i := range d.ctxs {
		c := &d.ctxs[i]
		if !c.live || c.last == d.step {
			continue
		}
		if c.last < oldest {
			victim, oldest = int32(i), c.last
		}
	}
	if victim < 0 {
		return false
	}
	c := &d.ctxs[victim]
	delete(d.ctxByKey, uint64(c.left)<<32|uint64(c.right))
	// Left parts holding its neuron fact can no longer match in full; they
	// age out with their contexts.
	delete(d.byNeuron, c.serial)
	l := &d.lefts[c.left]
	if i := slices.Index(l.ctxs, victim); i >= 0 {
		l.ctxs[i] = l.ctxs[len(l.ctxs)-1]
		l.ctxs = l.ctxs[:len(l.ctxs)-1]
	}
	if len(l.ctxs) == 0 {
		delete(d.leftByKey, string(d.leftKey(l.mask, l.neurons)))
		for _, n := range l.neurons {
			if ls, ok := d.byNeuron[n]; ok {
				if i := slices.Index(ls, c.left); i >= 0 {
					ls[i] = ls[len(ls)-1]
					d.byNeuron[n] = ls[:len(ls)-1]
				}
			}
		}
		l.live = false
		d.pendLefts = append(d.pendLefts, c.left)
	}
	c.live = false
	d.pendCtxs = append(d.pendCtxs, victim)
	d.liveCtxs--
	return true
}

// Update returns x's anomaly score in [0,1] (NaN and Inf score 0 and are
// skipped).
func (d *CAD) Update(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0
	}
	d.step++
	s := d.facts(d.q.level(x))
	unpredicted := s&^d.predicted != 0

	newCtx := int32(-1)
	if d.hasPrev {
		if ci, made := d.context(d.prevMask, d.prevNeurons, s, true); made {
			newCtx = ci
		}
	}
	newFlag := newCtx >= 0
	// Contexts whose left part matched the last left group in full
	// predicted their right part for this point.
	active, pots := d.active[:0], d.pots[:0]
	numSel := 0
	for _, li := range d.crossed {
		l := &d.lefts[li]
		if !l.live {
			continue
		}
		full := l.matched == l.size()
		for _, ci := range l.ctxs {
			if ci == newCtx {
				continue
			}
			c := &d.ctxs[ci]
			rLen := int32(bits.OnesCount32(c.right))
			rHit := int32(bits.OnesCount32(c.right & s))
			if full {
				numSel++
				c.last = d.step
				c.total += rLen
				c.hits += rHit
				if rHit == rLen {
					c.active++
					active = append(active, cadActive{ci, c.active})
					continue
				}
			}
			if c.zero && newFlag && rHit > 0 && l.matched <= int32(d.c.MaxLeft) {
				pots = append(pots, cadPot{l.mask & d.prevMask, intersectSorted(l.neurons, d.prevNeurons), c.right & s})
			}
		}
	}
	selActive := 0.0
	if numSel > 0 {
		selActive = float64(len(active)) / float64(numSel)
	}
	// The most often confirmed active contexts become facts of the next
	// left group (newest first among equals).
	neurons := d.topActive(active)

	numNew := 0
	clear(d.uniq)
	if d.hasPrev {
		d.uniq[string(binary.LittleEndian.AppendUint32(d.leftKey(d.prevMask, d.prevNeurons), s))] = struct{}{}
	}
	for _, p := range pots {
		d.uniq[string(binary.LittleEndian.AppendUint32(d.leftKey(p.mask, p.neurons), p.right))] = struct{}{}
		if _, made := d.context(p.mask, p.neurons, p.right, false); made {
			numNew++
		}
	}
	if newFlag {
		numNew++
	}
	added := 0.0
	if newFlag && len(d.uniq) > 0 {
		added = float64(numNew) / float64(len(d.uniq))
	}

	d.cross(s, neurons)
	d.prevMask, d.prevNeurons, d.hasPrev = s, neurons, true
	d.active, d.pots = active, pots
	d.freeLefts, d.pendLefts = append(d.freeLefts, d.pendLefts...), d.pendLefts[:0]
	d.freeCtxs, d.pendCtxs = append(d.freeCtxs, d.pendCtxs...), d.pendCtxs[:0]

	score := 0.0
	if unpredicted {
		score = (1 - selActive + added) / 2
	}
	out := score
	if d.sinceHigh < d.c.Rest {
		out = 0
	}
	if score >= cadRestAbove {
		d.sinceHigh = 0
	} else if d.sinceHigh < math.MaxInt32 {
		d.sinceHigh++
	}
	return out
}

// topActive returns the serials of the MaxActive contexts of active with
// the highest counts (newest first among equals), ascending. Hundreds may
// be active at once on a long regular stretch; only the few best are kept,
// by insertion, instead of sorting them all.
func (d *CAD) topActive(active []cadActive) []uint32 {
	k := d.c.MaxActive
	if k == 0 {
		return nil
	}
	better := func(a, b cadActive) bool {
		return a.active > b.active || a.active == b.active && d.ctxs[a.slot].serial > d.ctxs[b.slot].serial
	}
	top := make([]cadActive, 0, min(k, len(active)))
	for _, a := range active {
		if len(top) == k {
			if !better(a, top[k-1]) {
				continue
			}
			top = top[:k-1]
		}
		i := len(top)
		top = append(top, a)
		for ; i > 0 && better(a, top[i-1]); i-- {
			top[i] = top[i-1]
		}
		top[i] = a
	}
	neurons := make([]uint32, len(top))
	for i, a := range top {
		neurons[i] = d.ctxs[a.slot].serial
	}
	slices.Sort(neurons)
	return neurons
}

// cross matches the new left group against every left part: the ones
// matched in full predict, by their contexts' record, the next point's
// facts.
func (d *CAD) cross(s uint32, neurons []uint32) {
	for i := range d.lefts {
		d.lefts[i].matched = 0
	}
	for _, n := range neurons {
		for _, li := range d.byNeuron[n] {
			d.lefts[li].matched++
		}
	}
	d.crossed = d.crossed[:0]
	var best float64
	var pred uint32
	for li := range d.lefts {
		l := &d.lefts[li]
		if !l.live {
			continue
		}
		l.matched += int32(bits.OnesCount32(l.mask & s))
		if l.matched == 0 {
			continue
		}
		d.crossed = append(d.crossed, int32(li))
		if l.matched != l.size() {
			continue
		}
		for _, ci := range l.ctxs {
			c := &d.ctxs[ci]
			w := 0.0
			if c.total > 0 {
				w = float64(c.hits) / float64(c.total)
			}
			// Ties pool their predictions, as in CAD OSE.
			if w > best {
				best, pred = w, c.right
			} else if w == best {
				pred |= c.right
			}
		}
	}
	d.predicted = pred
}

// intersectSorted returns the elements of a that are in b (both ascending).
func intersectSorted(a, b []uint32) []uint32 {
	var out []uint32
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}
