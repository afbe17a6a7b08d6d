package fleet

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	full      = flag.Bool("fleet", false, "run the full fleet measurement (minutes) and write its results into testbed/README.md")
	nodes     = flag.Int("fleet.nodes", 128, "simulated nodes of the full measurement")
	write     = flag.Bool("fleet.write", true, "with -fleet: write the results table into testbed/README.md")
	exporters = flag.String("fleet.exporters", "sink,prometheus", "with -fleet: exporters to measure, in order (sink, prometheus)")
	variants  = flag.String("fleet.variants", "", "with -fleet: pipelines to measure, in order (baseline, bare, full); default baseline,bare,full into the sink and baseline,full into Prometheus")
	step      = flag.Duration("fleet.step", 10*time.Second, "with -fleet: measured time of each rate")
	jsonOut   = flag.String("fleet.json", filepath.Join(os.TempDir(), "acceltel-fleet.json"), "with -fleet: where to save the results, to render them again with -fleet.render")
	render    = flag.String("fleet.render", "", "render the results saved at this path into testbed/README.md instead of measuring")
	profile   = flag.String("fleet.profile", "", "with -fleet: save a CPU profile of each gateway over each step in this directory (pprof extension), <exporter>-<pipeline>-<rate>.pprof; read with go tool pprof")
	maxSteps  = flag.Int("fleet.maxsteps", 7, "with -fleet: most steps of a ramp")
	pin       = flag.Bool("fleet.pin", false, "with -fleet: pin each gateway to CPU 1 with GOMAXPROCS=1 (on a machine with other work, leave it off: the pinned gateway gets only its share of that CPU)")
	warmup    = flag.Duration("fleet.warmup", 12*time.Second, "with -fleet: load before the first step is measured")
)

// plans: the sink with N = -fleet.nodes from 20k dp/s (N = 128 scraped
// every 8.6 s: about a real fleet's 10 s), the baseline, the bare gateway
// and the full chain; Prometheus with an eighth of the nodes from 3k dp/s,
// where one scrape of every node (every series created in Prometheus)
// still fits in the warm-up on a 2-core machine that also runs the gateway
// and the agents, the baseline and the full chain.
func plans(t *testing.T) []Plan {
	var out []Plan
	for _, e := range strings.Split(*exporters, ",") {
		switch e {
		case ExporterSink:
			out = append(out, Plan{Exporter: e, Nodes: *nodes, StartRate: 20000, Variants: []Variant{Baseline, Bare, Full}})
		case ExporterPrometheus:
			out = append(out, Plan{Exporter: e, Nodes: max(*nodes/8, 1), StartRate: 3000, Variants: []Variant{Baseline, Full}})
		default:
			t.Fatalf("-fleet.exporters: unknown exporter %q", e)
		}
		if *variants != "" {
			out[len(out)-1].Variants = variantsFlag(t)
		}
	}
	return out
}

func variantsFlag(t *testing.T) []Variant {
	var out []Variant
	for _, name := range strings.Split(*variants, ",") {
		i := slices.IndexFunc([]Variant{Baseline, Full, Bare}, func(v Variant) bool { return v.Name == name })
		if i < 0 {
			t.Fatalf("-fleet.variants: unknown pipeline %q", name)
		}
		out = append(out, []Variant{Baseline, Full, Bare}[i])
	}
	return out
}

// TestFleet drives the gateway role with a simulated fleet through Kafka.
//
// Without -fleet (make test) it is a smoke run of a few seconds: four
// nodes, the counting sink, the baseline and the full chain at a low rate;
// it asserts that every data point produced reached the sink, node by
// node, and that the full chain added its anomaly and cost points.
//
// With -fleet it is the measurement testbed/README.md reports (about 9
// minutes): ramps of each pipeline into the sink and into a real
// Prometheus. Its figures are written, not asserted; only lost data fails
// it.
func TestFleet(t *testing.T) {
	if *render != "" {
		res, err := LoadJSON(*render)
		require.NoError(t, err)
		if res.WatchedPerNode == 0 { // saved before the count was kept
			root, err := repoRoot()
			require.NoError(t, err)
			include, err := gatewayInclude(root)
			require.NoError(t, err)
			res.WatchedPerNode = watched(NewNode(0, res.Date), include)
		}
		publish(t, res, res.Command)
		return
	}
	if !*full {
		smoke(t)
		return
	}
	res := Run(t, Options{
		Plans:      plans(t),
		Partitions: 8,
		Warmup:     *warmup,
		Step:       *step,
		Settle:     3 * time.Second,
		MaxSteps:   *maxSteps,
		Pin:        *pin,
		Drain:      120 * time.Second,
		Idle:       4 * time.Second,
		ProfileDir: *profile,
	})
	command := "go test -count=1 -timeout 25m -run '^TestFleet$' ./testbed/fleet/ -fleet"
	flag.Visit(func(f *flag.Flag) { // the fleet flags given that change what is measured
		if strings.HasPrefix(f.Name, "fleet.") && !slices.Contains([]string{"fleet.write", "fleet.json", "fleet.profile"}, f.Name) {
			command += " -" + f.Name + "=" + f.Value.String()
		}
	})
	res.Command = command
	if *jsonOut != "" {
		require.NoError(t, res.SaveJSON(*jsonOut))
		t.Logf("results saved in %s", *jsonOut)
	}
	publish(t, res, command)
}

// publish logs the results and writes them into testbed/README.md.
func publish(t *testing.T, res *Result, command string) {
	table := res.Markdown(command)
	t.Log("\n" + table)
	if !*write {
		return
	}
	root, err := repoRoot()
	require.NoError(t, err)
	require.NoError(t, WriteReadme(filepath.Join(root, "testbed", "README.md"), table))
}

func smoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts collectors")
	}
	res := Run(t, Options{
		Plans:      []Plan{{Exporter: ExporterSink, Nodes: 4, StartRate: 10000, Variants: []Variant{Baseline, Full}}},
		Partitions: 4,
		Warmup:     500 * time.Millisecond,
		Step:       1500 * time.Millisecond,
		Settle:     0,
		MaxSteps:   1,
		Drain:      30 * time.Second,
	})
	require.Len(t, res.Ramps, 2)
	for _, r := range res.Ramps {
		// Run already failed the test on lost data; these say what ran.
		assert.Positive(t, r.Produced, "%s produced nothing", r.Variant.Name)
		assert.Equal(t, r.Produced, r.Received, "%s: the agents' points at the sink", r.Variant.Name)
		require.Len(t, r.Steps, 1)
		assert.Positive(t, r.Steps[0].Cores, "%s: the gateway's CPU time was not read", r.Variant.Name)
		assert.Positive(t, r.HWM, "%s: the gateway's peak RSS was not read", r.Variant.Name)
	}
	base, fullChain := res.Ramps[0].Derived, res.Ramps[1].Derived
	assert.Empty(t, base, "the baseline adds nothing")
	// The full chain ran its processors: scores for the watched series,
	// straggler verdicts from the per-node peer groups, and GPU costs
	// priced by the overlay's price book (not acceltel.cost.unpriced).
	for _, name := range []string{"acceltel.anomaly.score", "acceltel.anomaly.straggler", "acceltel.cost.allocated", "acceltel.cost.energy"} {
		assert.Positive(t, fullChain[name], "%s from the full chain: %v", name, fullChain)
	}
	assert.Zero(t, res.Ramps[1].Unpriced, "every simulated GPU should be priced (acceltel.cost.unpriced = 0)")
}
