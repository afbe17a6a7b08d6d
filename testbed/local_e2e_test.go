package testbed

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
)

// sendMetrics exports one collection of a counter, a gauge and a histogram
// over OTLP/gRPC with the OpenTelemetry Go SDK, as a training job would.
func sendMetrics(ctx context.Context, t *testing.T, endpoint string) {
	t.Helper()
	res := resource.NewSchemaless(
		attribute.String("service.name", "e2e"),
		attribute.String("service.instance.id", "e2e-0"),
		attribute.String("host.name", "gpu-node-1"),
		attribute.String("hw.id", "GPU-8c1c4c1e-0000-4000-8000-000000000001"),
	)
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(res))
	meter := provider.Meter("github.com/acceltel/acceltel/testbed")

	collectives, err := meter.Int64Counter("acceltel.e2e.collectives", metric.WithUnit("{collective}"))
	require.NoError(t, err)
	temperature, err := meter.Float64Gauge("acceltel.e2e.temperature", metric.WithUnit("Cel"))
	require.NoError(t, err)
	duration, err := meter.Float64Histogram("acceltel.e2e.duration", metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.001, 0.01, 0.1, 1))
	require.NoError(t, err)

	allreduce := metric.WithAttributes(attribute.String("nccl.collective", "allreduce"))
	collectives.Add(ctx, 42, allreduce)
	temperature.Record(ctx, 61.5)
	for _, d := range []float64{0.0005, 0.002, 0.003, 0.5} {
		duration.Record(ctx, d, allreduce)
	}

	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(ctx, &rm))
	exp, err := otlpmetricgrpc.New(ctx, otlpmetricgrpc.WithEndpoint(endpoint), otlpmetricgrpc.WithInsecure())
	require.NoError(t, err)
	require.NoError(t, exp.Export(ctx, &rm))
	require.NoError(t, exp.Shutdown(ctx))
	require.NoError(t, provider.Shutdown(ctx))
}

func scrape(ctx context.Context, addr string) (map[string]*dto.MetricFamily, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestLocalConfig starts otelcol-acceltel with local.yaml, sends it metrics
// over OTLP, and reads them back from its Prometheus exporter and from a real
// Prometheus server scraping it.
func TestLocalConfig(t *testing.T) {
	root := RepoRoot(t)
	col := StartCollector(t, filepath.Join(root, "distributions", "otelcol-acceltel", "local.yaml"))
	prom := StartPrometheus(t, col.Prometheus)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sendMetrics(ctx, t, col.OTLPGRPC)

	// The exporter: names translated to Prometheus conventions, resource
	// attributes as labels, the histogram's buckets intact.
	var families map[string]*dto.MetricFamily
	require.NoError(t, Eventually(ctx, 200*time.Millisecond, func() (err error) {
		families, err = scrape(ctx, col.Prometheus)
		if err != nil {
			return err
		}
		for _, name := range []string{"acceltel_e2e_collectives_total", "acceltel_e2e_temperature_celsius", "acceltel_e2e_duration_seconds"} {
			if families[name] == nil {
				return fmt.Errorf("%s not exported yet", name)
			}
		}
		return nil
	}))
	counter := families["acceltel_e2e_collectives_total"].GetMetric()[0]
	assert.Equal(t, 42.0, counter.GetCounter().GetValue())
	assert.Equal(t, "allreduce", label(counter, "nccl_collective"))
	assert.Equal(t, "gpu-node-1", label(counter, "host_name"))
	assert.Equal(t, "GPU-8c1c4c1e-0000-4000-8000-000000000001", label(counter, "hw_id"))
	assert.Equal(t, "e2e", label(counter, "job"))
	assert.Equal(t, 61.5, families["acceltel_e2e_temperature_celsius"].GetMetric()[0].GetGauge().GetValue())
	hist := families["acceltel_e2e_duration_seconds"].GetMetric()[0].GetHistogram()
	assert.Equal(t, uint64(4), hist.GetSampleCount())
	assert.InDelta(t, 0.5055, hist.GetSampleSum(), 1e-9)
	cumulative := make([]uint64, 0, 4)
	for _, b := range hist.GetBucket() {
		cumulative = append(cumulative, b.GetCumulativeCount())
	}
	assert.Equal(t, []uint64{1, 3, 3, 4, 4}, cumulative) // le 0.001, 0.01, 0.1, 1, +Inf

	// The collector's own telemetry goes through the same pipeline.
	require.NoError(t, Eventually(ctx, 500*time.Millisecond, func() error {
		fams, err := scrape(ctx, col.Prometheus)
		if err != nil {
			return err
		}
		for name := range fams {
			if strings.HasPrefix(name, "otelcol_receiver_accepted_metric_points") {
				return nil
			}
		}
		return fmt.Errorf("no otelcol_receiver_accepted_metric_points in the exporter")
	}))

	// Hardware receivers report whether they found their hardware (on a host
	// without it: 0, and they keep running).
	for _, receiver := range []string{"nvml", "nccl", "infiniband", "ebpf"} {
		require.NoError(t, Eventually(ctx, 500*time.Millisecond, func() error {
			fams, err := scrape(ctx, col.Prometheus)
			if err != nil {
				return err
			}
			for _, m := range fams["acceltel_receiver_available"].GetMetric() {
				if label(m, "acceltel_receiver") == receiver {
					return nil
				}
			}
			return fmt.Errorf("no acceltel_receiver_available{acceltel_receiver=%q}", receiver)
		}))
	}

	// The Prometheus server: PromQL over its HTTP API. The first scrape lands
	// a few seconds after start, so poll rather than sleep.
	queries := map[string]float64{
		`acceltel_e2e_collectives_total{hw_id="GPU-8c1c4c1e-0000-4000-8000-000000000001",nccl_collective="allreduce"}`: 42,
		`sum by (host_name) (acceltel_e2e_temperature_celsius)`:                                                        61.5,
		`acceltel_e2e_duration_seconds_count`:                                                                          4,
		`acceltel_e2e_duration_seconds_bucket{le="0.01"}`:                                                              3,
	}
	for q, want := range queries {
		require.NoError(t, Eventually(ctx, 500*time.Millisecond, func() error {
			samples, err := prom.Query(ctx, q)
			if err != nil {
				return err
			}
			if len(samples) != 1 {
				return fmt.Errorf("%s: %d series, want 1", q, len(samples))
			}
			if samples[0].Value != want {
				return fmt.Errorf("%s = %v, want %v", q, samples[0].Value, want)
			}
			return nil
		}), q)
	}
	samples, err := prom.Query(ctx, `up{job="acceltel"}`)
	require.NoError(t, err)
	require.Len(t, samples, 1)
	assert.Equal(t, 1.0, samples[0].Value)

	// Both stop cleanly on SIGTERM.
	require.NoError(t, prom.Stop(15*time.Second))
	require.NoError(t, col.Stop(15*time.Second))
	assert.NotContains(t, col.Output(), "panic")
}
