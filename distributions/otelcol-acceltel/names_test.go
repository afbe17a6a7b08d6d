package otelcolacceltel_test

// The names a Prometheus fed by this distribution can hold, derived rather
// than listed: every metric of every acceltel component's metadata.yaml (and
// the few each component builds by hand, pinned to the source that builds
// them), the collector's own otelcol_* metrics from the telemetry sections
// of the metadata.yaml of each module builder-config.yaml pins, all named by
// github.com/prometheus/otlptranslator as the prometheus and
// prometheusremotewrite exporters name them.

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/otlptranslator"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// repoRoot is the module root: this package is distributions/otelcol-acceltel.
const repoRoot = "../.."

// metadataFile is the part of an mdatagen metadata.yaml the names come from.
type metadataFile struct {
	Type               string                 `yaml:"type"`
	ResourceAttributes map[string]any         `yaml:"resource_attributes"`
	Attributes         map[string]attribute   `yaml:"attributes"`
	Metrics            map[string]metricEntry `yaml:"metrics"`
	Telemetry          struct {
		Metrics map[string]metricEntry `yaml:"metrics"`
	} `yaml:"telemetry"`
}

type attribute struct {
	NameOverride string   `yaml:"name_override"`
	Enum         []string `yaml:"enum"`
}

type metricEntry struct {
	Enabled     *bool          `yaml:"enabled"`
	Prefix      *string        `yaml:"prefix"`   // telemetry metrics: "otelcol_" when absent
	Optional    bool           `yaml:"optional"` // telemetry metrics only reported when a config turns them on
	Description string         `yaml:"description"`
	Unit        string         `yaml:"unit"`
	Gauge       map[string]any `yaml:"gauge"`
	Sum         *struct {
		Monotonic bool `yaml:"monotonic"`
	} `yaml:"sum"`
	Histogram map[string]any `yaml:"histogram"`
}

func (m metricEntry) otelType() otlptranslator.MetricType {
	switch {
	case m.Sum != nil && m.Sum.Monotonic:
		return otlptranslator.MetricTypeMonotonicCounter
	case m.Sum != nil:
		return otlptranslator.MetricTypeNonMonotonicCounter
	case m.Histogram != nil:
		return otlptranslator.MetricTypeHistogram
	default:
		return otlptranslator.MetricTypeGauge
	}
}

// handBuilt are metrics a component builds without mdatagen (metadata.yaml
// names them only in a comment: mdatagen v0.158 cannot generate histograms
// for receivers). Each is pinned to the file that builds it, and
// TestHandBuiltMetricsExist fails when that file no longer names it.
var handBuilt = []struct {
	name, unit, source string
	typ                otlptranslator.MetricType
}{
	{"nccl.operation.duration", "s", "receivers/ncclreceiver/histogram.go", otlptranslator.MetricTypeHistogram},
	{"nccl.operation.bus_bandwidth", "By/s", "receivers/ncclreceiver/histogram.go", otlptranslator.MetricTypeHistogram},
	{"nccl.collective.completion.spread", "s", "receivers/ncclreceiver/histogram.go", otlptranslator.MetricTypeHistogram},
	{"acceltel.ebpf.runqueue.latency", "s", "receivers/ebpfreceiver/scraper.go", otlptranslator.MetricTypeExponentialHistogram},
	{"acceltel.ebpf.offcpu.duration", "s", "receivers/ebpfreceiver/scraper.go", otlptranslator.MetricTypeExponentialHistogram},
	{"acceltel.ebpf.blockio.latency", "s", "receivers/ebpfreceiver/scraper.go", otlptranslator.MetricTypeExponentialHistogram},
	{"acceltel.ebpf.oncpu.time", "s", "receivers/ebpfreceiver/scraper.go", otlptranslator.MetricTypeMonotonicCounter},
	{"acceltel.ebpf.reclaim.duration", "s", "receivers/ebpfreceiver/scraper.go", otlptranslator.MetricTypeExponentialHistogram},
	{"acceltel.ebpf.cpu.migrations", "{migration}", "receivers/ebpfreceiver/scraper.go", otlptranslator.MetricTypeMonotonicCounter},
}

// handBuiltAttributes are point attributes set in code, not in metadata.yaml.
var handBuiltAttributes = []struct{ name, source string }{
	{"acceltel.offcpu.reason", "receivers/ebpfreceiver/scraper.go"},
	{"acceltel.migration.numa", "receivers/ebpfreceiver/scraper.go"},
}

// promLabels are labels that do not come from an OTel attribute of ours:
// Prometheus' own (job, instance from the scrape or from service.* in remote
// write; le for classic buckets) and the exporters' scope labels. The
// collector's own telemetry labels its series by component; those are listed
// as the OTel Go SDK exports them on :8888.
var promLabels = []string{
	"job", "instance", "le", "otel_scope_name", "otel_scope_version",
	"receiver", "processor", "exporter", "transport", "data_type", "otel_signal",
}

// emitted is what a Prometheus fed by this distribution can hold.
type emitted struct {
	metrics map[string]series          // Prometheus name -> what it is
	labels  map[string]string          // label name -> where it comes from
	enums   map[string]map[string]bool // label -> its values, where every attribute behind it is an enum
	free    map[string]bool            // labels with at least one attribute that is not an enum
	otel    map[string]bool            // OTel metric names (values of acceltel_anomaly_metric)
	recv    map[string]bool            // receiver types (values of acceltel_receiver)
}

// series is one Prometheus series name: where it comes from and whether
// rate() applies to it.
type series struct {
	from    string
	counter bool // a counter, a classic histogram's _bucket/_sum/_count, or a native histogram
}

// enum is the set of values a label can take, or nil when any value can be.
func (e emitted) enum(label string) map[string]bool {
	if e.free[label] {
		return nil
	}
	return e.enums[label]
}

func (e emitted) sortedMetrics() []string {
	out := make([]string, 0, len(e.metrics))
	for k := range e.metrics {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var (
	withSuffixes    = otlptranslator.MetricNamer{WithMetricSuffixes: true}
	withoutSuffixes = otlptranslator.MetricNamer{WithMetricSuffixes: false}
	labelNamer      = otlptranslator.LabelNamer{}
)

// addSeries adds the series names Prometheus stores for one OTel metric as
// the exporters translate it: classic histograms as _bucket/_sum/_count;
// exponential histograms as one native histogram (remote write always; the
// prometheus exporter to a scrape that accepts native histograms), so a
// query must use the bare name with histogram_quantile/histogram_sum/...
func (e emitted) addSeries(t *testing.T, namer otlptranslator.MetricNamer, m otlptranslator.Metric, from string) {
	t.Helper()
	name, err := namer.Build(m)
	require.NoError(t, err, "%s: %s", from, m.Name)
	e.otel[m.Name] = true
	switch m.Type {
	case otlptranslator.MetricTypeHistogram:
		for _, s := range []string{"_bucket", "_sum", "_count"} {
			e.metrics[name+s] = series{from: from, counter: true}
		}
	case otlptranslator.MetricTypeExponentialHistogram, otlptranslator.MetricTypeMonotonicCounter:
		e.metrics[name] = series{from: from, counter: true}
	default:
		e.metrics[name] = series{from: from}
	}
}

// addLabel adds an attribute's label; enum, when not nil, is every value
// the attribute can take.
func (e emitted) addLabel(t *testing.T, otelName, from string, enum ...string) {
	t.Helper()
	l, err := labelNamer.Build(otelName)
	require.NoError(t, err, "%s: %s", from, otelName)
	e.labels[l] = from
	if len(enum) == 0 {
		e.free[l] = true
		return
	}
	if e.enums[l] == nil {
		e.enums[l] = map[string]bool{}
	}
	for _, v := range enum {
		e.enums[l][v] = true
	}
}

func readMetadata(t *testing.T, path string) metadataFile {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var md metadataFile
	require.NoError(t, yaml.Unmarshal(b, &md), path)
	return md
}

// componentMetadata is every metadata.yaml of our components.
func componentMetadata(t *testing.T) map[string]metadataFile {
	t.Helper()
	out := map[string]metadataFile{}
	for _, kind := range []string{"receivers", "processors", "connectors", "exporters", "extensions"} {
		files, err := filepath.Glob(filepath.Join(repoRoot, kind, "*", "metadata.yaml"))
		require.NoError(t, err)
		for _, f := range files {
			rel, err := filepath.Rel(repoRoot, f)
			require.NoError(t, err)
			out[filepath.ToSlash(rel)] = readMetadata(t, f)
		}
	}
	require.NotEmpty(t, out)
	return out
}

// enabledByConfig is the set of "<component type>/<metric>" a shipped
// config turns on (metrics::<name>::enabled: true), for metrics that are
// off by default.
func enabledByConfig(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, cfg := range shippedConfigs(t) {
		b, err := os.ReadFile(cfg)
		require.NoError(t, err)
		var c map[string]any
		require.NoError(t, yaml.Unmarshal(b, &c), cfg)
		for _, kind := range []string{"receivers", "processors", "connectors"} {
			comps, _ := c[kind].(map[string]any)
			for id, body := range comps {
				typ, _, _ := strings.Cut(id, "/")
				bm, _ := body.(map[string]any)
				ms, _ := bm["metrics"].(map[string]any)
				for name, v := range ms {
					if mv, ok := v.(map[string]any); ok && mv["enabled"] == true {
						out[typ+"/"+name] = true
					}
				}
			}
		}
	}
	return out
}

// shippedConfigs are the collector configs next to this file.
func shippedConfigs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

// collectorModules are the modules whose metadata.yaml define the
// collector's own telemetry: every module builder-config.yaml pins (but
// ours), and the helpers each component kind is built on.
func collectorModules(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "builder-config.yaml"))
	require.NoError(t, err)
	var bc map[string]any
	require.NoError(t, yaml.Unmarshal(b, &bc))
	mods := []string{
		"go.opentelemetry.io/collector/service",
		"go.opentelemetry.io/collector/receiver/receiverhelper",
		"go.opentelemetry.io/collector/processor/processorhelper",
		"go.opentelemetry.io/collector/exporter/exporterhelper",
		"go.opentelemetry.io/collector/scraper/scraperhelper",
	}
	for _, kind := range []string{"receivers", "processors", "exporters", "connectors", "extensions"} {
		list, _ := bc[kind].([]any)
		for _, e := range list {
			gomod, _ := e.(map[string]any)["gomod"].(string)
			path, _, _ := strings.Cut(gomod, " ")
			if path != "" && path != "github.com/acceltel/acceltel" {
				mods = append(mods, path)
			}
		}
	}
	return mods
}

// moduleDirs asks the go command where the modules are (read only: no
// download, no go.mod change).
func moduleDirs(t *testing.T, mods []string) map[string]string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-m", "-json"}, mods...)...)
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	var stderr string
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "go list -m: %s", stderr)
	dirs := map[string]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var m struct{ Path, Version, Dir string }
		require.NoError(t, dec.Decode(&m))
		require.NotEmpty(t, m.Dir, "%s@%s is not in the module cache: run `go mod download %s` (make build does)", m.Path, m.Version, m.Path)
		dirs[m.Path] = m.Dir
	}
	return dirs
}

// emittedNames derives everything; see the file comment.
func emittedNames(t *testing.T) emitted {
	t.Helper()
	e := emitted{metrics: map[string]series{}, labels: map[string]string{}, enums: map[string]map[string]bool{},
		free: map[string]bool{}, otel: map[string]bool{}, recv: map[string]bool{}}
	on := enabledByConfig(t)
	for path, md := range componentMetadata(t) {
		if strings.HasPrefix(path, "receivers/") {
			e.recv[md.Type] = true
		}
		for name, m := range md.Metrics {
			if m.Enabled != nil && !*m.Enabled && !on[md.Type+"/"+name] {
				continue // off by default and no shipped config turns it on
			}
			e.addSeries(t, withSuffixes, otlptranslator.Metric{Name: name, Unit: m.Unit, Type: m.otelType()}, path)
		}
		for key, a := range md.Attributes {
			name := key
			if a.NameOverride != "" {
				name = a.NameOverride
			}
			e.addLabel(t, name, path, a.Enum...)
		}
		for key := range md.ResourceAttributes {
			e.addLabel(t, key, path)
		}
		e.addTelemetry(t, md, path)
	}
	for _, h := range handBuilt {
		e.addSeries(t, withSuffixes, otlptranslator.Metric{Name: h.name, Unit: h.unit, Type: h.typ}, h.source)
	}
	for _, a := range handBuiltAttributes {
		e.addLabel(t, a.name, a.source)
	}
	// Resource attributes the shipped configs set (the resource processor).
	for _, cfg := range shippedConfigs(t) {
		for _, key := range resourceKeys(t, cfg) {
			e.addLabel(t, key, cfg)
		}
	}
	for _, l := range promLabels {
		e.labels[l] = "Prometheus, exporters, collector telemetry"
		e.free[l] = true
	}

	// The collector's own metrics reach Prometheus two ways. Scraped from
	// :8888, the OTel Go SDK names them without suffixes. Scraped into the
	// pipeline by a prometheus/self receiver (local.yaml, agent.yaml,
	// sidecar.yaml), they arrive without a unit (the text exposition has
	// none) and the exporter adds the type suffixes: _total on counters.
	mods := collectorModules(t)
	dirs := moduleDirs(t, mods)
	for _, mod := range mods {
		e.addTelemetry(t, readMetadata(t, filepath.Join(dirs[mod], "metadata.yaml")), mod)
	}
	return e
}

// addTelemetry adds a component's own telemetry (its metadata.yaml's
// telemetry section) in both forms, and the attributes it may carry.
func (e emitted) addTelemetry(t *testing.T, md metadataFile, from string) {
	t.Helper()
	if len(md.Telemetry.Metrics) == 0 {
		return
	}
	for name, m := range md.Telemetry.Metrics {
		if m.Optional || (m.Enabled != nil && !*m.Enabled) {
			continue // no shipped config turns the collector's optional telemetry on
		}
		prefix := "otelcol_"
		if m.Prefix != nil {
			prefix = *m.Prefix
		}
		full := prefix + name
		e.addSeries(t, withoutSuffixes, otlptranslator.Metric{Name: full, Unit: m.Unit, Type: m.otelType()}, from+" (telemetry, scraped from :8888)")
		e.addSeries(t, withSuffixes, otlptranslator.Metric{Name: full, Type: m.otelType()}, from+" (telemetry, through prometheus/self)")
	}
	for key, a := range md.Attributes {
		name := key
		if a.NameOverride != "" {
			name = a.NameOverride
		}
		e.addLabel(t, name, from+" (telemetry)", a.Enum...)
	}
}

// resourceKeys are the keys a config's resource processors set.
func resourceKeys(t *testing.T, cfg string) []string {
	t.Helper()
	b, err := os.ReadFile(cfg)
	require.NoError(t, err)
	var c struct {
		Processors map[string]struct {
			Attributes []struct {
				Key string `yaml:"key"`
			} `yaml:"attributes"`
		} `yaml:"processors"`
	}
	require.NoError(t, yaml.Unmarshal(b, &c), cfg)
	var keys []string
	for id, p := range c.Processors {
		if typ, _, _ := strings.Cut(id, "/"); typ == "resource" {
			for _, a := range p.Attributes {
				keys = append(keys, a.Key)
			}
		}
	}
	return keys
}

// TestHandBuiltMetricsExist keeps handBuilt honest: each name is still
// built where it says.
func TestHandBuiltMetricsExist(t *testing.T) {
	for _, h := range handBuilt {
		b, err := os.ReadFile(filepath.Join(repoRoot, h.source))
		require.NoError(t, err)
		require.Contains(t, string(b), `"`+h.name+`"`, "%s no longer builds %s: update handBuilt", h.source, h.name)
	}
	for _, a := range handBuiltAttributes {
		b, err := os.ReadFile(filepath.Join(repoRoot, a.source))
		require.NoError(t, err)
		require.Contains(t, string(b), `"`+a.name+`"`, "%s no longer sets %s", a.source, a.name)
	}
}

// TestEmittedNamesMatchTheBinary pins the derivation to names read from the
// built otelcol-acceltel: local.yaml's Prometheus exporter (curl
// :8889/metrics) on a host without GPUs, and, for the NCCL names, the same
// with sidecar.yaml in front of it receiving the NCCL profiler plugin's
// records from native/nccl-profiler's harness. If otlptranslator or the
// exporters change how they name things, this fails before the dashboards
// silently go empty.
func TestEmittedNamesMatchTheBinary(t *testing.T) {
	e := emittedNames(t)
	for _, name := range []string{
		// acceltel components, as the prometheus exporter wrote them
		"acceltel_receiver_available",
		"acceltel_ebpf_blockio_io_bytes_total",
		"acceltel_ebpf_oncpu_time_seconds_total",
		"acceltel_ebpf_program_run_time_seconds_total",
		"acceltel_ebpf_hist_dropped_total",
		"nccl_operation_count_total",
		"nccl_operation_bytes_total",
		"nccl_operation_duration_seconds_bucket",
		"nccl_operation_bus_bandwidth_bytes_per_second_bucket",
		"nccl_collective_bus_bandwidth_bytes_per_second",
		"nccl_collective_completion_spread_seconds_count",
		"nccl_rank_completion_lag_seconds",
		"acceltel_nccl_records_dropped_total",
		"acceltel_nccl_sequences_evicted_total",
		"acceltel_anomaly_score_ratio",
		"acceltel_anomaly_flag",
		"acceltel_anomaly_straggler",
		// the collector's own, through prometheus/self
		"otelcol_exporter_sent_metric_points_total",
		"otelcol_process_uptime_total",
		"otelcol_process_cpu_seconds_total",
		"otelcol_process_memory_rss",
		"otelcol_process_runtime_alloc_bytes_total",
		"otelcol_processor_batch_batch_send_size_bucket",
		"otelcol_receiver_accepted_metric_points_total",
		// the collector's own, on :8888
		"otelcol_exporter_sent_metric_points",
		"otelcol_exporter_queue_size",
		"otelcol_exporter_queue_capacity",
		"otelcol_process_uptime",
		"otelcol_process_runtime_total_alloc_bytes",
	} {
		require.Contains(t, e.metrics, name)
	}
	// Unit suffixes of metrics no GPU-less host emits, by otlptranslator's rules.
	for _, name := range []string{
		"hw_gpu_utilization_ratio", "hw_power_watts", "hw_energy_joules_total",
		"hw_temperature_celsius", "nvidia_gpu_clock_frequency_hertz",
		"acceltel_cost_rate_per_hour", "acceltel_ebpf_runqueue_latency_seconds",
	} {
		require.Contains(t, e.metrics, name)
	}
	require.NotContains(t, e.metrics, "acceltel_ebpf_runqueue_latency_seconds_bucket",
		"an exponential histogram is a native histogram in Prometheus")
	require.NotContains(t, e.metrics, "nvidia_gpu_nvlink_link_io_bytes_total",
		"off by default and no shipped config turns it on")
	for _, l := range []string{"hw_id", "host_name", "k8s_node_name", "nccl_rank", "acceltel_offcpu_reason", "error_type"} {
		require.Contains(t, e.labels, l)
	}
	require.True(t, slices.IsSorted(e.sortedMetrics()))
}

// TestSharedMetricsAgree: a metric name that several components define
// must have one description, unit and type. Exporters keep the first they
// meet: the Prometheus exporter logs a conflict at every scrape, and the
// others silently drop what differs.
func TestSharedMetricsAgree(t *testing.T) {
	type def struct {
		file string
		m    metricEntry
	}
	byName := map[string][]def{}
	for file, md := range componentMetadata(t) {
		for name, m := range md.Metrics {
			byName[name] = append(byName[name], def{file, m})
		}
	}
	shared := 0
	for name, defs := range byName {
		if len(defs) < 2 {
			continue
		}
		shared++
		first := defs[0]
		for _, d := range defs[1:] {
			if d.m.Description != first.m.Description || d.m.Unit != first.m.Unit || d.m.otelType() != first.m.otelType() {
				t.Errorf("%s: %s says %q (%s, %v), %s says %q (%s, %v)", name,
					first.file, first.m.Description, first.m.Unit, first.m.otelType(),
					d.file, d.m.Description, d.m.Unit, d.m.otelType())
			}
		}
	}
	require.Positive(t, shared, "acceltel.receiver.available is defined by several receivers")
}
