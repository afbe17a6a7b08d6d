package benchmarkreceiver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/acceltel/acceltel/plugins/plugintest"
	"github.com/acceltel/acceltel/receivers/benchmarkreceiver/internal/metadata"
)

// point is one data point, flattened for assertions.
type point struct {
	unit  string
	value float64
	attrs map[string]any
}

func points(sink *consumertest.MetricsSink, name string) []point {
	var out []point
	for _, md := range sink.AllMetrics() {
		rms := md.ResourceMetrics()
		for i := range rms.Len() {
			sms := rms.At(i).ScopeMetrics()
			for j := range sms.Len() {
				ms := sms.At(j).Metrics()
				for k := range ms.Len() {
					m := ms.At(k)
					if m.Name() != name {
						continue
					}
					var dps pmetric.NumberDataPointSlice
					if m.Type() == pmetric.MetricTypeSum {
						dps = m.Sum().DataPoints()
					} else {
						dps = m.Gauge().DataPoints()
					}
					for l := range dps.Len() {
						dp := dps.At(l)
						v := dp.DoubleValue()
						if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
							v = float64(dp.IntValue())
						}
						out = append(out, point{m.Unit(), v, dp.Attributes().AsRaw()})
					}
				}
			}
		}
	}
	return out
}

// failures returns the latest count of failures for reason.
func failures(sink *consumertest.MetricsSink, reason string) float64 {
	n := 0.0
	for _, p := range points(sink, "acceltel.bench.failures") {
		if p.attrs["error.type"] == reason {
			n = p.value
		}
	}
	return n
}

func testConfig(plugins map[string]PluginConfig, benches ...BenchmarkConfig) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.Plugins, cfg.Benchmarks = plugins, benches
	cfg.Schedule = ScheduleConfig{Interval: time.Hour, RunAtStart: true}
	cfg.Timeout, cfg.StartTimeout = 30*time.Second, 20*time.Second
	cfg.RestartBackoff = BackoffConfig{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	return cfg
}

func start(t *testing.T, cfg *Config) (*consumertest.MetricsSink, *observer.ObservedLogs) {
	t.Helper()
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zap.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	sink := new(consumertest.MetricsSink)
	r, err := NewFactory().CreateMetrics(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		begin := time.Now()
		require.NoError(t, r.Shutdown(ctx))
		assert.Less(t, time.Since(begin), 9*time.Second, "shutdown waited on a plugin")
	})
	return sink, logs
}

func TestHostbenchEndToEnd(t *testing.T) {
	bin, sum := plugintest.Build(t, plugintest.Hostbench)
	cfg := testConfig(map[string]PluginConfig{"host": {Path: bin, SHA256: sum}},
		BenchmarkConfig{Plugin: "host", Name: "memory.stream", Parameters: map[string]any{"size": "2MiB", "duration": "20ms", "threads": "2"}},
		BenchmarkConfig{Plugin: "host", Name: "cpu.fma", Parameters: map[string]any{"duration": "20ms", "threads": "2"}})
	sink, _ := start(t, cfg)

	require.Eventually(t, func() bool { return len(points(sink, "acceltel.bench.cpu.flops")) == 2 }, time.Minute, 50*time.Millisecond)
	bw := points(sink, "acceltel.bench.memory.bandwidth")
	require.Len(t, bw, 4)
	for _, p := range bw {
		assert.Equal(t, "By/s", p.unit)
		assert.Greater(t, p.value, 1e7)
		assert.Equal(t, "host", p.attrs["acceltel.bench.plugin"])
		assert.Equal(t, "memory.stream", p.attrs["acceltel.bench.benchmark"])
		assert.Contains(t, []any{"copy", "scale", "add", "triad"}, p.attrs["bench.kernel"])
	}
	assert.Equal(t, "{flop}/s", points(sink, "acceltel.bench.cpu.flops")[0].unit)
	eff := points(sink, "acceltel.bench.efficiency")
	require.Len(t, eff, 1, "only the all-core FMA figure has a peak")
	assert.Greater(t, eff[0].value, 0.0)
	assert.Len(t, points(sink, "acceltel.bench.run.duration"), 2)
	av := points(sink, "acceltel.receiver.available")
	assert.Equal(t, 1.0, av[len(av)-1].value)
	assert.Empty(t, points(sink, "acceltel.bench.failures"))
}

func TestWrongChecksumRefused(t *testing.T) {
	bin, _ := plugintest.Build(t, plugintest.Misbehave)
	cfg := testConfig(map[string]PluginConfig{"m": {Path: bin, SHA256: strings.Repeat("ab", 32)}},
		BenchmarkConfig{Plugin: "m", Name: "ok"})
	sink, logs := start(t, cfg)
	require.Eventually(t, func() bool { return failures(sink, "checksum") == 1 }, 30*time.Second, 20*time.Millisecond)
	entries := logs.FilterMessage("benchmark run failed").All()
	require.NotEmpty(t, entries)
	assert.Contains(t, entries[0].ContextMap()["error"], "plugin checksum mismatch")
	assert.Empty(t, points(sink, "acceltel.bench.test.value"))
}

func TestHungPluginTimesOut(t *testing.T) {
	bin, sum := plugintest.Build(t, plugintest.Misbehave)
	cfg := testConfig(map[string]PluginConfig{"m": {Path: bin, SHA256: sum}}, BenchmarkConfig{Plugin: "m", Name: "hang"})
	cfg.Timeout = 300 * time.Millisecond
	sink, logs := start(t, cfg)
	require.Eventually(t, func() bool { return failures(sink, "timeout") == 1 }, 30*time.Second, 20*time.Millisecond, "%v", logs.All())
	assert.Contains(t, logs.FilterMessage("benchmark run failed").All()[0].ContextMap()["error"], "no result within the timeout of 300ms")
}

func TestCrashedPluginRestarted(t *testing.T) {
	bin, sum := plugintest.Build(t, plugintest.Misbehave)
	cfg := testConfig(map[string]PluginConfig{"m": {Path: bin, SHA256: sum}},
		BenchmarkConfig{Plugin: "m", Name: "crash"}, BenchmarkConfig{Plugin: "m", Name: "ok"})
	sink, logs := start(t, cfg)
	// crash kills the process mid-run; ok, right after, needs a new one.
	require.Eventually(t, func() bool {
		for _, p := range points(sink, "acceltel.bench.test.value") {
			if p.value == 42 {
				return true
			}
		}
		return false
	}, 30*time.Second, 20*time.Millisecond)
	assert.Equal(t, 1.0, failures(sink, "crash"))
	assert.Len(t, logs.FilterMessage("plugin started").All(), 2)
	// The measurement sent before the crash was kept, and the peak gave an efficiency.
	assert.Equal(t, 1.0, points(sink, "acceltel.bench.test.value")[0].value)
	assert.Equal(t, 0.5, points(sink, "acceltel.bench.efficiency")[0].value)
}

func TestMissingCapabilitySkippedOnce(t *testing.T) {
	saved := detectCapabilities
	detectCapabilities = func() map[string]bool { return map[string]bool{} }
	t.Cleanup(func() { detectCapabilities = saved })
	bin, sum := plugintest.Build(t, plugintest.Misbehave)
	cfg := testConfig(map[string]PluginConfig{"m": {Path: bin, SHA256: sum}},
		BenchmarkConfig{Plugin: "m", Name: "needs_cuda"}, BenchmarkConfig{Plugin: "m", Name: "ok", Parameters: map[string]any{"value": "7"}})
	cfg.Schedule.Interval = 50 * time.Millisecond
	sink, logs := start(t, cfg)
	require.Eventually(t, func() bool { return len(points(sink, "acceltel.bench.test.value")) >= 3 }, 30*time.Second, 20*time.Millisecond)
	for _, p := range points(sink, "acceltel.bench.test.value") {
		assert.Equal(t, 7.0, p.value, "needs_cuda must not have run")
	}
	skipped := logs.FilterMessage("benchmark skipped").All()
	require.Len(t, skipped, 1)
	assert.Contains(t, skipped[0].ContextMap()["error"], `needs "cuda"`)
	assert.Empty(t, points(sink, "acceltel.bench.failures"))
}

func TestIdleWithoutBenchmarks(t *testing.T) {
	sink, _ := start(t, createDefaultConfig().(*Config))
	av := points(sink, "acceltel.receiver.available")
	require.Len(t, av, 1)
	assert.Equal(t, 0.0, av[0].value)
}
