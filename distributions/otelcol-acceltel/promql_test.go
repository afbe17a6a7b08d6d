package otelcolacceltel_test

// Every PromQL expression shipped here (Grafana dashboards, Prometheus
// rules) parses, and names only series, labels and label values this
// distribution produces (names_test.go derives them).

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// promqlParser is Prometheus' own parser with its default (stable) feature
// set: nothing experimental, so the expressions also run on the Debian
// package's Prometheus 2.42 that the end-to-end tests use.
var promqlParser = parser.NewParser(parser.Options{})

// grafanaVar matches $var, ${var} and ${var:format}; Grafana's interval
// variables become durations, the others a label value.
var grafanaVar = regexp.MustCompile(`\$\{?(__rate_interval|__interval|__range|__range_s|\w+)(?::\w+)?\}?`)

func substituteGrafana(expr string) string {
	return grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		switch strings.Trim(m, "${}") {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		default:
			return "x"
		}
	})
}

// literalAlternation is a regexp that is only literal words joined by |:
// each word must then be a value the label can take.
var literalAlternation = regexp.MustCompile(`^[A-Za-z0-9_.]+(\|[A-Za-z0-9_.]+)*$`)

// scrapeJobs are the job_name of every prometheus receiver in a shipped
// config: the job label of the collectors' own metrics.
func scrapeJobs(t *testing.T) map[string]bool {
	t.Helper()
	re := regexp.MustCompile(`(?m)^\s*-?\s*job_name:\s*"?([\w.-]+)"?`)
	jobs := map[string]bool{}
	for _, cfg := range shippedConfigs(t) {
		b, err := os.ReadFile(cfg)
		require.NoError(t, err)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			jobs[m[1]] = true
		}
	}
	return jobs
}

// checker checks expressions against what the distribution emits.
type checker struct {
	e    emitted
	jobs map[string]bool
}

func newChecker(t *testing.T) checker {
	return checker{e: emittedNames(t), jobs: scrapeJobs(t)}
}

// check returns every problem of one expression.
func (c checker) check(expr string) []string {
	ast, err := promqlParser.ParseExpr(substituteGrafana(expr))
	if err != nil {
		return []string{fmt.Sprintf("does not parse: %v", err)}
	}
	var probs []string
	add := func(format string, a ...any) { probs = append(probs, fmt.Sprintf(format, a...)) }
	label := func(l, where string) {
		if _, ok := c.e.labels[l]; !ok {
			add("label %q (%s) is on no series of this distribution", l, where)
		}
	}
	parser.Inspect(ast, func(node parser.Node, path []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			name := n.Name
			for _, m := range n.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			s, ok := c.e.metrics[name]
			switch {
			case name == "":
				add("selector %s names no metric", n)
			case !ok:
				add("metric %q is not emitted by this distribution", name)
			}
			for _, m := range n.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					continue
				}
				label(m.Name, "matcher of "+name)
				c.checkValue(m, name, add)
			}
			if ok && !s.counter {
				for _, p := range path {
					if call, isCall := p.(*parser.Call); isCall && slices.Contains([]string{"rate", "irate", "increase", "resets"}, call.Func.Name) {
						add("%s() of %q, which is not a counter", call.Func.Name, name)
					}
				}
			}
			if strings.HasSuffix(name, "_bucket") {
				for _, p := range path {
					if agg, isAgg := p.(*parser.AggregateExpr); isAgg && !agg.Without && !slices.Contains(agg.Grouping, "le") {
						add("%s of %q drops le: histogram_quantile needs it", agg.Op, name)
					}
				}
			}
		case *parser.AggregateExpr:
			for _, l := range n.Grouping {
				label(l, n.Op.String()+" grouping")
			}
		case *parser.BinaryExpr:
			if n.VectorMatching != nil {
				for _, l := range n.VectorMatching.MatchingLabels {
					label(l, "on/ignoring")
				}
				for _, l := range n.VectorMatching.Include {
					label(l, "group_left/group_right")
				}
			}
		}
		return nil
	})
	return probs
}

// checkValue checks a matcher's value where the label's values are known:
// enum attributes, job (a scrape job of a shipped config), the watched
// metric of the anomaly processor, the receiver of acceltel_receiver_available.
func (c checker) checkValue(m *labels.Matcher, metric string, add func(string, ...any)) {
	var values []string
	switch m.Type {
	case labels.MatchEqual, labels.MatchNotEqual:
		values = []string{m.Value}
	default:
		if !literalAlternation.MatchString(m.Value) || m.Value == "x" {
			return // a real pattern, or a Grafana variable
		}
		values = strings.Split(m.Value, "|")
	}
	var known map[string]bool
	switch m.Name {
	case "job":
		known = c.jobs
	case "acceltel_anomaly_metric":
		known = c.e.otel
	case "acceltel_receiver":
		known = c.e.recv
	default:
		known = c.e.enum(m.Name)
	}
	if known == nil {
		return
	}
	for _, v := range values {
		if v != "" && v != "x" && !known[v] {
			add("%s{%s} can never be %q", metric, m.Name, v)
		}
	}
}

// dashboardExprs are every expression of a Grafana dashboard: panel targets
// (rows' panels included) and query variables.
func dashboardExprs(t *testing.T, path string) (uid string, exprs map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var d struct {
		UID        string  `json:"uid"`
		Title      string  `json:"title"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string          `json:"name"`
				Type       string          `json:"type"`
				Query      json.RawMessage `json:"query"`
				Datasource any             `json:"datasource"`
			} `json:"list"`
		} `json:"templating"`
	}
	require.NoError(t, json.Unmarshal(b, &d), path)
	require.NotEmpty(t, d.UID, path)
	require.NotEmpty(t, d.Title, path)
	exprs = map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			require.NotEmpty(t, p.Targets, "%s: panel %q queries nothing", path, p.Title)
			require.NotEmpty(t, p.Description, "%s: panel %q says nothing about what it shows", path, p.Title)
			for _, tg := range p.Targets {
				require.NotEmpty(t, strings.TrimSpace(tg.Expr), "%s: panel %q target %s", path, p.Title, tg.RefID)
				require.Equal(t, "${datasource}", tg.Datasource.UID, "%s: panel %q: every query goes to the dashboard's Prometheus variable", path, p.Title)
				exprs[fmt.Sprintf("panel %q %s", p.Title, tg.RefID)] = tg.Expr
			}
		}
	}
	walk(d.Panels)
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		require.NoError(t, json.Unmarshal(v.Query, &q), "%s: variable %s", path, v.Name)
		if m := labelValues.FindStringSubmatch(q.Query); m != nil {
			// label_values(selector, label): the selector must carry the label.
			exprs["variable "+v.Name] = fmt.Sprintf("count by (%s) (%s)", m[2], m[1])
			continue
		}
		exprs["variable "+v.Name] = strings.TrimSuffix(strings.TrimPrefix(q.Query, "query_result("), ")")
	}
	return d.UID, exprs
}

type panel struct {
	Type        string  `json:"type"`
	Title       string  `json:"title"`
	Description string  `json:"description"`
	Panels      []panel `json:"panels"`
	Targets     []struct {
		Expr       string `json:"expr"`
		RefID      string `json:"refId"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
}

func TestDashboards(t *testing.T) {
	c := newChecker(t)
	files, err := filepath.Glob("dashboards/*.json")
	require.NoError(t, err)
	// The dashboards DEPLOY.md promises.
	for _, want := range []string{"gpu-fleet", "nccl", "infiniband", "cpu-io-stalls", "anomalies", "cost", "collectors"} {
		require.Contains(t, files, filepath.Join("dashboards", want+".json"))
	}
	uids := map[string]string{}
	for _, f := range files {
		uid, exprs := dashboardExprs(t, f)
		require.Equal(t, "acceltel-"+strings.TrimSuffix(filepath.Base(f), ".json"), uid, "%s: uid follows the file name", f)
		require.NotContains(t, uids, uid, "%s and %s share a uid", f, uids[uid])
		uids[uid] = f
		require.NotEmpty(t, exprs, f)
		for where, expr := range exprs {
			for _, p := range c.check(expr) {
				t.Errorf("%s: %s: %s\n\t%s", f, where, p, expr)
			}
		}
	}
}

func TestRules(t *testing.T) {
	c := newChecker(t)
	files := ruleFiles(t)
	alerts := map[string]string{}
	for _, f := range files {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
		require.Empty(t, errs, "%s: %v", f, errors.Join(errs...))
		for _, g := range groups.Groups {
			require.True(t, strings.HasPrefix(g.Name, "acceltel."), "%s: group %s", f, g.Name)
			for _, r := range g.Rules {
				name := r.Alert + r.Record
				if r.Alert != "" {
					require.NotContains(t, alerts, r.Alert, "%s: alert %s is also in %s", f, r.Alert, alerts[r.Alert])
					alerts[r.Alert] = f
					assert.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], "%s: %s: severity", f, name)
					assert.NotEmpty(t, r.Annotations["summary"], "%s: %s: summary", f, name)
					assert.NotEmpty(t, r.Annotations["description"], "%s: %s: description", f, name)
				}
				for _, p := range c.check(r.Expr) {
					t.Errorf("%s: %s: %s\n\t%s", f, name, p, r.Expr)
				}
			}
		}
	}
	// The alerts DEPLOY.md promises, one per concern of the brief.
	for _, a := range []string{
		"AcceltelGPUXidCritical", "AcceltelGPUThrottled", "AcceltelGPUUncorrectableECC",
		"AcceltelGPUPCIeLinkWidthDegraded", "AcceltelGPUNVLinkErrors", "AcceltelStraggler",
		"AcceltelIdleGPUCost", "AcceltelReceiverUnavailable", "AcceltelExporterQueueNearlyFull",
		"AcceltelExporterSendFailing", "AcceltelExporterDropping",
	} {
		assert.Contains(t, alerts, a)
	}
}

func ruleFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("rules/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

// TestPromtoolCheckRules runs Prometheus' own checker (the Debian package
// prometheus ships /usr/bin/promtool; CI and `make deps` install it).
func TestPromtoolCheckRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not on PATH; CI installs the Debian package prometheus (.ci/run)")
		}
		t.Skip("promtool is not on PATH: apt-get install --no-install-recommends prometheus (CI installs it)")
	}
	out, err := exec.Command(promtool, append([]string{"check", "rules"}, ruleFiles(t)...)...).CombinedOutput()
	require.NoError(t, err, "%s", out)

	// And promtool does fail on a broken rule.
	bad := filepath.Join(t.TempDir(), "bad.rules.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("groups:\n  - name: bad\n    rules:\n      - alert: Bad\n        expr: rate(hw_power_watts[5m]\n"), 0o600))
	out, err = exec.Command(promtool, "check", "rules", bad).CombinedOutput()
	require.Error(t, err, "%s", out)
}

// TestCheckerCatchesMistakes feeds the checker the mistakes it exists for:
// the fixtures in testdata/ hold one of each, and each must be reported.
func TestCheckerCatchesMistakes(t *testing.T) {
	c := newChecker(t)

	_, exprs := dashboardExprs(t, "testdata/bad-dashboard.json")
	got := map[string][]string{}
	for where, expr := range exprs {
		got[where] = c.check(expr)
	}
	wantDash := map[string]string{
		`panel "British spelling" A`:    `metric "hw_gpu_utilisation_ratio" is not emitted`,
		`panel "Unit suffix missing" A`: `metric "hw_power" is not emitted`,
		`panel "Invented label" A`:      `label "hw_uuid"`,
		`panel "Impossible value" A`:    `can never be "hot"`,
		`panel "Rate of a gauge" A`:     `rate() of "hw_temperature_celsius", which is not a counter`,
		`panel "Quantile without le" A`: `drops le`,
		`panel "Does not parse" A`:      `does not parse`,
		`variable node`:                 `metric "hw_gpu_util" is not emitted`,
		`panel "Unknown scrape job" A`:  `can never be "otelcol-agent"`,
	}
	for where, want := range wantDash {
		require.Contains(t, got, where)
		assert.Condition(t, func() bool {
			for _, p := range got[where] {
				if strings.Contains(p, want) {
					return true
				}
			}
			return false
		}, "%s: want a problem containing %q, got %q", where, want, got[where])
	}
	assert.Empty(t, got[`panel "Correct" A`], "the control query is correct")

	groups, errs := rulefmt.ParseFile("testdata/bad.rules.yaml", false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
	require.Empty(t, errs)
	var probs []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			probs = append(probs, c.check(r.Expr)...)
		}
	}
	assert.Contains(t, strings.Join(probs, "\n"), `metric "nvidia_gpu_xid_errors" is not emitted`)
	assert.Contains(t, strings.Join(probs, "\n"), `acceltel_receiver_available{acceltel_receiver} can never be "gpu"`)
}
