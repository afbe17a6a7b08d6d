package costprocessor // import "github.com/acceltel/acceltel/processors/costprocessor"

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/processors/costprocessor/internal/costmodel"
	"github.com/acceltel/acceltel/processors/costprocessor/internal/metadata"
)

type costProcessor struct {
	cfg       *Config
	id        component.ID
	logger    *zap.Logger
	version   string
	book      *costmodel.PriceBook
	out       outputs
	threshold float64
	maxGap    int64

	mu             sync.Mutex
	st             *state
	client         storage.Client
	lastCheckpoint int64
	// logged remembers the GPUs and slices already reported, so each gets
	// one log line per process rather than one per interval.
	logged map[string]bool
}

func newCostProcessor(set processor.Settings, cfg *Config) (*costProcessor, error) {
	rules, err := cfg.rules()
	if err != nil {
		return nil, err
	}
	return &costProcessor{
		cfg:       cfg,
		id:        set.ID,
		logger:    set.Logger,
		version:   set.BuildInfo.Version,
		book:      costmodel.NewPriceBook(rules),
		out:       newOutputs(set, cfg.Metrics),
		threshold: cfg.IdleUtilizationThreshold,
		maxGap:    cfg.MaxGap.Nanoseconds(),
		st:        newState(),
		logged:    map[string]bool{},
	}, nil
}

func (p *costProcessor) start(ctx context.Context, host component.Host) error {
	if len(p.cfg.Prices) == 0 {
		p.logger.Info("cost processor has an empty price book: GPUs it sees are reported as unpriced, none is priced")
	}
	if p.cfg.Storage == nil {
		p.logger.Info("cost processor has no storage extension: cumulative costs are kept in memory only and start again from zero, with a new start time, after a restart")
		return nil
	}
	ext, ok := host.GetExtensions()[*p.cfg.Storage]
	if !ok {
		return fmt.Errorf("storage: extension %s is not configured", p.cfg.Storage)
	}
	se, ok := ext.(storage.Extension)
	if !ok {
		return fmt.Errorf("storage: extension %s is not a storage extension", p.cfg.Storage)
	}
	client, err := se.GetClient(ctx, component.KindProcessor, p.id, "")
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.client = client
	return p.load(ctx)
}

func (p *costProcessor) shutdown(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil {
		return nil
	}
	err := p.save(ctx)
	err = errors.Join(err, p.client.Close(ctx))
	p.client = nil
	return err
}

func (p *costProcessor) processMetrics(ctx context.Context, md pmetric.Metrics) (pmetric.Metrics, error) {
	obs := parse(md)
	if len(obs.gpus) == 0 && len(obs.tokens) == 0 {
		return md, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	rms := md.ResourceMetrics()
	var newest int64
	for _, hwid := range obs.order {
		g := obs.gpus[hwid]
		p.bill(g, rms)
		newest = max(newest, int64(g.ts))
	}
	for i := range obs.tokens {
		p.tokens(&obs.tokens[i], rms)
		newest = max(newest, int64(obs.tokens[i].ts))
	}
	if p.client != nil && newest-p.lastCheckpoint >= p.cfg.CheckpointInterval.Nanoseconds() {
		p.st.evict(newest, p.cfg.StateTTL.Nanoseconds())
		if err := p.save(ctx); err != nil {
			// The data is fine; only restart safety is at risk, so say so and
			// keep the pipeline flowing.
			p.logger.Warn("could not checkpoint cost state", zap.Error(err))
		} else {
			p.lastCheckpoint = newest
		}
	} else if p.client == nil && newest-p.lastCheckpoint >= p.cfg.StateTTL.Nanoseconds() {
		p.st.evict(newest, p.cfg.StateTTL.Nanoseconds())
		p.lastCheckpoint = newest
	}
	return md, nil
}

func (p *costProcessor) rateKind(attrs pcommon.Map) (costmodel.RateKind, string, bool) {
	raw := p.cfg.DefaultRateKind
	if a := p.cfg.RateKindAttribute; a != "" {
		if v, ok := attrs.Get(a); ok {
			raw = v.AsString()
		}
	}
	k, ok := parseRateKind(raw)
	return k, raw, ok
}

// outResource appends the GPU's output resource: its own attributes, less
// those that belong to a pod or a slice, which go on the data points.
func (p *costProcessor) outResource(rms pmetric.ResourceMetricsSlice, res pcommon.Resource) pmetric.MetricSlice {
	rm := rms.AppendEmpty()
	res.Attributes().CopyTo(rm.Resource().Attributes())
	for _, k := range holderKeys {
		rm.Resource().Attributes().Remove(k)
	}
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	sm.Scope().SetVersion(p.version)
	return sm.Metrics()
}

func (p *costProcessor) logOnce(key, msg string, fields ...zap.Field) {
	if p.logged[key] {
		return
	}
	p.logged[key] = true
	p.logger.Warn(msg, fields...)
}
