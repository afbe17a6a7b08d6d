package nvmlreceiver

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/plogtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/acceltel/acceltel/receivers/nvmlreceiver/internal/metadata"
)

func xidEvent(dev nvml.Device, code uint64) nvml.EventData {
	return nvml.EventData{Device: dev, EventType: nvml.EventTypeXidCriticalError, EventData: code,
		GpuInstanceId: noInstance, ComputeInstanceId: noInstance}
}

// allLogs merges what the sink received into one plog.Logs.
func allLogs(sink *consumertest.LogsSink) plog.Logs {
	out := plog.NewLogs()
	for _, ld := range sink.AllLogs() {
		ld.ResourceLogs().MoveAndAppendTo(out.ResourceLogs())
	}
	return out
}

// fixTimestamps keeps the golden file stable.
func fixTimestamps(ld plog.Logs) {
	for i := 0; i < ld.ResourceLogs().Len(); i++ {
		lrs := ld.ResourceLogs().At(i).ScopeLogs().At(0).LogRecords()
		for k := 0; k < lrs.Len(); k++ {
			lrs.At(k).SetTimestamp(1_000_000)
			lrs.At(k).SetObservedTimestamp(1_000_000)
		}
	}
}

// TestXIDLogRecords: each XID event becomes a log record on its GPU's
// resource (with its pod), severity by the XID's class, and the counter
// still counts.
func TestXIDLogRecords(t *testing.T) {
	n := h100Node()
	cfg := createDefaultConfig().(*Config)
	cfg.PodResourcesSocket = ""
	core, _ := observer.New(zap.InfoLevel)
	set := receivertest.NewNopSettings(metadata.Type)
	set.Logger = zap.New(core)
	s := newScraper(cfg, set, func(string) nvml.Interface { return n.srv })
	sink := new(consumertest.LogsSink)
	require.NoError(t, s.setLogs(sink))
	s.pods = fakePods(map[string]podRef{n.devs[3].UUID: {pod: "train-3", namespace: "ml", container: "main"}})
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, s.shutdown(context.Background())) })

	before := time.Now()
	n.events <- xidEvent(n.devs[2], 79)
	n.events <- xidEvent(n.devs[2], 13)
	n.events <- xidEvent(n.devs[3], 48)
	mig := xidEvent(n.devs[3], 94)
	mig.GpuInstanceId, mig.ComputeInstanceId = 1, 0
	n.events <- mig
	n.events <- xidEvent(n.devs[3], 999)
	n.events <- nvml.EventData{Device: n.devs[4], EventType: nvml.EventTypeSingleBitEccError}
	require.Eventually(t, func() bool { return sink.LogRecordCount() == 5 }, 5*time.Second, 5*time.Millisecond)

	got := allLogs(sink)
	lr := got.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.GreaterOrEqual(t, lr.Timestamp().AsTime(), before.Truncate(time.Microsecond))
	assert.Equal(t, lr.Timestamp(), lr.ObservedTimestamp())
	fixTimestamps(got)
	path := filepath.Join("testdata", "xid_logs.yaml")
	if *update {
		require.NoError(t, golden.WriteLogs(t, path, got))
	}
	want, err := golden.ReadLogs(path)
	require.NoError(t, err)
	require.NoError(t, plogtest.CompareLogs(want, got,
		plogtest.IgnoreTimestamp(), plogtest.IgnoreObservedTimestamp(),
		plogtest.IgnoreResourceLogsOrder(), plogtest.IgnoreLogRecordsOrder()))

	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	xids := map[int64]int64{}
	dps := findMetric(t, md, n.devs[3].UUID, "nvidia.gpu.xid.errors")
	for i := 0; i < dps.Len(); i++ {
		x, _ := dps.At(i).Attributes().Get("nvidia.gpu.xid")
		xids[x.Int()] = dps.At(i).IntValue()
	}
	assert.Equal(t, map[int64]int64{48: 1, 94: 1, 999: 1}, xids)
}

func TestXIDSeverity(t *testing.T) {
	for code, want := range map[uint64]plog.SeverityNumber{
		13: plog.SeverityNumberWarn, 31: plog.SeverityNumberWarn, 43: plog.SeverityNumberWarn,
		48: plog.SeverityNumberError, 63: plog.SeverityNumberError, 64: plog.SeverityNumberError,
		74: plog.SeverityNumberError, 92: plog.SeverityNumberError, 94: plog.SeverityNumberError,
		79: plog.SeverityNumberFatal, 95: plog.SeverityNumberFatal, 119: plog.SeverityNumberFatal,
		120: plog.SeverityNumberFatal, 12345: plog.SeverityNumberWarn,
	} {
		lr := plog.NewLogRecord()
		fillXIDRecord(lr, "GPU-x", nvml.EventData{EventData: code, GpuInstanceId: noInstance, ComputeInstanceId: noInstance}, time.Now())
		assert.Equal(t, want, lr.SeverityNumber(), "XID %d", code)
		assert.NotEmpty(t, lr.SeverityText())
		_, hasGI := lr.Attributes().Get("nvidia.gpu.mig.gpu_instance_id")
		assert.False(t, hasGI)
	}
}

// countingNode counts the NVML session's lifecycle calls.
type countingNode struct {
	*fakeNode
	inits, shutdowns, eventSets atomic.Int64
}

func newCountingNode() *countingNode {
	c := &countingNode{fakeNode: h100Node()}
	c.srv.InitFunc = func() nvml.Return { c.inits.Add(1); return nvml.SUCCESS }
	c.srv.ShutdownFunc = func() nvml.Return { c.shutdowns.Add(1); return nvml.SUCCESS }
	create := c.srv.EventSetCreateFunc
	c.srv.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) { c.eventSets.Add(1); return create() }
	return c
}

func (c *countingNode) factoryConfig() *Config {
	cfg := createDefaultConfig().(*Config)
	cfg.PodResourcesSocket = ""
	cfg.CollectionInterval = 10 * time.Millisecond
	cfg.InitialDelay = 0
	return cfg
}

// TestSharedSession: a metrics and a logs pipeline on the same receiver
// share one NVML session and one XID goroutine; the event is both a log
// record and a count.
func TestSharedSession(t *testing.T) {
	n := newCountingNode()
	f := newFactory(func(string) nvml.Interface { return n.srv })
	cfg := n.factoryConfig()
	set := receivertest.NewNopSettings(metadata.Type)
	ctx := context.Background()
	metrics, logs := new(consumertest.MetricsSink), new(consumertest.LogsSink)
	mr, err := f.CreateMetrics(ctx, set, cfg, metrics)
	require.NoError(t, err)
	lr, err := f.CreateLogs(ctx, set, cfg, logs)
	require.NoError(t, err)
	assert.Same(t, mr, lr)

	host := &statusHost{}
	require.NoError(t, mr.Start(ctx, host))
	require.NoError(t, lr.Start(ctx, host))
	assert.Equal(t, int64(1), n.inits.Load())
	assert.Equal(t, int64(1), n.eventSets.Load())
	assert.Len(t, host.events, 2, "each pipeline's instance hears the status")

	n.events <- xidEvent(n.devs[6], 79)
	require.Eventually(t, func() bool { return logs.LogRecordCount() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		for _, md := range metrics.AllMetrics() {
			if dps := findMetric(t, md, n.devs[6].UUID, "nvidia.gpu.xid.errors"); dps.Len() == 1 {
				return true
			}
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)

	require.NoError(t, lr.Shutdown(ctx))
	require.NoError(t, mr.Shutdown(ctx))
	assert.Equal(t, int64(1), n.shutdowns.Load())
	assert.Equal(t, 0, n.liveSamples())
	shared.Lock()
	assert.Empty(t, shared.m)
	shared.Unlock()
}

// TestLogsOnly: with only a logs pipeline, NVML is opened for the XID
// events alone and nothing is scraped.
func TestLogsOnly(t *testing.T) {
	n := newCountingNode()
	f := newFactory(func(string) nvml.Interface { return n.srv })
	cfg := n.factoryConfig()
	cfg.Metrics.NvidiaGpuXidErrors.Enabled = false
	ctx := context.Background()
	logs := new(consumertest.LogsSink)
	r, err := f.CreateLogs(ctx, receivertest.NewNopSettings(metadata.Type), cfg, logs)
	require.NoError(t, err)
	require.NoError(t, r.Start(ctx, componenttest.NewNopHost()))
	n.calls.Store(0)
	n.events <- xidEvent(n.devs[0], 95)
	require.Eventually(t, func() bool { return logs.LogRecordCount() == 1 }, 5*time.Second, 5*time.Millisecond)
	rec := logs.AllLogs()[0].ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
	assert.Equal(t, "FATAL", rec.SeverityText())
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, int64(0), n.calls.Load(), "no scrapes")
	require.NoError(t, r.Shutdown(ctx))
	assert.Equal(t, int64(1), n.inits.Load())
	assert.Equal(t, int64(1), n.shutdowns.Load())
}

// TestXIDLogTelemetry: XID log records count in the collector's receiver
// telemetry, accepted when the pipeline takes them and refused when not.
func TestXIDLogTelemetry(t *testing.T) {
	for _, tc := range []struct {
		name     string
		next     consumer.Logs
		accepted int64
		refused  int64
	}{
		{"accepted", new(consumertest.LogsSink), 2, 0},
		{"refused", consumertest.NewErr(errors.New("pipeline full")), 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tel := componenttest.NewTelemetry()
			t.Cleanup(func() { require.NoError(t, tel.Shutdown(context.Background())) })
			n := h100Node()
			cfg := createDefaultConfig().(*Config)
			cfg.PodResourcesSocket = ""
			set := receivertest.NewNopSettings(metadata.Type)
			set.TelemetrySettings = tel.NewTelemetrySettings()
			s := newScraper(cfg, set, func(string) nvml.Interface { return n.srv })
			require.NoError(t, s.setLogs(tc.next))
			require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
			t.Cleanup(func() { require.NoError(t, s.shutdown(context.Background())) })
			n.events <- xidEvent(n.devs[0], 79)
			n.events <- xidEvent(n.devs[1], 48)
			count := func(name string) int64 {
				m, err := tel.GetMetric(name)
				if err != nil {
					return 0
				}
				var sum int64
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					sum += dp.Value
				}
				return sum
			}
			require.Eventually(t, func() bool {
				return count("otelcol_receiver_accepted_log_records")+count("otelcol_receiver_refused_log_records") == 2
			}, 5*time.Second, 5*time.Millisecond)
			assert.Equal(t, tc.accepted, count("otelcol_receiver_accepted_log_records"))
			assert.Equal(t, tc.refused, count("otelcol_receiver_refused_log_records"))
		})
	}
}
