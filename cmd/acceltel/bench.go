package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/acceltel/acceltel/plugins/sdk"
)

type benchFlags struct {
	plugin, benchmark, sha256 string
	params                    []string
	json                      bool
	timeout                   time.Duration
}

func newBenchCommand() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench --plugin PATH [--benchmark NAME] [--param k=v]... [--json]",
		Short: "Run a benchmark plugin once and print its measurements",
		Long: "Start a benchmark plugin the way the benchmark receiver does (go-plugin, gRPC, AutoMTLS), run one\n" +
			"benchmark and print its measurements as a table or JSON. Without --benchmark, list what the plugin offers.\n" +
			"--sha256 checks the binary first, as the receiver always does.\n" +
			"Exit status: 0 on success, 1 when the run failed, 2 for invalid input or a plugin that would not start.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, &f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.plugin, "plugin", "", "path of the plugin binary (required)")
	fl.StringVar(&f.benchmark, "benchmark", "", "benchmark to run")
	fl.StringVar(&f.sha256, "sha256", "", "expected SHA-256 of the binary, in hex")
	fl.StringArrayVar(&f.params, "param", nil, "benchmark parameter as name=value (repeatable)")
	fl.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Minute, "limit for the run; the plugin is killed after it")
	return cmd
}

func runBench(cmd *cobra.Command, f *benchFlags) error {
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	fail := func(code int, format string, a ...any) error {
		fmt.Fprintf(errOut, "acceltel bench: "+format+"\n", a...)
		return exitError{code}
	}
	if f.plugin == "" {
		return fail(2, "--plugin is required")
	}
	params := map[string]string{}
	for _, p := range f.params {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return fail(2, "--param %q: want name=value", p)
		}
		params[k] = v
	}
	conn, err := sdk.Open(sdk.HostConfig{Path: f.plugin, SHA256: f.sha256, InsecureSkipChecksum: f.sha256 == ""})
	if err != nil {
		return fail(2, "%v", err)
	}
	defer conn.Kill()
	ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
	defer cancel()
	info, err := conn.Describe(ctx)
	if err != nil {
		return fail(2, "describe: %v", err)
	}
	if f.benchmark == "" {
		return printBenchmarks(cmd, info)
	}
	b, ok := info.Find(f.benchmark)
	if !ok {
		return fail(2, "plugin %s has no benchmark %q (run without --benchmark for the list)", info.Name, f.benchmark)
	}
	if _, err := sdk.CheckParams(b, params); err != nil {
		return fail(2, "%v", err)
	}
	var ms []sdk.Measurement
	err = conn.Run(ctx, b.Name, params, func(m sdk.Measurement) { ms = append(ms, m) })
	if f.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if e := enc.Encode(jsonMeasurements(ms)); e != nil {
			return e
		}
	} else {
		printMeasurements(cmd, ms)
	}
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
			return fail(1, "no result within %s: %v", f.timeout, err)
		}
		return fail(1, "run: %v", err)
	}
	return nil
}

type jsonMeasurement struct {
	Name       string            `json:"name"`
	Unit       string            `json:"unit"`
	Value      float64           `json:"value"`
	Peak       float64           `json:"reference_peak,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	Seconds    float64           `json:"duration_seconds"`
}

func jsonMeasurements(ms []sdk.Measurement) []jsonMeasurement {
	out := make([]jsonMeasurement, 0, len(ms))
	for _, m := range ms {
		out = append(out, jsonMeasurement{m.Name, m.Unit, m.Value, m.Peak, m.Attributes, m.Duration.Seconds()})
	}
	return out
}

func printMeasurements(cmd *cobra.Command, ms []sdk.Measurement) {
	w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "MEASUREMENT\tVALUE\tUNIT\tEFFICIENCY\tDURATION\tATTRIBUTES")
	for _, m := range ms {
		eff := "-"
		if m.Peak > 0 {
			eff = fmt.Sprintf("%.1f%%", 100*m.Value/m.Peak)
		}
		var attrs []string
		for _, k := range slices.Sorted(maps.Keys(m.Attributes)) {
			attrs = append(attrs, k+"="+m.Attributes[k])
		}
		fmt.Fprintf(w, "%s\t%.4g\t%s\t%s\t%s\t%s\n", m.Name, m.Value, m.Unit, eff, m.Duration.Round(time.Millisecond), strings.Join(attrs, " "))
	}
	_ = w.Flush() // the command's own output: nothing to do on failure
}

func printBenchmarks(cmd *cobra.Command, info sdk.Info) error {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "%s %s\n", info.Name, info.Version)
	for _, b := range info.Benchmarks {
		fmt.Fprintf(out, "\n%s: %s\n", b.Name, b.Description)
		if len(b.RequiredCapabilities) > 0 {
			fmt.Fprintf(out, "  requires: %s\n", strings.Join(b.RequiredCapabilities, ", "))
		}
		for _, p := range b.Parameters {
			fmt.Fprintf(out, "  --param %s=%s\t%s\n", p.Name, p.Default, p.Description)
		}
	}
	return nil
}
