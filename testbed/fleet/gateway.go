package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/acceltel/acceltel/testbed"
)

// Variant is a gateway pipeline: gateway.yaml with its processors replaced.
type Variant struct {
	Name       string
	Processors []string
}

var (
	// Full is gateway.yaml's chain (memory_limiter, anomaly with its
	// per-node peer groups) plus the cost processor priced below.
	Full = Variant{Name: "full", Processors: []string{"memory_limiter", "anomaly", "cost"}}
	// Baseline is the same gateway with only a batch processor: the
	// collector testbed's usual reference.
	Baseline = Variant{Name: "baseline", Processors: []string{"batch"}}
	// Bare is gateway.yaml with no processor at all: kafka straight into
	// the exporter, one request per record, as the full chain exports
	// them (gateway.yaml has no batch processor; see its header).
	Bare = Variant{Name: "bare", Processors: nil}
)

// Exporters a gateway can write to.
const (
	// ExporterSink is the otlp exporter into the test's counting Sink.
	ExporterSink = "sink"
	// ExporterPrometheus is gateway.yaml's own prometheusremotewrite into
	// a real Prometheus server.
	ExporterPrometheus = "prometheus"
)

// overlay is merged over gateway.yaml (a second --config): the cost
// processor's price book, the batch processor of the baseline, the sink's
// exporter, and the pipeline under test. Lists replace gateway.yaml's, so
// its other exporters (s3) are not started.
//
// The price book is an owned DGX H100 fleet: each 8-GPU server amortised
// over 4 years plus hosting, and the energy each GPU measures (hw.energy)
// priced at the wall with the data centre's PUE. Every simulated GPU
// matches it, so every GPU is billed each interval (allocated to its pod,
// or idle) rather than reported unpriced, which would cost nothing.
const overlay = `processors:
  batch: {}
  cost:
    idle_utilization_threshold: 0.05
    max_gap: 5m
    state_ttl: 24h
    peak_tflops:
      "NVIDIA H100 80GB HBM3": 989
    prices:
      - name: dgx-h100-owned
        model: "NVIDIA H100 80GB HBM3"
        on_prem: {purchase_price: 320000, gpus: 8, lifetime_years: 4, hosting_per_hour: 0.12}
        electricity_per_kwh: 0.12
        pue: 1.3
exporters:
  otlp_grpc/sink:
    endpoint: "%s"
    tls:
      insecure: true
    # Loopback: compressing would only cost the gateway CPU.
    compression: none
    # Synchronous, as gateway.yaml's remote write: a record is marked in
    # Kafka once exported, and at most one record per partition is in
    # flight.
    sending_queue:
      enabled: false
service:
  pipelines:
    metrics:
      # The Kafka path is what is measured; gateway.yaml's other receivers
      # (OTLP from outside the cluster) would only listen, idle.
      receivers: [kafka]
      processors: [%s]
      exporters: [%s]
`

// GatewayOptions say which gateway to start and where it reads and writes.
type GatewayOptions struct {
	Variant     Variant
	Exporter    string
	Brokers     string
	Group       string
	SinkAddr    string // ExporterSink
	RemoteWrite string // ExporterPrometheus
	// OneCPU sets GOMAXPROCS=1, for a gateway pinned to one core.
	OneCPU bool
	// Pprof, when set, is where the gateway's pprof extension listens.
	Pprof string
}

// exporterName is the exporter's id in the gateway's config.
func (o GatewayOptions) exporterName() string {
	if o.Exporter == ExporterPrometheus {
		return "prometheusremotewrite"
	}
	return "otlp_grpc/sink"
}

// StartGateway runs distributions/otelcol-acceltel/gateway.yaml with the
// overlay for opts, and waits until it is healthy.
func StartGateway(t testing.TB, root string, opts GatewayOptions) *testbed.Collector {
	t.Helper()
	sink := opts.SinkAddr
	if sink == "" {
		sink = "127.0.0.1:1" // defined but unused when exporting elsewhere
	}
	path := filepath.Join(t.TempDir(), "fleet-overlay.yaml")
	cfg := fmt.Sprintf(overlay, sink, strings.Join(opts.Variant.Processors, ", "), opts.exporterName())
	if opts.Pprof != "" {
		// gateway.yaml's extensions and pprof: a list given here
		// replaces gateway.yaml's, so it must repeat them.
		exts, err := gatewayExtensions(root)
		if err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("  extensions: [%s, pprof]\nextensions:\n  pprof:\n    endpoint: %q\n", strings.Join(exts, ", "), opts.Pprof)
	}
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"ACCELTEL_KAFKA_BROKERS=" + opts.Brokers,
		"ACCELTEL_KAFKA_GROUP_ID=" + opts.Group,
		"ACCELTEL_LOG_LEVEL=warn",
	}
	if opts.RemoteWrite != "" {
		env = append(env, "ACCELTEL_REMOTE_WRITE_ENDPOINT="+opts.RemoteWrite)
	}
	if opts.OneCPU {
		env = append(env, "GOMAXPROCS=1")
	}
	return testbed.StartCollectorWith(t, filepath.Join(root, "distributions", "otelcol-acceltel", "gateway.yaml"), testbed.CollectorOptions{
		Name: fmt.Sprintf("gateway %s/%s", opts.Variant.Name, opts.Exporter),
		Env:  env,
		Args: []string{"--config", path},
	})
}

// gatewayExtensions is gateway.yaml's service::extensions.
func gatewayExtensions(root string) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(root, "distributions", "otelcol-acceltel", "gateway.yaml"))
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Service struct {
			Extensions []string `yaml:"extensions"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("gateway.yaml: %w", err)
	}
	return cfg.Service.Extensions, nil
}
