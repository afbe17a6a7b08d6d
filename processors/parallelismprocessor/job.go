package parallelismprocessor // import "github.com/acceltel/acceltel/processors/parallelismprocessor"

import (
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/acceltel/acceltel/internal/planner"
)

// job is the state kept for one training job.
type job struct {
	key                      string
	id, k8sJob, k8sNamespace string // identity put on the plan metrics' resource

	spec     spec
	hasSpec  bool
	seen     time.Time
	hosts    map[string]time.Time
	ranks    map[uint64]time.Time // hashes of the resources whose attributes were parsed
	series   map[uint64]*series
	steps    stepWindow
	pending  float64 // step samples since the last plan
	durating bool    // the job sends ml.train.step.duration, so ml.train.tokens is not needed

	// scale is the job's calibration of the time model (compute and
	// communication factors); factor is its overall effect on the current
	// layout: calibrated over uncalibrated predicted step time.
	scale  planner.Scale
	factor float64

	// The last search, reused while its inputs stay the same: the hardware
	// figures are rounded so that noise in a measured bandwidth does not
	// rerun it every interval.
	planKey planKey
	best    *planner.Evaluation
	planErr error

	problem     string         // why the job was last found unplannable, as logged
	recommended planner.Layout // the recommendation last logged; zero when none
}

// series is one rank's cumulative (or delta) step or token series; it
// turns cumulative points into per-interval samples.
type series struct {
	start, ts pcommon.Timestamp
	count     uint64
	sum       float64
	seen      time.Time
}

func newJob(key string, now time.Time) *job {
	return &job{
		key:    key,
		seen:   now,
		hosts:  make(map[string]time.Time),
		ranks:  make(map[uint64]time.Time),
		series: make(map[uint64]*series),
		factor: 1,
	}
}

// setSpec records the job's attributes; a changed shape or layout restarts
// the step samples, which belong to the old one. The calibration stays: it
// describes the job's software and hardware, which a relaunch keeps.
func (j *job) setSpec(s spec) {
	if j.hasSpec && s == j.spec {
		return
	}
	if j.hasSpec {
		j.steps.reset()
		j.pending = 0
		clear(j.series)
		clear(j.ranks) // so that a rank still on the old attributes is parsed again
	}
	j.spec, j.hasSpec = s, true
}

func (j *job) gpusPerNode(cfg *Config) int {
	if j.spec.gpusPerNode > 0 {
		return j.spec.gpusPerNode
	}
	return cfg.GPUsPerNode
}

// touch records that the job reported from a host.
func (j *job) touch(host string, now time.Time, id, k8sJob, ns string) {
	j.seen = now
	j.hosts[host] = now
	j.id, j.k8sJob, j.k8sNamespace = id, k8sJob, ns
}

func (j *job) knows(rank uint64) bool {
	_, ok := j.ranks[rank]
	return ok
}

// addSteps records n steps that took v seconds each on average.
func (j *job) addSteps(v, n float64, window int) {
	if !(v > 0) || !(n > 0) {
		return
	}
	j.steps.add(sample{v, n}, window)
	j.pending += n
}

// tokensPerStep is how ml.train.tokens turns into steps.
func (j *job) tokensPerStep() float64 {
	return float64(j.spec.model.GlobalBatch) * float64(j.spec.model.SeqLen)
}

func (j *job) expire(now time.Time, ttl time.Duration) {
	for h, t := range j.hosts {
		if now.Sub(t) > ttl {
			delete(j.hosts, h)
		}
	}
	for r, t := range j.ranks {
		if now.Sub(t) > ttl {
			delete(j.ranks, r)
		}
	}
	for k, s := range j.series {
		if now.Sub(s.seen) > ttl {
			delete(j.series, k)
		}
	}
}

type sample struct{ v, w float64 }

// stepWindow keeps the most recent step samples, each a step time with the
// number of steps it stands for.
type stepWindow struct {
	buf  []sample
	next int
}

func (w *stepWindow) add(s sample, size int) {
	if len(w.buf) < size {
		w.buf = append(w.buf, s)
		return
	}
	w.buf[w.next] = s
	w.next = (w.next + 1) % len(w.buf)
}

func (w *stepWindow) reset() { w.buf, w.next = w.buf[:0], 0 }

// median is the weighted median: the step time below which half of the
// recent steps fall. Unlike a mean it ignores the odd slow step (a
// checkpoint save, an evaluation pass) that no layout would change.
func (w *stepWindow) median(scratch []sample) (float64, []sample) {
	if len(w.buf) == 0 {
		return 0, scratch
	}
	scratch = append(scratch[:0], w.buf...)
	slices.SortFunc(scratch, func(a, b sample) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	var total float64
	for _, s := range scratch {
		total += s.w
	}
	var acc float64
	for _, s := range scratch {
		if acc += s.w; acc >= total/2 {
			return s.v, scratch
		}
	}
	return scratch[len(scratch)-1].v, scratch
}
