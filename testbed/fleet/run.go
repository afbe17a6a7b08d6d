package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"gopkg.in/yaml.v3"

	"github.com/acceltel/acceltel/internal/anomalyconfig"
	"github.com/acceltel/acceltel/testbed"
)

// Topic is the topic the agents write and the gateways read (gateway.yaml's default).
const Topic = "acceltel-metrics"

// Plan is the fleet and first rate for one exporter.
type Plan struct {
	Exporter string
	// Nodes is the number of simulated nodes, GPUsPerNode GPUs each.
	Nodes int
	// StartRate (data points/s) is the first step of every ramp into this
	// exporter, the same for every variant: the side-by-side comparison.
	StartRate float64
	// Variants: one ramp each, in this order.
	Variants []Variant
}

// Options of a fleet run.
type Options struct {
	// Plans: one after the other.
	Plans []Plan
	// Partitions of the topic.
	Partitions int32
	// Warmup runs at StartRate before its step is measured; at least one
	// scrape of every node, so that every series' state exists (and
	// Prometheus has created every series) before measuring.
	Warmup time.Duration
	// Step is how long each rate is measured; Settle how long a new rate
	// runs before that.
	Step, Settle time.Duration
	// MaxSteps bounds the ramp.
	MaxSteps int
	// Pin puts each gateway on CPU 1 (GOMAXPROCS=1), so that "per core"
	// is one core. Everything else (this process: the simulated agents,
	// broker and sink; Prometheus) is left to the scheduler: on a shared
	// machine, pinning it to the other core would starve it.
	Pin bool
	// Drain bounds the wait for a gateway to catch up after its ramp.
	Drain time.Duration
	// Idle is how long each gateway's CPU is measured with no data.
	Idle time.Duration
	// ProfileDir, when set, gets a CPU profile of each gateway over each
	// measured step (pprof extension): <exporter>-<pipeline>-<rate>.pprof.
	ProfileDir string
	// Logf reports progress.
	Logf func(format string, args ...any) `json:"-"`
}

// Step is one rate of a ramp, measured.
type Step struct {
	Seconds float64 // measured
	Target  float64 // asked, data points/s
	Rate    float64 // produced (handed to the Kafka client) by the simulated agents, data points/s
	// Consumed is the gateway's kafka receiver's accepted points per second.
	Consumed float64
	// Cores is the gateway's CPU time per wall second (utime+stime).
	Cores float64
	// CPUPer10k is Cores per 10,000 data points/s.
	CPUPer10k float64
	RSS, HWM  int64 // gateway, at the end of the step
	// Lag is the consumer group's lag in data points (records times
	// points per record) at the end; LagSlope its least-squares growth in
	// points per second over the step.
	Lag, LagSlope float64
	// Queue is the exporter's otelcol_exporter_queue_size at the end,
	// QueueSlope its growth per second.
	Queue, QueueSlope float64
	// GenCores and PromCores are the CPU of this process (simulated
	// agents, broker, sink) and of Prometheus, for who else was busy.
	GenCores, PromCores float64
	Sustained           bool
	Why                 string
}

// Ramp is one gateway variant and exporter, driven at rising rates.
type Ramp struct {
	Plan    Plan
	Variant Variant
	Steps   []Step
	// Produced points, and what the gateway's kafka receiver accepted and
	// its exporter failed to send, after the drain.
	Produced, Accepted int64
	SendFailed         float64
	// Sink only: the agents' points received, and the processors' own.
	Received int64
	Derived  map[string]int64
	Unpriced float64
	HWM      int64
	Drained  time.Duration
	// IdleCores is the gateway's CPU with no data, telemetry read as often
	// as during the steps: the floor under every step's figure.
	IdleCores float64
	// Lost says how the delivery check failed; nil when every point
	// produced was accepted and exported.
	Lost    error `json:"-"`
	LostMsg string
}

// Best is the highest sustained step.
func (r Ramp) Best() (Step, bool) {
	var best Step
	ok := false
	for _, s := range r.Steps {
		if s.Sustained && s.Rate > best.Rate {
			best, ok = s, true
		}
	}
	return best, ok
}

// Result is a whole run.
type Result struct {
	// Command is how the run was started, for the report.
	Command            string
	Opts               Options
	Date               time.Time
	Duration           time.Duration
	CPUs               int
	CPUModel           string
	LoadStart, LoadEnd string
	// PointsPerNode is the points of one node scrape, each its own series.
	PointsPerNode    int
	WatchedPerNode   int // series of a node scrape the anomaly processor watches
	Ramps            []Ramp
	PinnedGatewayCPU int
}

// gatewayInclude is the anomaly processor's include list in gateway.yaml,
// read from the file so that the reported count follows it.
func gatewayInclude(root string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(root, "distributions", "otelcol-acceltel", "gateway.yaml"))
	if err != nil {
		return nil, err
	}
	var cfg struct {
		Processors struct {
			Anomaly struct {
				Include []string `yaml:"include"`
			} `yaml:"anomaly"`
		} `yaml:"processors"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("gateway.yaml: %w", err)
	}
	return cfg.Processors.Anomaly.Include, nil
}

// Run drives every (exporter, variant) ramp of opts, one after the other,
// each against a fresh broker, gateway and destination, in subtests of t.
func Run(t *testing.T, opts Options) *Result {
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	ensureCollector(t, root)
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	include, err := gatewayInclude(root)
	if err != nil {
		t.Fatal(err)
	}
	probe := NewNode(0, time.Now())
	res := &Result{
		Opts: opts, Date: time.Now(), CPUs: runtime.NumCPU(), CPUModel: cpuModel(), LoadStart: loadAvg(),
		PointsPerNode: probe.Points, WatchedPerNode: watched(probe, include),
	}
	if opts.Pin {
		if runtime.NumCPU() < 2 {
			t.Fatal("pinning needs two CPUs")
		}
		res.PinnedGatewayCPU = 1
	}
	for _, plan := range opts.Plans {
		for _, v := range plan.Variants {
			t.Run(plan.Exporter+"/"+v.Name, func(t *testing.T) {
				r := runRamp(t, root, opts, plan, v)
				res.Ramps = append(res.Ramps, r)
				if r.Lost != nil {
					t.Errorf("%s/%s lost data: %v", plan.Exporter, v.Name, r.Lost)
				}
			})
		}
	}
	res.Duration = time.Since(res.Date)
	res.LoadEnd = loadAvg()
	return res
}

// watched counts a node's series the anomaly processor keeps state for,
// given its include list.
func watched(n *Node, include []string) int {
	w := anomalyconfig.Watch{Include: include}
	count := 0
	for _, rm := range n.md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				if w.Includes(m.Name()) {
					count += pointCount(m)
				}
			}
		}
	}
	return count
}

// ensureCollector builds bin/otelcol-acceltel through make (incremental)
// and points the testbed at it. testbed.CollectorBinary finds the
// repository from its working directory when built with -trimpath, which
// is testbed/ for its own tests but not for this package's.
func ensureCollector(t *testing.T, root string) {
	if os.Getenv("ACCELTEL_COLLECTOR") != "" {
		return
	}
	out, err := exec.Command("make", "-C", root, "--no-print-directory", "bin/otelcol-acceltel").CombinedOutput()
	if err != nil {
		t.Fatalf("make bin/otelcol-acceltel: %v\n%s", err, out)
	}
	t.Setenv("ACCELTEL_COLLECTOR", root+"/bin/otelcol-acceltel")
}

// ramp is the state of one ramp.
type ramp struct {
	opts  Options
	gw    *testbed.Collector
	prom  *testbed.Prometheus
	sink  *Sink
	prod  *Producer
	adm   *kadm.Client
	group string
	ppn   int
	// itemPoints is the data points of one item of the exporter's queue.
	itemPoints float64
	// profile is where the steps' CPU profiles go (a path prefix), if anywhere.
	profile string
	pprof   string
}

func runRamp(t *testing.T, root string, opts Options, plan Plan, v Variant) Ramp {
	exporter := plan.Exporter
	out := Ramp{Plan: plan, Variant: v}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	kafka := testbed.StartKafka(t, "", Topic, opts.Partitions)
	defer kafka.Close()
	r := &ramp{opts: opts, group: "fleet-" + exporter + "-" + v.Name}
	gopts := GatewayOptions{Variant: v, Exporter: exporter, Brokers: kafka.Addr, Group: r.group, OneCPU: opts.Pin}
	if opts.ProfileDir != "" {
		gopts.Pprof = testbed.FreePort(t)
		r.profile = filepath.Join(opts.ProfileDir, exporter+"-"+v.Name)
	}
	switch exporter {
	case ExporterSink:
		sink, err := StartSink()
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Stop()
		r.sink, gopts.SinkAddr = sink, sink.Addr
	case ExporterPrometheus:
		r.prom = testbed.StartPrometheusWith(t, testbed.PrometheusOptions{RemoteWriteReceiver: true, NativeHistograms: true})
		defer func() { _ = r.prom.Stop(30 * time.Second) }()
		gopts.RemoteWrite = r.prom.RemoteWriteURL()
	default:
		t.Fatalf("unknown exporter %q", exporter)
	}
	r.gw = StartGateway(t, root, gopts)
	r.pprof = gopts.Pprof
	defer func() { _ = r.gw.Stop(30 * time.Second) }()
	if opts.Pin {
		if err := Pin(r.gw.Pid(), 1); err != nil {
			t.Fatal(err)
		}
	}

	admClient, err := kafka.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer admClient.Close()
	r.adm = kadm.NewClient(admClient)

	start := time.Now()
	nodes := make([]*Node, plan.Nodes)
	for i := range nodes {
		nodes[i] = NewNode(i, start)
	}
	r.ppn = nodes[0].Points
	// A queued export request carries a batch (the batch processor's
	// 8192 points) or else one record.
	r.itemPoints = float64(r.ppn)
	if slices.Contains(v.Processors, "batch") {
		r.itemPoints = 8192
	}
	prod, err := NewProducer(kafka, Topic, nodes)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	r.prod = prod
	if opts.Idle > 0 {
		idle, err := r.idle(ctx, opts.Idle)
		if err != nil {
			t.Fatal(err)
		}
		out.IdleCores = idle
	}
	prodCtx, stopProd := context.WithCancel(ctx)
	prodDone := make(chan error, 1)
	go func() { prodDone <- prod.Run(prodCtx) }()

	// The ramp: StartRate first (the side-by-side comparison), then 1.5×
	// a step until one falls behind, then once halfway (geometrically)
	// between that one and the last sustained one.
	rate, lastGood, bisected := plan.StartRate, 0.0, false
	for i := 0; i < opts.MaxSteps; i++ {
		st, err := r.measure(ctx, rate, i == 0)
		if err != nil {
			t.Fatalf("%s/%s at %.0f dp/s: %v", exporter, v.Name, rate, err)
		}
		out.Steps = append(out.Steps, st)
		opts.Logf("%s/%s: target %.0f dp/s, produced %.0f, consumed %.0f, gateway %.2f cores (%.3f per 10k dp/s), RSS %d MiB, lag %.0f pts (%+.0f/s), queue %.0f (%+.2f/s), agents+broker+sink %.2f cores, prometheus %.2f cores: %s",
			exporter, v.Name, st.Target, st.Rate, st.Consumed, st.Cores, st.CPUPer10k, st.RSS>>20, st.Lag, st.LagSlope, st.Queue, st.QueueSlope, st.GenCores, st.PromCores, verdict(st))
		if st.Rate < 0.93*st.Target {
			break // the simulated agents cannot go faster on this machine
		}
		switch {
		case st.Sustained && !bisected:
			lastGood, rate = st.Rate, rate*1.5
		case st.Sustained:
			i = opts.MaxSteps // the step above this one already failed
		case lastGood == 0:
			rate /= 2
		case !bisected:
			rate, bisected = math.Sqrt(rate*lastGood), true
		default:
			i = opts.MaxSteps
		}
	}

	// Drain: no more data; the gateway must catch up, and then everything
	// produced must have been accepted and exported.
	prod.SetRate(0)
	stopProd()
	if err := <-prodDone; err != nil {
		out.Lost = err
	}
	out.Produced = prod.Points()
	drainStart := time.Now()
	dctx, dcancel := context.WithTimeout(ctx, opts.Drain)
	defer dcancel()
	err = testbed.Eventually(dctx, 250*time.Millisecond, func() error { return r.caughtUp(dctx, out.Produced) })
	out.Drained = time.Since(drainStart)
	tel, terr := ReadTelemetry(ctx, r.gw.Telemetry)
	if terr == nil {
		out.Accepted = int64(tel.Sum("otelcol_receiver_accepted_metric_points", map[string]string{"receiver": "kafka"}))
		out.SendFailed = tel.Sum("otelcol_exporter_send_failed_metric_points", nil)
	}
	if st, perr := ReadProc(r.gw.Pid()); perr == nil {
		out.HWM = st.HWM
	}
	out.Lost = errors.Join(out.Lost, err, terr, r.check(ctx, &out, nodes))
	return out
}

// caughtUp is nil once the group has committed everything produced, the
// exporter's queue is empty and the receiver accepted every point.
func (r *ramp) caughtUp(ctx context.Context, produced int64) error {
	lag, err := Lag(ctx, r.adm, Topic, r.group)
	if err != nil {
		return err
	}
	tel, err := ReadTelemetry(ctx, r.gw.Telemetry)
	if err != nil {
		return err
	}
	queue := tel.Sum("otelcol_exporter_queue_size", nil)
	accepted := int64(tel.Sum("otelcol_receiver_accepted_metric_points", map[string]string{"receiver": "kafka"}))
	if lag > 0 || queue > 0 || accepted < produced {
		return fmt.Errorf("lag %d records, queue %.0f, accepted %d of %d points", lag, queue, accepted, produced)
	}
	if r.sink != nil {
		if got := r.sink.InputPoints(); got < produced {
			return fmt.Errorf("sink has %d of %d points", got, produced)
		}
	}
	return nil
}

// check compares what arrived with what was produced.
func (r *ramp) check(ctx context.Context, out *Ramp, nodes []*Node) error {
	var errs []error
	if out.Accepted != out.Produced {
		errs = append(errs, fmt.Errorf("the gateway's kafka receiver accepted %d points, %d were produced", out.Accepted, out.Produced))
	}
	if out.SendFailed > 0 {
		errs = append(errs, fmt.Errorf("the gateway's exporter failed to send %.0f points", out.SendFailed))
	}
	if r.sink != nil {
		_, input, derived := r.sink.Totals()
		out.Derived, out.Unpriced = derived, r.sink.Unpriced()
		scrapes := r.prod.Scrapes()
		for i, n := range nodes {
			out.Received += input[n.Name]
			if want := int64(scrapes[i] * n.Points); input[n.Name] != want {
				errs = append(errs, fmt.Errorf("%s: sink has %d of its points, %d scrapes of %d were produced", n.Name, input[n.Name], scrapes[i], n.Points))
			}
		}
		if len(input) != len(nodes) {
			errs = append(errs, fmt.Errorf("sink has points of %d hosts, want %d: %v", len(input), len(nodes), keys(input)))
		}
	}
	if r.prom != nil {
		// Every GPU's utilization, one series per engine, is in Prometheus.
		want := float64(len(nodes) * GPUsPerNode * 3)
		err := testbed.Eventually(ctx, 250*time.Millisecond, func() error {
			s, err := r.prom.Query(ctx, "count(hw_gpu_utilization_ratio)")
			if err != nil {
				return err
			}
			if len(s) != 1 || s[0].Value != want {
				return fmt.Errorf("count(hw_gpu_utilization_ratio) = %v, want %v", s, want)
			}
			return nil
		})
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func keys(m map[string]int64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// idle measures the gateway's CPU with no data for d, reading its
// telemetry and the group's lag as often as a step does.
func (r *ramp) idle(ctx context.Context, d time.Duration) (float64, error) {
	st0, err := ReadProc(r.gw.Pid())
	if err != nil {
		return 0, err
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for begin := time.Now(); time.Since(begin) < d; {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
		if _, err := ReadTelemetry(ctx, r.gw.Telemetry); err != nil {
			return 0, err
		}
		_, _ = Lag(ctx, r.adm, Topic, r.group) // the group may not exist yet
	}
	st1, err := ReadProc(r.gw.Pid())
	if err != nil {
		return 0, err
	}
	return (st1.CPU - st0.CPU) / st1.At.Sub(st0.At).Seconds(), nil
}

// measure runs the producer at target and measures one step.
func (r *ramp) measure(ctx context.Context, target float64, first bool) (Step, error) {
	r.prod.SetRate(target)
	wait := r.opts.Settle
	if first {
		wait = r.opts.Warmup
	}
	// A fixed stretch of load, not a wait for a condition: the new rate
	// must run a while before it is measured.
	if err := hold(ctx, wait); err != nil {
		return Step{}, err
	}
	if err := r.prod.Err(); err != nil {
		return Step{}, err
	}
	gw0, err := ReadProc(r.gw.Pid())
	if err != nil {
		return Step{}, err
	}
	me0, _ := ReadProc(os.Getpid())
	prom0 := r.promStat()
	tel0, err := ReadTelemetry(ctx, r.gw.Telemetry)
	if err != nil {
		return Step{}, err
	}
	p0 := r.prod.Sent()
	accepted := map[string]string{"receiver": "kafka"}
	profiled := make(chan error, 1)
	if r.profile != "" {
		path := fmt.Sprintf("%s-%.0f.pprof", r.profile, target)
		go func() { profiled <- r.cpuProfile(ctx, path, r.opts.Step) }()
	} else {
		profiled <- nil
	}
	var xs, lags, queues []float64
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	begin := time.Now()
	for time.Since(begin) < r.opts.Step {
		select {
		case <-ctx.Done():
			return Step{}, ctx.Err()
		case <-tick.C:
		}
		lag, err := Lag(ctx, r.adm, Topic, r.group)
		if err != nil {
			return Step{}, err
		}
		tel, err := ReadTelemetry(ctx, r.gw.Telemetry)
		if err != nil {
			return Step{}, err
		}
		xs = append(xs, time.Since(begin).Seconds())
		lags = append(lags, float64(lag)*float64(r.ppn))
		queues = append(queues, tel.Sum("otelcol_exporter_queue_size", nil))
	}
	gw1, err := ReadProc(r.gw.Pid())
	if err != nil {
		return Step{}, err
	}
	me1, _ := ReadProc(os.Getpid())
	prom1 := r.promStat()
	tel1, err := ReadTelemetry(ctx, r.gw.Telemetry)
	if err != nil {
		return Step{}, err
	}
	p1 := r.prod.Sent()
	wall := gw1.At.Sub(gw0.At).Seconds()
	st := Step{
		Seconds:    wall,
		Target:     target,
		Rate:       float64(p1-p0) / wall,
		Consumed:   (tel1.Sum("otelcol_receiver_accepted_metric_points", accepted) - tel0.Sum("otelcol_receiver_accepted_metric_points", accepted)) / wall,
		Cores:      (gw1.CPU - gw0.CPU) / wall,
		RSS:        gw1.RSS,
		HWM:        gw1.HWM,
		Lag:        lags[len(lags)-1],
		LagSlope:   slope(xs, lags),
		Queue:      queues[len(queues)-1],
		QueueSlope: slope(xs, queues),
		GenCores:   (me1.CPU - me0.CPU) / wall,
		PromCores:  (prom1.CPU - prom0.CPU) / wall,
	}
	if err := <-profiled; err != nil {
		return Step{}, fmt.Errorf("CPU profile: %w", err)
	}
	// What the gateway did in the step is what it consumed, which differs
	// from what was produced while a backlog builds up or drains.
	if st.Consumed > 0 {
		st.CPUPer10k = st.Cores / (st.Consumed / 1e4)
	}
	st.Sustained, st.Why = judge(st, r.itemPoints)
	return st, nil
}

// judge says whether a step was sustained: neither backlog grew by more
// than 5% of the rate. One is the consumer group's lag in Kafka (which saws
// up and down by about a second of data with the receiver's 1 s offset
// commits: the slope over the step averages that out); the other the
// exporter's queue, whose items are export requests of itemPoints points
// (and which must have grown by at least 3 items, so that one request's
// jitter at a low rate is not a trend).
func judge(st Step, itemPoints float64) (bool, string) {
	var why []string
	if st.LagSlope > 0.05*st.Rate {
		why = append(why, fmt.Sprintf("Kafka lag grew %.0f dp/s", st.LagSlope))
	}
	if st.QueueSlope*itemPoints > 0.05*st.Rate && st.QueueSlope*st.Seconds >= 3 {
		why = append(why, fmt.Sprintf("exporter queue grew %.1f/s to %.0f", st.QueueSlope, st.Queue))
	}
	if st.Rate < 0.93*st.Target {
		why = append(why, fmt.Sprintf("agents produced only %.0f of %.0f dp/s", st.Rate, st.Target))
	}
	return len(why) == 0, strings.Join(why, "; ")
}

func verdict(st Step) string {
	if st.Sustained {
		return "sustained"
	}
	return "NOT sustained: " + st.Why
}

func (r *ramp) promStat() ProcStat {
	if r.prom == nil {
		return ProcStat{}
	}
	st, _ := ReadProc(r.prom.Pid())
	return st
}

// cpuProfile saves a CPU profile of the gateway over d at path.
func (r *ramp) cpuProfile(ctx context.Context, path string, d time.Duration) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", r.pprof, int(d.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// hold lets d pass unless ctx ends first.
func hold(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
