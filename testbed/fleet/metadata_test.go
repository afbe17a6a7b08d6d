package fleet

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"gopkg.in/yaml.v3"
)

// metadata is the part of a receiver's metadata.yaml the simulator follows.
type metadata struct {
	ResourceAttributes map[string]struct{} `yaml:"resource_attributes"`
	Attributes         map[string]struct {
		NameOverride string   `yaml:"name_override"`
		Enum         []string `yaml:"enum"`
	} `yaml:"attributes"`
	Metrics map[string]struct {
		Enabled bool   `yaml:"enabled"`
		Unit    string `yaml:"unit"`
		Gauge   *struct {
			ValueType string `yaml:"value_type"`
		} `yaml:"gauge"`
		Sum *struct {
			ValueType string `yaml:"value_type"`
			Monotonic bool   `yaml:"monotonic"`
		} `yaml:"sum"`
		Attributes []string `yaml:"attributes"`
	} `yaml:"metrics"`
}

// Metrics a receiver declares but emits only on an event, and the nccl
// receiver's histograms, which mdatagen cannot declare (its metadata.yaml
// lists them in a comment).
var (
	onEventOnly   = []string{"nvidia.gpu.xid.errors", "acceltel.nccl.records.malformed"}
	undeclaredOK  = []string{"nccl.operation.duration", "nccl.operation.bus_bandwidth", "nccl.collective.completion.spread"}
	agentResource = []string{"host.name", "k8s.node.name"}
)

// TestScrapeMatchesMetadata checks the simulated scrape against the nvml,
// infiniband and nccl receivers' metadata.yaml: every metric it emits is
// declared with its unit, type and attributes (as the receivers name them,
// with enum values from the list), every resource attribute is the
// receiver's or the agent's, and every metric enabled by default is there.
func TestScrapeMatchesMetadata(t *testing.T) {
	root, err := repoRoot()
	require.NoError(t, err)
	scopes := map[string]string{scopeNVML: "nvmlreceiver", scopeInfiniBand: "infinibandreceiver", scopeNCCL: "ncclreceiver"}
	meta := map[string]*metadata{}
	for scope, dir := range scopes {
		raw, err := os.ReadFile(filepath.Join(root, "receivers", dir, "metadata.yaml"))
		require.NoError(t, err)
		var m metadata
		require.NoError(t, yaml.Unmarshal(raw, &m), dir)
		meta[scope] = &m
	}

	n := NewNode(3, time.Now())
	md := n.Scrape(time.Now().Add(10 * time.Second))
	seen := map[string]map[string]bool{}
	points := 0
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				points += pointCount(m)
			}
			scope := sm.Scope().Name()
			md := meta[scope]
			if md == nil {
				// The training job's own OTLP metrics.
				continue
			}
			for k := range rm.Resource().Attributes().All() {
				_, declared := md.ResourceAttributes[k]
				assert.True(t, declared || slices.Contains(agentResource, k), "%s: resource attribute %s is not declared", scopes[scope], k)
			}
			if seen[scope] == nil {
				seen[scope] = map[string]bool{}
			}
			for _, m := range sm.Metrics().All() {
				seen[scope][m.Name()] = true
				checkMetric(t, scopes[scope], md, m)
			}
		}
	}
	assert.Equal(t, n.Points, points, "Points counts every point of a scrape")
	for scope, md := range meta {
		for name, m := range md.Metrics {
			if m.Enabled && !slices.Contains(onEventOnly, name) {
				assert.True(t, seen[scope][name], "%s: %s is enabled by default but not simulated", scopes[scope], name)
			}
		}
	}
}

func checkMetric(t *testing.T, receiver string, md *metadata, m pmetric.Metric) {
	t.Helper()
	decl, ok := md.Metrics[m.Name()]
	if !ok {
		assert.Contains(t, undeclaredOK, m.Name(), "%s does not declare %s", receiver, m.Name())
		return
	}
	assert.True(t, decl.Enabled, "%s: %s is off by default", receiver, m.Name())
	assert.Equal(t, decl.Unit, m.Unit(), "%s: unit of %s", receiver, m.Name())
	var dps pmetric.NumberDataPointSlice
	valueType := ""
	switch {
	case decl.Gauge != nil:
		require.Equal(t, pmetric.MetricTypeGauge, m.Type(), "%s: %s", receiver, m.Name())
		dps, valueType = m.Gauge().DataPoints(), decl.Gauge.ValueType
	case decl.Sum != nil:
		require.Equal(t, pmetric.MetricTypeSum, m.Type(), "%s: %s", receiver, m.Name())
		assert.Equal(t, decl.Sum.Monotonic, m.Sum().IsMonotonic(), "%s: %s monotonic", receiver, m.Name())
		assert.Equal(t, pmetric.AggregationTemporalityCumulative, m.Sum().AggregationTemporality())
		dps, valueType = m.Sum().DataPoints(), decl.Sum.ValueType
	}
	want := map[string][]string{} // attribute name -> enum
	for _, a := range decl.Attributes {
		attr := md.Attributes[a]
		name := attr.NameOverride
		if name == "" {
			name = a
		}
		want[name] = attr.Enum
	}
	wantKeys := []string{}
	for k := range want {
		wantKeys = append(wantKeys, k)
	}
	sort.Strings(wantKeys)
	for _, dp := range dps.All() {
		wantType := pmetric.NumberDataPointValueTypeDouble
		if valueType == "int" {
			wantType = pmetric.NumberDataPointValueTypeInt
		}
		assert.Equal(t, wantType, dp.ValueType(), "%s: value type of %s", receiver, m.Name())
		got := []string{}
		for k, v := range dp.Attributes().All() {
			got = append(got, k)
			if enum := want[k]; len(enum) > 0 {
				assert.Contains(t, enum, v.Str(), "%s: %s{%s}", receiver, m.Name(), k)
			}
		}
		sort.Strings(got)
		assert.Equal(t, wantKeys, got, "%s: attributes of %s", receiver, m.Name())
	}
}

// TestScrapeMovesOn checks that a scrape moves timestamps, gauges and
// counters on, so the detectors see live series.
func TestScrapeMovesOn(t *testing.T) {
	start := time.Now()
	n := NewNode(0, start)
	first := n.Scrape(start.Add(10 * time.Second))
	var m pmetric.ProtoMarshaler
	a, err := m.MarshalMetrics(first)
	require.NoError(t, err)
	second := n.Scrape(start.Add(20 * time.Second))
	b, err := m.MarshalMetrics(second)
	require.NoError(t, err)
	assert.NotEqual(t, a, b)
	energy := func(md pmetric.Metrics) float64 {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					if m.Name() == "hw.energy" {
						return m.Sum().DataPoints().At(0).DoubleValue()
					}
				}
			}
		}
		return 0
	}
	var u pmetric.ProtoUnmarshaler
	da, err := u.UnmarshalMetrics(a)
	require.NoError(t, err)
	db, err := u.UnmarshalMetrics(b)
	require.NoError(t, err)
	assert.Greater(t, energy(db), energy(da), "hw.energy is a counter")
}

func TestReplaceBetween(t *testing.T) {
	in := "# testbed\n\nintro\n\n" + beginMarker + "\nold table\n" + endMarker + "\n\nafter\n"
	out, err := replaceBetween([]byte(in), "| new |\n")
	require.NoError(t, err)
	assert.Equal(t, "# testbed\n\nintro\n\n"+beginMarker+"\n| new |\n"+endMarker+"\n\nafter\n", string(out))
	again, err := replaceBetween(out, "| newer |")
	require.NoError(t, err)
	assert.NotContains(t, string(again), "| new |")
	_, err = replaceBetween([]byte("no markers"), "x")
	assert.Error(t, err)
	_, err = replaceBetween([]byte(endMarker+beginMarker), "x")
	assert.Error(t, err)
}

func TestReadProc(t *testing.T) {
	// Burn a little CPU so that utime moves past a tick.
	st0, err := ReadProc(os.Getpid())
	require.NoError(t, err)
	x := 0
	for i := 0; i < 50_000_000; i++ {
		x += i % 7
	}
	st1, err := ReadProc(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, x)
	assert.Greater(t, st1.CPU, st0.CPU)
	assert.Positive(t, st1.RSS)
	assert.GreaterOrEqual(t, st1.HWM, st1.RSS)
	assert.NotEmpty(t, cpuModel())
}
