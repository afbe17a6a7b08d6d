package benchmarkreceiver // import "github.com/acceltel/acceltel/receivers/benchmarkreceiver"

import (
	"context"
	"maps"
	"os"
	"regexp"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/plugins/sdk"
	"github.com/acceltel/acceltel/receivers/benchmarkreceiver/internal/metadata"
)

// detectCapabilities says what the host offers plugins. cuda: an NVIDIA
// kernel driver is loaded (what libcuda needs); a test replaces it.
var detectCapabilities = func() map[string]bool {
	_, err := os.Stat("/proc/driver/nvidia/version")
	return map[string]bool{"cuda": err == nil}
}

type failureKey struct {
	plugin, benchmark string
	reason            metadata.AttributeReason
}

type benchReceiver struct {
	cfg  *Config
	set  receiver.Settings
	next consumer.Metrics
	caps map[string]bool

	mu        sync.Mutex // guards the builder and the state below
	mb        *metadata.MetricsBuilder
	failures  map[failureKey]int64
	available map[string]bool // by plugin
	host      component.Host

	cancel context.CancelFunc
	done   chan struct{}
}

func newReceiver(cfg *Config, set receiver.Settings, next consumer.Metrics) *benchReceiver {
	return &benchReceiver{cfg: cfg, set: set, next: next,
		mb: metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, set), failures: map[failureKey]int64{}, available: map[string]bool{}}
}

func (r *benchReceiver) Start(_ context.Context, host component.Host) error {
	r.host = host
	r.caps = detectCapabilities()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	for _, name := range slices.Sorted(maps.Keys(r.cfg.Plugins)) {
		var benches []BenchmarkConfig
		for _, b := range r.cfg.Benchmarks {
			if b.Plugin == name {
				benches = append(benches, b)
			}
		}
		if len(benches) == 0 {
			r.set.Logger.Warn("plugin has no benchmarks configured; not starting it", zap.String("plugin", name))
			continue
		}
		s := newSupervisor(r, name, r.cfg.Plugins[name], benches)
		wg.Go(func() { s.loop(ctx) })
	}
	if len(r.cfg.Benchmarks) == 0 {
		r.set.Logger.Info("no benchmarks configured; the benchmark receiver stays idle")
		r.emit(nil)
	}
	go func() { wg.Wait(); close(r.done) }()
	return nil
}

// Shutdown stops the schedule and kills the plugins; it waits for them no
// longer than ctx allows, so a wedged plugin cannot hold the collector.
func (r *benchReceiver) Shutdown(ctx context.Context) error {
	if r.cancel == nil {
		return nil
	}
	r.cancel()
	select {
	case <-r.done:
	case <-ctx.Done():
		r.set.Logger.Warn("benchmark plugins still stopping at shutdown deadline")
	}
	return nil
}

func (r *benchReceiver) report(ev *componentstatus.Event) {
	if r.host != nil {
		componentstatus.ReportStatus(r.host, ev)
	}
}

// measurementName keeps plugin-chosen names inside the acceltel.bench.*
// namespace and clear of the receiver's own metrics.
var measurementName = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)

var reservedNames = map[string]bool{"efficiency": true, "failures": true, "run.duration": true}

func validMeasurement(m sdk.Measurement) bool {
	return measurementName.MatchString(m.Name) && !reservedNames[m.Name] && m.Unit != ""
}

// run is the outcome of one benchmark run, successful or not.
type run struct {
	plugin, benchmark string
	measurements      []sdk.Measurement
	duration          time.Duration
	failed            bool
	reason            metadata.AttributeReason
}

// emit sends the measurements of one run (if any) with the receiver's own
// metrics: failure counts, run duration, availability.
func (r *benchReceiver) emit(res *run) {
	r.mu.Lock()
	now := pcommon.NewTimestampFromTime(time.Now())
	var ms []sdk.Measurement
	if res != nil {
		if res.failed {
			r.failures[failureKey{res.plugin, res.benchmark, res.reason}]++
		} else {
			r.mb.RecordAcceltelBenchRunDurationDataPoint(now, res.duration.Seconds(), res.plugin, res.benchmark)
		}
		for _, m := range res.measurements {
			if !validMeasurement(m) {
				r.set.Logger.Error("plugin sent an invalid measurement (names are lower-case and dot-separated, units are UCUM); dropped",
					zap.String("plugin", res.plugin), zap.String("benchmark", res.benchmark), zap.String("name", m.Name), zap.String("unit", m.Unit))
				r.failures[failureKey{res.plugin, res.benchmark, metadata.AttributeReasonInvalid}]++
				continue
			}
			ms = append(ms, m)
			if m.Peak > 0 {
				r.mb.RecordAcceltelBenchEfficiencyDataPoint(now, m.Value/m.Peak, res.plugin, res.benchmark, m.Name)
			}
		}
	}
	for k, v := range r.failures {
		r.mb.RecordAcceltelBenchFailuresDataPoint(now, v, k.plugin, k.benchmark, k.reason)
	}
	avail := int64(0)
	for _, ok := range r.available {
		if ok {
			avail = 1
		}
	}
	r.mb.RecordAcceltelReceiverAvailableDataPoint(now, avail, metadata.Type.String())
	md := r.mb.Emit()
	r.mu.Unlock()

	if len(ms) > 0 {
		appendGauges(md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics(), now, res, ms)
	}
	if err := r.next.ConsumeMetrics(context.Background(), md); err != nil {
		r.set.Logger.Error("next consumer refused benchmark metrics", zap.Error(err))
	}
}

// appendGauges adds one gauge per measurement name: acceltel.bench.<name>.
func appendGauges(dst pmetric.MetricSlice, now pcommon.Timestamp, res *run, ms []sdk.Measurement) {
	byName := map[string]pmetric.Gauge{}
	for _, m := range ms {
		key := m.Name + "\x00" + m.Unit
		g, ok := byName[key]
		if !ok {
			metric := dst.AppendEmpty()
			metric.SetName("acceltel.bench." + m.Name)
			metric.SetUnit(m.Unit)
			metric.SetDescription("Measurement " + m.Name + " of a benchmark plugin.")
			g = metric.SetEmptyGauge()
			byName[key] = g
		}
		dp := g.DataPoints().AppendEmpty()
		dp.SetTimestamp(now)
		dp.SetDoubleValue(m.Value)
		attrs := dp.Attributes()
		for _, k := range slices.Sorted(maps.Keys(m.Attributes)) {
			attrs.PutStr(k, m.Attributes[k])
		}
		attrs.PutStr("acceltel.bench.plugin", res.plugin)
		attrs.PutStr("acceltel.bench.benchmark", res.benchmark)
	}
}
