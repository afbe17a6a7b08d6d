package fleet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// The results live in testbed/README.md between these lines; WriteReadme
// replaces what is between them.
const (
	beginMarker = "<!-- fleet-results:begin (written by TestFleet -fleet; edits here are overwritten) -->"
	endMarker   = "<!-- fleet-results:end -->"
)

// Goal of issue 12: per gateway core, with the anomaly and cost processors.
const (
	goalPerCore = 100000.0
	goalRatio   = 1.5
)

// Markdown renders the run: the machine, the fleet, a summary row per
// exporter and pipeline, CPU per data point by rate, and every step.
func (res *Result) Markdown(command string) string {
	var b strings.Builder
	o := res.Opts
	fmt.Fprintf(&b, "Measured %s UTC with `%s` (%.1f min).\n\n", res.Date.UTC().Format("2006-01-02 15:04"), command, res.Duration.Minutes())
	fmt.Fprintf(&b, "- Machine: %d CPUs (%s), load average %s at the start and %s at the end (the machine is shared).\n", res.CPUs, res.CPUModel, res.LoadStart, res.LoadEnd)
	if o.Pin {
		fmt.Fprintf(&b, "- Each gateway pinned to CPU %d with GOMAXPROCS=1; the simulated agents, the Kafka broker (kfake), the sink and Prometheus run where the scheduler puts them.\n", res.PinnedGatewayCPU)
	} else {
		b.WriteString("- Nothing pinned: the gateway (GOMAXPROCS = all CPUs), the simulated agents, the Kafka broker (kfake), the sink and Prometheus share the machine with whatever else runs on it.\n")
	}
	fmt.Fprintf(&b, "- Fleet: N nodes × %d GPUs, %d data points per node scrape (each its own series), one otlp_proto record per scrape keyed by node, zstd, %d partitions:\n", GPUsPerNode, res.PointsPerNode, o.Partitions)
	for _, p := range o.Plans {
		fmt.Fprintf(&b, "  - %s: N = %d (%d GPUs, %d series, %d watched by the anomaly processor), first step %.0f dp/s, where each node is scraped every %.1f s.\n",
			p.Exporter, p.Nodes, p.Nodes*GPUsPerNode, p.Nodes*res.PointsPerNode, res.WatchedPerNode*p.Nodes, p.StartRate, float64(res.PointsPerNode*p.Nodes)/p.StartRate)
	}
	fmt.Fprintf(&b, "- Ramp: the first step (%s of warm-up, then %s measured), then 1.5× a step (%s to settle, %s measured) until the Kafka lag or the exporter's queue grows by more than 5%% of the rate, then once between that rate and the last sustained one; at most %d steps.\n",
		o.Warmup, o.Step, o.Settle, o.Step, o.MaxSteps)
	b.WriteString("- CPU is the gateway process's utime+stime over the step; \"per 10k dp/s\" divides it by what its kafka receiver consumed. \"dp/s per core\" is the highest sustained rate over the gateway's CPU there: a linear extrapolation when the gateway used less than a core, which it did whenever the machine's other work, not the gateway, set the limit (see the cores column).\n\n")

	b.WriteString("| exporter | pipeline | N | idle cores | CPU per 10k dp/s at the first step | × baseline | × bare | RSS there | peak RSS | max sustained dp/s | gateway cores there | dp/s per core | first step behind | delivered |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range res.Ramps {
		ratio := func(to string) string {
			ref := res.find(r.Plan.Exporter, to)
			if ref == nil || r.Variant.Name == to || len(ref.Steps) == 0 || len(r.Steps) == 0 || ref.Steps[0].CPUPer10k == 0 {
				return "—"
			}
			return fmt.Sprintf("%.2f×", r.Steps[0].CPUPer10k/ref.Steps[0].CPUPer10k)
		}
		first, rss := "—", "—"
		if len(r.Steps) > 0 {
			first = fmt.Sprintf("%.3f cores (%.0f dp/s)", r.Steps[0].CPUPer10k, r.Steps[0].Consumed)
			rss = fmt.Sprintf("%d MiB", r.Steps[0].RSS>>20)
		}
		best, ok := r.Best()
		maxRate, cores, perCore := "none", "—", "—"
		if ok {
			maxRate = fmt.Sprintf("%.0f", best.Rate)
			if r.behind() == nil {
				maxRate = "≥ " + maxRate + " (no step behind)"
			}
			cores = fmt.Sprintf("%.2f", best.Cores)
			perCore = fmt.Sprintf("%.0f", best.Rate/best.Cores)
		}
		behind := "—"
		if s := r.behind(); s != nil {
			behind = fmt.Sprintf("%.0f dp/s, %.2f cores: %s", s.Target, s.Cores, s.Why)
		}
		delivered := "all"
		if msg := r.lost(); msg != "" {
			delivered = "**LOST**: " + strings.ReplaceAll(msg, "\n", "; ")
		}
		fmt.Fprintf(&b, "| %s | %s (%s) | %d | %.3f | %s | %s | %s | %s | %d MiB | %s | %s | %s | %s | %s |\n", r.Plan.Exporter, r.Variant.Name,
			strings.Join(orNone(r.Variant.Processors), ", "), r.Plan.Nodes, r.IdleCores, first, ratio(Baseline.Name), ratio(Bare.Name), rss, r.HWM>>20, maxRate, cores, perCore, behind, delivered)
	}
	b.WriteString("\n" + res.goal() + "\n\n")

	b.WriteString("CPU per 10k dp/s at each rate every pipeline of an exporter ran (the ramps share their rates), sustained or not:\n\n")
	b.WriteString("| exporter | target dp/s |")
	names := res.variantNames()
	for _, n := range names {
		b.WriteString(" " + n + " |")
	}
	b.WriteString(" full × baseline | full × bare |\n|---|---|")
	for range names {
		b.WriteString("---|")
	}
	b.WriteString("---|---|\n")
	for _, p := range o.Plans {
		for _, target := range res.commonTargets(p.Exporter) {
			fmt.Fprintf(&b, "| %s | %.0f |", p.Exporter, target)
			for _, n := range names {
				if s := res.stepAt(p.Exporter, n, target); s != nil {
					fmt.Fprintf(&b, " %.3f |", s.CPUPer10k)
				} else {
					b.WriteString(" — |")
				}
			}
			for _, ref := range []string{Baseline.Name, Bare.Name} {
				f, r := res.stepAt(p.Exporter, Full.Name, target), res.stepAt(p.Exporter, ref, target)
				if f != nil && r != nil && r.CPUPer10k > 0 {
					fmt.Fprintf(&b, " %.2f× |", f.CPUPer10k/r.CPUPer10k)
				} else {
					b.WriteString(" — |")
				}
			}
			b.WriteString("\n")
		}
	}

	b.WriteString("\nEvery step (target and produced rate; what the gateway's kafka receiver accepted; gateway CPU; Kafka lag in data points at the end and its growth; exporter queue; the CPU of everything else):\n\n")
	b.WriteString("| exporter | pipeline | target dp/s | produced | consumed | gateway cores | per 10k dp/s | RSS | lag (growth/s) | queue (growth/s) | agents+broker+sink | Prometheus | verdict |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range res.Ramps {
		for _, s := range r.Steps {
			v := "sustained"
			if !s.Sustained {
				v = "behind: " + s.Why
			}
			prom := "—"
			if r.Plan.Exporter == ExporterPrometheus {
				prom = fmt.Sprintf("%.2f", s.PromCores)
			}
			fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f | %.0f | %.2f | %.3f | %d MiB | %.0f (%+.0f) | %.0f (%+.1f) | %.2f | %s | %s |\n",
				r.Plan.Exporter, r.Variant.Name, s.Target, s.Rate, s.Consumed, s.Cores, s.CPUPer10k, s.RSS>>20, s.Lag, s.LagSlope, s.Queue, s.QueueSlope, s.GenCores, prom, v)
		}
	}
	return b.String()
}

// behind is the ramp's first step that fell behind, if any.
func (r Ramp) behind() *Step {
	for i := range r.Steps {
		if !r.Steps[i].Sustained {
			return &r.Steps[i]
		}
	}
	return nil
}

// lost is why the delivery check failed; empty when everything arrived.
func (r Ramp) lost() string {
	if r.Lost != nil {
		return r.Lost.Error()
	}
	return r.LostMsg
}

// variantNames are the pipelines of the run, in order of first appearance.
func (res *Result) variantNames() []string {
	var out []string
	for _, r := range res.Ramps {
		if !slices.Contains(out, r.Variant.Name) {
			out = append(out, r.Variant.Name)
		}
	}
	return out
}

// commonTargets are the target rates every ramp into exporter measured.
func (res *Result) commonTargets(exporter string) []float64 {
	var out []float64
	first := true
	for _, r := range res.Ramps {
		if r.Plan.Exporter != exporter {
			continue
		}
		var mine []float64
		for _, s := range r.Steps {
			if first || slices.Contains(out, s.Target) {
				mine = append(mine, s.Target)
			}
		}
		out, first = mine, false
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (res *Result) stepAt(exporter, variant string, target float64) *Step {
	r := res.find(exporter, variant)
	if r == nil {
		return nil
	}
	for i := range r.Steps {
		if r.Steps[i].Target == target {
			return &r.Steps[i]
		}
	}
	return nil
}

// goal states issue 12's goal against the sink figures, which measure the
// gateway rather than the Prometheus next to it.
func (res *Result) goal() string {
	f, base := res.find(ExporterSink, Full.Name), res.find(ExporterSink, Baseline.Name)
	if f == nil || base == nil || len(f.Steps) == 0 || len(base.Steps) == 0 {
		return "Goal (≥ 100k dp/s per core with anomaly and cost, ≤ 1.5× the baseline's CPU per point): not evaluated (needs the sink's baseline and full ramps)."
	}
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "**not met**"
	}
	perCore := 0.0
	if best, ok := f.Best(); ok {
		perCore = best.Rate / best.Cores
	}
	first := f.Steps[0].CPUPer10k / base.Steps[0].CPUPer10k
	out := fmt.Sprintf("Goal, against the sink figures: ≥ %.0fk dp/s per core with anomaly and cost on: %s (%.0f); ≤ %.1f× the baseline's CPU per data point: %s at the first step (%.2f×)",
		goalPerCore/1000, met(perCore >= goalPerCore), perCore, goalRatio, met(first <= goalRatio), first)
	// And at the highest rate both sustained, where fixed costs weigh least.
	for i := len(f.Steps) - 1; i >= 0; i-- {
		s := f.Steps[i]
		if bs := res.stepAt(ExporterSink, Baseline.Name, s.Target); s.Sustained && bs != nil && bs.Sustained && bs.CPUPer10k > 0 && i > 0 {
			r := s.CPUPer10k / bs.CPUPer10k
			out += fmt.Sprintf(", %s at %.0f dp/s, the highest rate both sustained (%.2f×)", met(r <= goalRatio), s.Target, r)
			break
		}
	}
	return out + "."
}

func (res *Result) find(exporter, variant string) *Ramp {
	for i := range res.Ramps {
		if res.Ramps[i].Plan.Exporter == exporter && res.Ramps[i].Variant.Name == variant {
			return &res.Ramps[i]
		}
	}
	return nil
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"no processor"}
	}
	return s
}

// WriteReadme puts table between the markers of the README at path,
// replacing what was there; the markers must be there, once each.
func WriteReadme(path, table string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := replaceBetween(raw, table)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.WriteFile(path, out, 0o644)
}

func replaceBetween(raw []byte, table string) ([]byte, error) {
	if bytes.Count(raw, []byte(beginMarker)) != 1 || bytes.Count(raw, []byte(endMarker)) != 1 {
		return nil, fmt.Errorf("want one %q and one %q", beginMarker, endMarker)
	}
	i := bytes.Index(raw, []byte(beginMarker)) + len(beginMarker)
	j := bytes.Index(raw, []byte(endMarker))
	if j < i {
		return nil, fmt.Errorf("%q comes before %q", endMarker, beginMarker)
	}
	var out bytes.Buffer
	out.Write(raw[:i])
	out.WriteString("\n" + strings.TrimSpace(table) + "\n")
	out.Write(raw[j:])
	return out.Bytes(), nil
}

// SaveJSON writes the result, to render it again later (LoadJSON).
func (res *Result) SaveJSON(path string) error {
	for i := range res.Ramps {
		res.Ramps[i].LostMsg = res.Ramps[i].lost()
	}
	raw, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}

// LoadJSON reads a result SaveJSON wrote.
func LoadJSON(path string) (*Result, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var res Result
	return &res, json.Unmarshal(raw, &res)
}
