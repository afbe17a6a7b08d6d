package parallelismprocessor // import "github.com/acceltel/acceltel/processors/parallelismprocessor"

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/processors/parallelismprocessor/internal/metadata"
)

var reasons = []metadata.AttributeReason{
	metadata.AttributeReasonMissingAttributes,
	metadata.AttributeReasonInvalidInput,
	metadata.AttributeReasonUnknownGpu,
}

type parallelismProcessor struct {
	cfg    *Config
	logger *zap.Logger
	now    func() time.Time
	seed   maphash.Seed

	mu       sync.Mutex // ConsumeMetrics may be called concurrently
	mb       *metadata.MetricsBuilder
	jobs     map[string]*job
	hosts    map[string]*hostHW
	lastTick time.Time
	scratch  []sample
	keys     []string

	warnedNoID, warnedFull bool
}

func newProcessor(cfg *Config, set processor.Settings) *parallelismProcessor {
	return &parallelismProcessor{
		cfg:    cfg,
		logger: set.Logger,
		now:    time.Now,
		seed:   maphash.MakeSeed(),
		mb:     metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, set),
		jobs:   make(map[string]*job),
		hosts:  make(map[string]*hostHW),
	}
}

// processMetrics passes every metric through and, once per interval,
// appends the plan metrics to the batch at hand. Appending to the batch
// that crosses the interval rather than exporting from a timer of our own
// keeps the processor a plain pass-through: no goroutine, nothing emitted
// when nothing flows, and the downstream's errors and back-pressure reach
// the sender of the batch as they would without us. The price is that
// planning runs inside ConsumeMetrics; the search is cached per job and
// reruns only when its inputs change, so most intervals cost one layout
// evaluation per job.
func (p *parallelismProcessor) processMetrics(_ context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		p.ingest(rms.At(i), now)
	}
	if p.lastTick.IsZero() {
		p.lastTick = now
	}
	if now.Sub(p.lastTick) < p.cfg.Interval {
		return md, nil
	}
	p.lastTick = now
	p.tick(now)
	p.mb.Emit().ResourceMetrics().MoveAndAppendTo(rms)
	return md, nil
}

// tick drops what stopped reporting, plans every job that has enough new
// step samples, and records the plan metrics in the builder.
func (p *parallelismProcessor) tick(now time.Time) {
	ttl := p.cfg.JobTTL
	for k, j := range p.jobs {
		if now.Sub(j.seen) > ttl {
			p.logger.Debug("parallelism: job stopped reporting; dropped", zap.String("job", k), zap.Duration("job_ttl", ttl))
			delete(p.jobs, k)
			continue
		}
		j.expire(now, ttl)
	}
	p.expireHosts(now)
	if len(p.jobs) == 0 {
		return
	}
	if len(p.jobs) < p.cfg.MaxJobs {
		p.warnedFull = false
	}
	// Sorted, so that the output and the log are in a stable order.
	p.keys = p.keys[:0]
	for k := range p.jobs {
		p.keys = append(p.keys, k)
	}
	slices.Sort(p.keys)
	ts := pcommon.NewTimestampFromTime(now)
	incomplete := make(map[metadata.AttributeReason]int64, len(reasons))
	for _, k := range p.keys {
		if r := p.planJob(p.jobs[k], now, ts); r != 0 {
			incomplete[r]++
		}
	}
	// Every reason, zeros included, so that a fixed job's series drops to 0
	// instead of going stale.
	for _, r := range reasons {
		p.mb.RecordAcceltelPlanJobsIncompleteDataPoint(ts, incomplete[r], r)
	}
	p.mb.EmitForResource()
}
