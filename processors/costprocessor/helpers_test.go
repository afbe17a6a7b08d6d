package costprocessor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

var t0 = time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)

func ts(d time.Duration) pcommon.Timestamp { return pcommon.NewTimestampFromTime(t0.Add(d)) }

// gpuRes appends a resource following the input contract of README.md.
func gpuRes(md pmetric.Metrics, attrs map[string]string) pmetric.MetricSlice {
	rm := md.ResourceMetrics().AppendEmpty()
	for k, v := range attrs {
		rm.Resource().Attributes().PutStr(k, v)
	}
	return rm.ScopeMetrics().AppendEmpty().Metrics()
}

func gauge(ms pmetric.MetricSlice, name string, at time.Duration, v float64, attrs map[string]string) {
	m := ms.AppendEmpty()
	m.SetName(name)
	dp := m.SetEmptyGauge().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts(at))
	dp.SetDoubleValue(v)
	for k, val := range attrs {
		dp.Attributes().PutStr(k, val)
	}
}

func counter(ms pmetric.MetricSlice, name string, start, at time.Duration, v float64) {
	m := ms.AppendEmpty()
	m.SetName(name)
	s := m.SetEmptySum()
	s.SetIsMonotonic(true)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := s.DataPoints().AppendEmpty()
	dp.SetStartTimestamp(ts(start))
	dp.SetTimestamp(ts(at))
	dp.SetDoubleValue(v)
}

type harness struct {
	t    *testing.T
	proc processor.Metrics
	sink *consumertest.MetricsSink
	logs *observer.ObservedLogs
}

func newHarness(t *testing.T, cfg *Config, host component.Host) *harness {
	t.Helper()
	require.NoError(t, cfg.Validate())
	core, logs := observer.New(zapcore.InfoLevel)
	set := processortest.NewNopSettings(typ)
	set.Logger = zap.New(core)
	sink := new(consumertest.MetricsSink)
	p, err := NewFactory().CreateMetrics(context.Background(), set, cfg, sink)
	require.NoError(t, err)
	if host == nil {
		host = extHost{}
	}
	require.NoError(t, p.Start(context.Background(), host))
	return &harness{t: t, proc: p, sink: sink, logs: logs}
}

func (h *harness) consume(md pmetric.Metrics) pmetric.Metrics {
	h.t.Helper()
	h.sink.Reset()
	require.NoError(h.t, h.proc.ConsumeMetrics(context.Background(), md))
	all := h.sink.AllMetrics()
	require.Len(h.t, all, 1)
	return all[0]
}

func (h *harness) stop() { require.NoError(h.t, h.proc.Shutdown(context.Background())) }

type extHost struct {
	ext map[component.ID]component.Component
}

func (h extHost) GetExtensions() map[component.ID]component.Component { return h.ext }

// point is one output data point, flattened for assertions.
type point struct {
	hwid  string
	attrs map[string]string
	start pcommon.Timestamp
	value float64
}

// points returns the output points of one metric.
func points(md pmetric.Metrics, name string) []point {
	var out []point
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		hwid := ""
		if hw, ok := rms.At(i).Resource().Attributes().Get("hw.id"); ok {
			hwid = hw.AsString()
		}
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Name() != name {
					continue
				}
				dps := numberPoints(m)
				for p := 0; p < dps.Len(); p++ {
					dp := dps.At(p)
					a := map[string]string{}
					dp.Attributes().Range(func(k string, v pcommon.Value) bool { a[k] = v.AsString(); return true })
					out = append(out, point{hwid: hwid, attrs: a, start: dp.StartTimestamp(), value: numberValue(dp)})
				}
			}
		}
	}
	return out
}

func total(ps []point, match func(point) bool) float64 {
	var s float64
	for _, p := range ps {
		if match == nil || match(p) {
			s += p.value
		}
	}
	return s
}

func testConfig(prices ...PriceRule) *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxGap = 2 * time.Hour
	cfg.Prices = prices
	return cfg
}

func processortestSettings() processor.Settings { return processortest.NewNopSettings(typ) }
