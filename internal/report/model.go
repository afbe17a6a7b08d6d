// Package report turns acceltel metrics into one self-contained HTML page:
// the fleet's GPUs over time, throttling and XID/ECC events, NCCL bus
// bandwidth per rank, InfiniBand ports, CPU and IO latency per container,
// anomalies, cost and parallelism recommendations, with a summary of what
// needs attention on top.
//
// Two producers fill the same in-memory model, a Builder: the `acceltel
// report` command from the Parquet files the s3 exporter wrote (or from
// Prometheus), and the acceltelstatus extension from the metrics a
// collector pipeline hands it. The Builder keeps only what the page shows,
// already downsampled into a fixed number of time buckets, so its memory is
// bounded by series × buckets whatever the amount of input.
package report

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Kind says how the points of a series add up in a time bucket.
type Kind uint8

const (
	// KindGauge points are averaged (and their maximum kept).
	KindGauge Kind = iota
	// KindCumulative points are counter readings; a bucket's increase is
	// its last reading minus the previous bucket's last one.
	KindCumulative
	// KindDelta points are increments; a bucket's increase is their sum.
	KindDelta
)

// Options shape a Builder.
type Options struct {
	// From and To bound the report; points outside are ignored. In live
	// mode (Window > 0) they are unused.
	From, To time.Time
	// MaxColumns is the most time buckets a chart has (default 720: two
	// minutes a column for a day, 10 s for two hours).
	MaxColumns int
	// MinStep is the smallest bucket width (default 10 s, the receivers'
	// usual scrape interval): finer buckets would only be empty.
	MinStep time.Duration
	// Window > 0 makes a live Builder: a ring of the last Window of time,
	// whose buckets are reused as time moves on.
	Window time.Duration
	// HistSlots is how many time slots a histogram series keeps in live
	// mode (default 12); a report keeps one (the whole range).
	HistSlots int
	// MaxSeries caps the number of series (default 100,000); points of
	// further series are counted as dropped.
	MaxSeries int
}

// Builder accumulates points into time buckets. It is not safe for
// concurrent use; the live extension guards it with a mutex.
type Builder struct {
	origin    int64 // unix ns of bucket 0
	step      int64 // bucket width, ns
	n         int   // buckets in the ring (report: all of them)
	live      bool
	from, to  int64 // report bounds, ns (to exclusive)
	histSlots int
	histStep  int64
	maxSeries int

	series  map[string]*series
	latest  int64 // highest bucket index seen (live)
	points  int64
	dropped int64
	// minInterval is the smallest positive spacing seen between two
	// consecutive points of a series: the input's own resolution.
	minInterval int64

	keyBuf []byte
	kvBuf  []string
}

// series is one metric stream of one entity, bucketed.
type series struct {
	metric string
	labels map[string]string
	kind   Kind
	unit   string

	tag []int64 // bucket index held by each ring slot; -1 when empty

	// Gauges: sum, count and maximum per bucket. Delta sums: sum.
	sum []float64
	max []float64
	cnt []uint32
	// Cumulative sums: first and last reading per bucket, by time.
	firstT, lastT []int64
	firstV, lastV []float64
	// The latest reading within one step before the report's range: the
	// base of the first bucket's increase.
	baseT   int64
	baseV   float64
	hasBase bool

	hist *histSeries

	prevT int64
}

// histSeries keeps histograms per coarse time slot: for cumulative ones
// the latest snapshot of the slot, for delta ones their sum. earliest is
// the first cumulative snapshot seen (a report's baseline).
type histSeries struct {
	delta    bool
	tags     []int64
	snaps    []Hist
	snapT    []int64
	earliest Hist
	earlyT   int64
}

// NewBuilder returns an empty Builder.
func NewBuilder(o Options) *Builder {
	if o.MaxColumns <= 0 {
		o.MaxColumns = 720
	}
	if o.MinStep <= 0 {
		o.MinStep = 10 * time.Second
	}
	if o.MaxSeries <= 0 {
		o.MaxSeries = 100_000
	}
	b := &Builder{series: map[string]*series{}, maxSeries: o.MaxSeries, latest: -1}
	span := o.Window
	if o.Window > 0 {
		b.live = true
		b.origin = 0
	} else {
		span = o.To.Sub(o.From)
		b.from, b.to = o.From.UnixNano(), o.To.UnixNano()
		b.origin = b.from
	}
	step := niceStep(span/time.Duration(o.MaxColumns), o.MinStep)
	b.step = int64(step)
	b.n = int((int64(span) + b.step - 1) / b.step)
	b.n = max(b.n, 1)
	if b.live {
		b.histSlots = o.HistSlots
		if b.histSlots <= 0 {
			b.histSlots = 12
		}
		// One more slot than the window needs: the oldest one is the
		// baseline the window's increase is measured from.
		b.histStep = (int64(span) + int64(b.histSlots) - 1) / int64(b.histSlots)
		b.histSlots++
	} else {
		b.histSlots = 1
		b.histStep = int64(span) + 1
	}
	return b
}

// niceStep rounds d up to a bucket width people read easily.
func niceStep(d, minStep time.Duration) time.Duration {
	for _, s := range []time.Duration{10 * time.Second, 15 * time.Second, 20 * time.Second, 30 * time.Second,
		time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if s >= d && s >= minStep {
			return s
		}
	}
	return max(d, minStep)
}

// Step is the width of a time bucket.
func (b *Builder) Step() time.Duration { return time.Duration(b.step) }

// Points is how many points were accepted; Dropped how many were refused
// because the series cap was reached.
func (b *Builder) Points() int64  { return b.points }
func (b *Builder) Dropped() int64 { return b.dropped }

// Series is how many series the Builder holds.
func (b *Builder) Series() int { return len(b.series) }

// InRange reports whether a point at ts (unix ns) would be kept.
func (b *Builder) InRange(ts int64) bool {
	return b.live || (ts >= b.from && ts < b.to)
}

// wanted lists the metrics the page shows: everything else is skipped on
// input, which is what keeps a day of a fleet fast to read.
var wantedExact = map[string]bool{
	mUtil: true, mMemUsage: true, mMemLimit: true, mPower: true, mTemp: true,
	mSMActivity: true, mTensorActivity: true,
	mThrottle: true, mXID: true, mECC: true,
	mNCCLBusBW: true, mNCCLBusBWHist: true, mNCCLBytes: true, mNCCLCount: true, mNCCLLag: true,
	mIBUtil: true, mIBWait: true,
	mRunq: true, mBlockIO: true, mOffCPU: true,
	mAnomFlag: true, mAnomScore: true, mAnomStraggler: true,
	mCostAlloc: true, mCostIdle: true, mCostEnergy: true,
}

// Wanted reports whether the page uses metric name.
func Wanted(name string) bool {
	return wantedExact[name] || strings.HasPrefix(name, "acceltel.plan.")
}

// WantedMetrics lists the metrics the page reads besides acceltel.plan.*.
func WantedMetrics() []string {
	out := make([]string, 0, len(wantedExact))
	for k := range wantedExact {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Labels is a series' identity besides its metric name: resource
// attributes and point attributes merged (the point's win).
type Labels map[string]string

func (b *Builder) key(metric string, l Labels) string {
	b.kvBuf = b.kvBuf[:0]
	for k := range l {
		b.kvBuf = append(b.kvBuf, k)
	}
	slices.Sort(b.kvBuf)
	buf := append(b.keyBuf[:0], metric...)
	for _, k := range b.kvBuf {
		buf = append(buf, 0)
		buf = append(buf, k...)
		buf = append(buf, 1)
		buf = append(buf, l[k]...)
	}
	b.keyBuf = buf
	return string(buf)
}

// get finds or creates the series; nil when the cap is reached. labels is
// copied only when a series is created, so callers may reuse their map.
func (b *Builder) get(metric, unit string, kind Kind, l Labels) *series {
	k := b.key(metric, l)
	if s := b.series[k]; s != nil {
		return s
	}
	if len(b.series) >= b.maxSeries {
		return nil
	}
	s := &series{metric: metric, kind: kind, unit: unit, labels: make(map[string]string, len(l))}
	for k, v := range l {
		s.labels[k] = v
	}
	s.tag = make([]int64, b.n)
	for i := range s.tag {
		s.tag[i] = -1
	}
	switch kind {
	case KindGauge:
		s.sum, s.max, s.cnt = make([]float64, b.n), make([]float64, b.n), make([]uint32, b.n)
	case KindDelta:
		s.sum, s.cnt = make([]float64, b.n), make([]uint32, b.n)
	case KindCumulative:
		s.firstT, s.lastT = make([]int64, b.n), make([]int64, b.n)
		s.firstV, s.lastV = make([]float64, b.n), make([]float64, b.n)
		s.cnt = make([]uint32, b.n)
	}
	b.series[k] = s
	return s
}

// slot maps a time to its ring slot, clearing a slot that held an older
// bucket; ok is false for a point too old for the live window.
func (b *Builder) slot(s *series, ts int64) (int, bool) {
	bi := (ts - b.origin) / b.step
	if ts < b.origin {
		bi = -1 - (b.origin-ts-1)/b.step
	}
	if b.live {
		if bi > b.latest {
			b.latest = bi
		}
		if bi <= b.latest-int64(b.n) {
			return 0, false
		}
	}
	i := int(((bi % int64(b.n)) + int64(b.n)) % int64(b.n))
	if s.tag[i] != bi {
		s.tag[i] = bi
		if s.cnt != nil {
			s.cnt[i] = 0
		}
		if s.sum != nil {
			s.sum[i] = 0
		}
		if s.max != nil {
			s.max[i] = math.Inf(-1)
		}
	}
	return i, true
}

func (b *Builder) noteTime(s *series, ts int64) {
	if s.prevT != 0 {
		if d := ts - s.prevT; d > 0 && (b.minInterval == 0 || d < b.minInterval) {
			b.minInterval = d
		}
	}
	s.prevT = ts
}

// AddNumber adds one gauge or sum point at ts (unix ns).
//
// A cumulative reading up to one step before the range is kept as the base
// of the first bucket's increase, so a counter that rises in the first
// bucket is seen to.
func (b *Builder) AddNumber(metric, unit string, kind Kind, l Labels, ts int64, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if !b.InRange(ts) {
		if kind == KindCumulative && !b.live && ts < b.from && ts >= b.from-b.step {
			if s := b.get(metric, unit, kind, l); s != nil && s.kind == kind && (!s.hasBase || ts >= s.baseT) {
				s.baseT, s.baseV, s.hasBase = ts, v, true
			}
		}
		return
	}
	s := b.get(metric, unit, kind, l)
	if s == nil {
		b.dropped++
		return
	}
	if s.kind != kind || s.hist != nil {
		return // the same name with another type: keep the first
	}
	i, ok := b.slot(s, ts)
	if !ok {
		return
	}
	b.points++
	b.noteTime(s, ts)
	switch kind {
	case KindGauge:
		s.sum[i] += v
		s.max[i] = max(s.max[i], v)
	case KindDelta:
		s.sum[i] += v
	case KindCumulative:
		if s.cnt[i] == 0 || ts < s.firstT[i] {
			s.firstT[i], s.firstV[i] = ts, v
		}
		if s.cnt[i] == 0 || ts >= s.lastT[i] {
			s.lastT[i], s.lastV[i] = ts, v
		}
	}
	s.cnt[i]++
}

// AddHistogram adds one histogram point (explicit bounds; exponential
// histograms are converted with ExpHist first).
func (b *Builder) AddHistogram(metric, unit string, delta bool, l Labels, ts int64, h Hist) {
	if !b.InRange(ts) || len(h.Counts) == 0 {
		return
	}
	s := b.get(metric, unit, KindGauge, l)
	if s == nil {
		b.dropped++
		return
	}
	if s.hist == nil {
		// A histogram series needs no number buckets.
		s.sum, s.max, s.cnt = nil, nil, nil
		s.hist = &histSeries{delta: delta, tags: make([]int64, b.histSlots), snaps: make([]Hist, b.histSlots), snapT: make([]int64, b.histSlots)}
		for i := range s.hist.tags {
			s.hist.tags[i] = -1
		}
	}
	hs := s.hist
	hi := (ts - b.origin) / b.histStep
	if b.live {
		cur := b.latest * b.step / b.histStep
		if hi > cur {
			// Histograms alone also move the live window on.
			if bi := (ts - b.origin) / b.step; bi > b.latest {
				b.latest = bi
			}
			cur = hi
		}
		if hi <= cur-int64(b.histSlots) {
			return
		}
	}
	i := int(((hi % int64(b.histSlots)) + int64(b.histSlots)) % int64(b.histSlots))
	b.points++
	b.noteTime(s, ts)
	if hs.tags[i] != hi {
		hs.tags[i] = hi
		hs.snaps[i] = Hist{}
		hs.snapT[i] = 0
	}
	if hs.delta {
		hs.snaps[i] = hs.snaps[i].Add(h)
		return
	}
	if hs.snapT[i] == 0 || ts >= hs.snapT[i] {
		hs.snaps[i], hs.snapT[i] = h.Clone(), ts
	}
	if hs.earlyT == 0 || ts < hs.earlyT {
		hs.earliest, hs.earlyT = h.Clone(), ts
	}
}

// SeriesData is one series as the views read it: per-bucket values over
// the Dataset's columns, NaN where the bucket had no point.
type SeriesData struct {
	Metric string
	Unit   string
	Labels Labels
	Kind   Kind
	// Mean and Max per bucket (gauges).
	Mean, Max []float64
	// Inc is the increase per bucket (sums); Total their sum and Last
	// the last reading (cumulative) in the window.
	Inc   []float64
	Total float64
	Last  float64
	// LastMean is the mean of the last bucket with data (gauges).
	LastMean float64
	// Hist is the distribution over the window (histograms).
	Hist *Hist
}

// Dataset is a Builder's content over its window, ready to render.
type Dataset struct {
	Source      string
	From, To    time.Time
	Step        time.Duration
	Columns     int
	Resolution  time.Duration // the input's own, when known
	Points      int64
	Dropped     int64
	Live        bool
	HistNote    string
	Series      []*SeriesData
	byMetric    map[string][]*SeriesData
	GeneratedAt time.Time
}

// ByMetric returns the series of one metric, in a stable order.
func (d *Dataset) ByMetric(name string) []*SeriesData { return d.byMetric[name] }

// Time returns the start of column i.
func (d *Dataset) Time(i int) time.Time { return d.From.Add(time.Duration(i) * d.Step) }

// Dataset snapshots the Builder. In live mode the window ends with the
// latest bucket seen (or now, when later) and spans the ring.
func (b *Builder) Dataset(source string, now time.Time) *Dataset {
	first := int64(0)
	if b.live {
		last := max(b.latest, (now.UnixNano()-b.origin)/b.step)
		first = last - int64(b.n) + 1
	}
	d := &Dataset{
		Source: source, Step: time.Duration(b.step), Columns: b.n,
		From:       time.Unix(0, b.origin+first*b.step).UTC(),
		Resolution: time.Duration(b.minInterval), Points: b.points, Dropped: b.dropped,
		Live: b.live, byMetric: map[string][]*SeriesData{}, GeneratedAt: now.UTC(),
	}
	d.To = d.From.Add(time.Duration(b.n) * d.Step)
	if !b.live {
		d.To = time.Unix(0, b.to).UTC()
	}
	keys := make([]string, 0, len(b.series))
	for k := range b.series {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		s := b.series[k]
		sd := &SeriesData{Metric: s.metric, Unit: s.unit, Labels: s.labels, Kind: s.kind, Last: math.NaN(), LastMean: math.NaN()}
		if s.hist != nil {
			sd.Hist = b.windowHist(s.hist, first)
			if sd.Hist == nil {
				continue
			}
		} else if !b.fill(s, sd, first) {
			continue
		}
		d.Series = append(d.Series, sd)
		d.byMetric[s.metric] = append(d.byMetric[s.metric], sd)
	}
	return d
}

// fill computes a series' columns; false when it has no point in the window.
func (b *Builder) fill(s *series, sd *SeriesData, first int64) bool {
	any := false
	switch s.kind {
	case KindGauge:
		sd.Mean, sd.Max = nanSlice(b.n), nanSlice(b.n)
	default:
		sd.Inc = nanSlice(b.n)
	}
	havePrev, prev := s.hasBase && !b.live, s.baseV
	for c := 0; c < b.n; c++ {
		bi := first + int64(c)
		i := int(((bi % int64(b.n)) + int64(b.n)) % int64(b.n))
		if s.tag[i] != bi || s.cnt[i] == 0 {
			continue
		}
		any = true
		switch s.kind {
		case KindGauge:
			sd.Mean[c] = s.sum[i] / float64(s.cnt[i])
			sd.Max[c] = s.max[i]
			sd.LastMean = sd.Mean[c]
		case KindDelta:
			sd.Inc[c] = s.sum[i]
			sd.Total += s.sum[i]
		case KindCumulative:
			base := s.firstV[i]
			if havePrev {
				base = prev
			}
			inc := s.lastV[i] - base
			if inc < 0 {
				// The counter restarted (a new process, a driver reload):
				// count what it gained since.
				inc = s.lastV[i]
			}
			sd.Inc[c] = inc
			sd.Total += inc
			prev, havePrev = s.lastV[i], true
			sd.Last = s.lastV[i]
		}
	}
	return any
}

// windowHist is a histogram series' distribution over the window.
func (b *Builder) windowHist(hs *histSeries, firstBucket int64) *Hist {
	firstSlot := firstBucket * b.step / b.histStep
	if !b.live {
		firstSlot = 0
	}
	var acc Hist
	var latest, base *Hist
	var latestT, baseT int64
	for i, tag := range hs.tags {
		if tag < 0 || tag < firstSlot-1 {
			continue
		}
		h := &hs.snaps[i]
		if hs.delta {
			if tag >= firstSlot {
				acc = acc.Add(*h)
			}
			continue
		}
		if latest == nil || hs.snapT[i] > latestT {
			latest, latestT = h, hs.snapT[i]
		}
		if base == nil || hs.snapT[i] < baseT {
			base, baseT = h, hs.snapT[i]
		}
	}
	if hs.delta {
		if acc.Count == 0 {
			return nil
		}
		return &acc
	}
	if latest == nil {
		return nil
	}
	if !b.live {
		base, baseT = &hs.earliest, hs.earlyT
	}
	if latestT == baseT {
		// One snapshot only: show what the counter holds since its start.
		c := latest.Clone()
		return &c
	}
	d := latest.Sub(*base)
	if d.Count <= 0 {
		return nil
	}
	return &d
}

func nanSlice(n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

// Expire forgets the series whose latest point is older than before, so
// that a live Builder's series cap is not used up by series that stopped
// (finished pods, ranks of a job that ended).
func (b *Builder) Expire(before time.Time) {
	cut := before.UnixNano()
	for k, s := range b.series {
		if s.prevT < cut {
			delete(b.series, k)
		}
	}
}
