package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/acceltel/acceltel/internal/planner"
)

// parseLayout reads --current: comma-separated key=value pairs, the keys
// those of the table (tp, pp, dp, cp, vpp, zero, recompute, mb). tp, pp and
// mb are required; dp defaults to what the GPUs leave, cp and vpp to 1,
// zero to 0 and recompute to none.
func parseLayout(s string, gpus int) (planner.Layout, error) {
	l := planner.Layout{CP: 1, VirtualStages: 1, Recompute: planner.RecomputeNone}
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return l, fmt.Errorf("--current %q: %q is not key=value", s, kv)
		}
		if seen[k] {
			return l, fmt.Errorf("--current %q: %s given twice", s, k)
		}
		seen[k] = true
		if k == "recompute" {
			r, err := planner.ParseRecompute(v)
			if err != nil {
				return l, fmt.Errorf("--current: %w", err)
			}
			l.Recompute = r
			continue
		}
		dst := map[string]*int{"tp": &l.TP, "pp": &l.PP, "dp": &l.DP, "cp": &l.CP, "vpp": &l.VirtualStages, "zero": &l.ZeRO, "mb": &l.MicroBatch}[k]
		if dst == nil {
			return l, fmt.Errorf("--current %q: unknown key %q (want tp, pp, dp, cp, vpp, zero, recompute, mb)", s, k)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return l, fmt.Errorf("--current %q: %s=%q is not an integer", s, k, v)
		}
		*dst = n
	}
	for _, k := range []string{"tp", "pp", "mb"} {
		if !seen[k] {
			return l, fmt.Errorf("--current %q: %s is required", s, k)
		}
	}
	if !seen["dp"] && l.TP > 0 && l.PP > 0 && l.CP > 0 {
		l.DP = gpus / (l.TP * l.PP * l.CP)
	}
	return l, nil
}

// printCurrent compares the job's current layout with the best one found;
// why is how the current one loses, empty when it does not.
func printCurrent(out io.Writer, cur, best *planner.Evaluation, why string) {
	fmt.Fprintf(out, "\ncurrent %v: %.1f ms, %.1f GiB/GPU, %.1f TFLOP/s: ", cur.Layout, 1e3*cur.Time.Total, cur.Memory.Total/(1<<30), cur.TFLOPSPerGPU)
	switch {
	case !cur.Fits:
		fmt.Fprintf(out, "does not fit, it needs %s\n", cur.MemoryBreakdown())
	case best == nil:
		fmt.Fprintln(out, "nothing else fits")
	case why == "":
		fmt.Fprintln(out, "as fast as the best")
	default:
		fmt.Fprintf(out, "the best is %.2f× faster; the current one is %s\n", cur.Time.Total/best.Time.Total, why)
	}
}
