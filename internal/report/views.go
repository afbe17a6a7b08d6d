package report

import (
	"cmp"
	"fmt"
	"html/template"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Severity orders findings: worst first.
type Severity int

// Severities of a Finding.
const (
	Info Severity = iota + 1
	Warning
	Critical
)

func (s Severity) String() string {
	switch s {
	case Critical:
		return "critical"
	case Warning:
		return "warning"
	}
	return "info"
}

// Finding is one row of the summary table.
type Finding struct {
	Severity Severity
	Kind     string // anomaly, straggler, throttling, xid, ecc, idle cost, plan
	Subject  string
	Detail   string
	When     string
	Section  string // anchor of the section with the context
	score    float64
}

// Section is one part of the page; Empty says in one line why it has no
// charts.
type Section struct {
	ID, Title string
	Note      string
	Empty     string
	Body      []template.HTML
}

// Page is what the template renders.
type Page struct {
	Title    string
	Source   string
	Range    string
	Live     bool
	Sampling string
	Summary  []Finding
	Sections []Section
	Stats    string
}

// gpu identifies one GPU: host and hw.id.
type gpu struct{ host, id string }

func gpuOf(l Labels) (gpu, bool) {
	g := gpu{host: l[aHost], id: l[aHwID]}
	return g, g.id != "" || g.host != ""
}

// BuildPage turns a Dataset into the page's views.
func BuildPage(d *Dataset, title string) *Page {
	p := &Page{Title: title, Source: d.Source, Live: d.Live}
	p.Range = fmt.Sprintf("%s to %s UTC", d.From.UTC().Format("2006-01-02 15:04:05"), d.To.UTC().Format("2006-01-02 15:04:05"))
	p.Sampling = fmt.Sprintf("Time is shown in %d columns of %s.", d.Columns, d.Step)
	if d.Resolution > 0 && d.Step > d.Resolution {
		p.Sampling = fmt.Sprintf("Downsampled: the data comes every %s; each column is %s (mean per column in heatmaps and lines, maximum for flags, increase for counters).",
			d.Resolution, d.Step)
	}
	p.Stats = fmt.Sprintf("%d points in %d series read", d.Points, len(d.Series))
	if d.Dropped > 0 {
		p.Stats += fmt.Sprintf("; %d points of further series dropped at the series cap", d.Dropped)
	}
	v := &viewer{d: d, labels: gpuLabels(d)}
	p.Sections = []Section{
		v.fleet(), v.events(), v.nccl(), v.infiniband(), v.latency(), v.anomalies(), v.cost(), v.plan(),
	}
	p.Summary = v.findings
	slices.SortStableFunc(p.Summary, func(a, b Finding) int {
		if c := cmp.Compare(b.Severity, a.Severity); c != 0 {
			return c
		}
		return cmp.Compare(b.score, a.score)
	})
	return p
}

type viewer struct {
	d        *Dataset
	labels   map[gpu]string
	findings []Finding
}

func (v *viewer) add(f Finding) { v.findings = append(v.findings, f) }

// gpuLabels names each GPU "host/gpuN" (its NVML index where some series
// carries it, else the end of its UUID), in host then index order.
func gpuLabels(d *Dataset) map[gpu]string {
	out := map[gpu]string{}
	for _, s := range d.Series {
		g, ok := gpuOf(s.Labels)
		if !ok || g.id == "" {
			continue
		}
		if idx := s.Labels[aGPUIndex]; idx != "" {
			out[g] = fmt.Sprintf("%s/gpu%s", g.host, idx)
		} else if _, seen := out[g]; !seen {
			id := g.id
			if len(id) > 8 {
				id = id[len(id)-8:]
			}
			out[g] = fmt.Sprintf("%s/%s", g.host, id)
		}
	}
	return out
}

func (v *viewer) gpuName(g gpu) string {
	if l, ok := v.labels[g]; ok {
		return l
	}
	if g.id == "" {
		return g.host
	}
	return g.host + "/" + g.id
}

// sortedGPUs orders GPUs by host, then index (numerically), then id.
func (v *viewer) sortedGPUs(gs []gpu) {
	slices.SortFunc(gs, func(a, b gpu) int {
		if c := cmp.Compare(a.host, b.host); c != 0 {
			return c
		}
		return naturalCompare(v.gpuName(a), v.gpuName(b))
	})
}

// naturalCompare compares strings with their digit runs as numbers, so
// gpu2 sorts before gpu10.
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitPrefix(a), digitPrefix(b)
		if da != "" && db != "" {
			na, _ := strconv.Atoi(da)
			nb, _ := strconv.Atoi(db)
			if na != nb {
				return cmp.Compare(na, nb)
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digitPrefix(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// perGPU averages, per column, the series of a metric that pass keep,
// per GPU (several series of one GPU, e.g. two sensors, are averaged).
func (v *viewer) perGPU(metric string, keep func(Labels) bool) map[gpu][]float64 {
	out := map[gpu][]float64{}
	n := map[gpu][]int{}
	for _, s := range v.d.ByMetric(metric) {
		if s.Mean == nil || (keep != nil && !keep(s.Labels)) {
			continue
		}
		g, ok := gpuOf(s.Labels)
		if !ok {
			continue
		}
		if out[g] == nil {
			out[g], n[g] = make([]float64, len(s.Mean)), make([]int, len(s.Mean))
		}
		for i, x := range s.Mean {
			if !math.IsNaN(x) {
				out[g][i] += x
				n[g][i]++
			}
		}
	}
	for g, vals := range out {
		for i := range vals {
			if n[g][i] == 0 {
				vals[i] = math.NaN()
			} else {
				vals[i] /= float64(n[g][i])
			}
		}
	}
	return out
}

func rangeOf(m map[gpu][]float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, vals := range m {
		for _, x := range vals {
			if !math.IsNaN(x) {
				lo, hi = math.Min(lo, x), math.Max(hi, x)
			}
		}
	}
	return lo, hi
}

func (v *viewer) heatmap(title, unit string, m map[gpu][]float64, lo, hi float64) (string, []gpu) {
	gs := slices.Collect(maps.Keys(m))
	v.sortedGPUs(gs)
	h := &Heatmap{Title: title, Unit: unit, Lo: lo, Hi: hi, From: v.d.From, To: v.d.To}
	for _, g := range gs {
		h.Rows = append(h.Rows, v.gpuName(g))
		h.Values = append(h.Values, m[g])
	}
	return h.SVG(), gs
}

func (v *viewer) fleet() Section {
	sec := Section{ID: "fleet", Title: "GPU fleet over time"}
	taskGeneral := func(l Labels) bool { t := l[aTask]; return t == "" || t == "general" }
	util := v.perGPU(mUtil, taskGeneral)
	if len(util) > 0 {
		svg, gs := v.heatmap("Utilization (hw.gpu.utilization, general)", "1", util, 0, 1)
		sec.Body = append(sec.Body, template.HTML(svg))
		rows := make([]string, len(gs))
		vals := make([][]float64, len(gs))
		for i, g := range gs {
			rows[i], vals[i] = v.gpuName(g), util[g]
		}
		sec.Body = append(sec.Body, template.HTML(SmallMultiples("Utilization per GPU (small multiples)", "1", rows, vals, 0, 1)))
	}
	for _, a := range []struct{ metric, title string }{
		{mSMActivity, "SM activity (nvidia.gpu.sm.activity)"}, {mTensorActivity, "Tensor activity (nvidia.gpu.tensor.activity)"},
	} {
		if m := v.perGPU(a.metric, nil); len(m) > 0 {
			svg, _ := v.heatmap(a.title, "1", m, 0, 1)
			sec.Body = append(sec.Body, template.HTML(svg))
		}
	}
	// Memory as a share of the GPU's memory where its limit is known.
	mem := v.perGPU(mMemUsage, nil)
	if len(mem) > 0 {
		limits := v.perGPU(mMemLimit, nil)
		share := true
		for g := range mem {
			if lastFinite(limits[g]) <= 0 {
				share = false
			}
		}
		if share {
			for g, vals := range mem {
				l := lastFinite(limits[g])
				for i := range vals {
					vals[i] /= l
				}
			}
			svg, _ := v.heatmap("Memory used (hw.gpu.memory.usage / limit)", "1", mem, 0, 1)
			sec.Body = append(sec.Body, template.HTML(svg))
		} else {
			lo, hi := rangeOf(mem)
			svg, _ := v.heatmap("Memory used (hw.gpu.memory.usage)", "By", mem, math.Min(0, lo), hi)
			sec.Body = append(sec.Body, template.HTML(svg))
		}
	}
	if pw := v.perGPU(mPower, nil); len(pw) > 0 {
		_, hi := rangeOf(pw)
		svg, _ := v.heatmap("Power (hw.power)", "W", pw, 0, hi)
		sec.Body = append(sec.Body, template.HTML(svg))
	}
	if t := v.perGPU(mTemp, func(l Labels) bool { s := l[aSensor]; return s == "" || s == "gpu" }); len(t) > 0 {
		lo, hi := rangeOf(t)
		svg, _ := v.heatmap("Temperature, GPU die (hw.temperature)", "Cel", t, lo, hi)
		sec.Body = append(sec.Body, template.HTML(svg))
	}
	if len(sec.Body) == 0 {
		sec.Empty = "No GPU metrics (hw.gpu.utilization, hw.power, ...) in this range."
	}
	return sec
}

func lastFinite(v []float64) float64 {
	for i := len(v) - 1; i >= 0; i-- {
		if !math.IsNaN(v[i]) {
			return v[i]
		}
	}
	return math.NaN()
}

// spansOf merges consecutive columns where on(i) into spans.
func (v *viewer) spansOf(n int, on func(i int) bool) [][2]int {
	var out [][2]int
	start := -1
	for i := 0; i <= n; i++ {
		if i < n && on(i) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, [2]int{start, i})
			start = -1
		}
	}
	return out
}

func (v *viewer) when(cols [2]int) string {
	return fmt.Sprintf("%s–%s", v.d.Time(cols[0]).Format("15:04"), v.d.Time(cols[1]).Format("15:04"))
}

func (v *viewer) events() Section {
	sec := Section{ID: "events", Title: "Throttling, XID and ECC events"}
	type ev struct {
		g     gpu
		kind  string
		label string
		cols  [2]int
	}
	var evs []ev
	throttled := map[gpu]map[string]float64{}
	for _, s := range v.d.ByMetric(mThrottle) {
		cause := s.Labels[aThrottle]
		if s.Inc == nil || !throttleCauses[cause] {
			continue
		}
		g, _ := gpuOf(s.Labels)
		for _, sp := range v.spansOf(len(s.Inc), func(i int) bool { return s.Inc[i] > 0 }) {
			secs := 0.0
			for i := sp[0]; i < sp[1]; i++ {
				secs += s.Inc[i]
			}
			evs = append(evs, ev{g, "throttle", fmt.Sprintf("%s throttling %s, %s", cause, fmtValue(secs, "s"), v.when(sp)), sp})
		}
		if s.Total > 0 {
			if throttled[g] == nil {
				throttled[g] = map[string]float64{}
			}
			throttled[g][cause] += s.Total
		}
	}
	for g, causes := range throttled {
		total, parts := 0.0, []string{}
		for _, c := range slices.Sorted(maps.Keys(causes)) {
			total += causes[c]
			parts = append(parts, fmt.Sprintf("%s %s", c, fmtValue(causes[c], "s")))
		}
		share := total / v.d.To.Sub(v.d.From).Seconds()
		sev := Info
		if share > 0.05 {
			sev = Warning
		}
		v.add(Finding{Severity: sev, Kind: "throttling", Subject: v.gpuName(g), Section: "events", score: share,
			Detail: fmt.Sprintf("clocks held down %s of the range (%s)", fmtValue(share, "1"), strings.Join(parts, ", "))})
	}
	for _, s := range v.d.ByMetric(mXID) {
		if s.Inc == nil || s.Total <= 0 {
			continue
		}
		g, _ := gpuOf(s.Labels)
		xid := s.Labels[aXID]
		var whens []string
		for _, sp := range v.spansOf(len(s.Inc), func(i int) bool { return s.Inc[i] > 0 }) {
			evs = append(evs, ev{g, "xid", fmt.Sprintf("XID %s at %s", xid, v.when(sp)), sp})
			whens = append(whens, v.d.Time(sp[0]).Format("15:04"))
		}
		v.add(Finding{Severity: Critical, Kind: "xid", Subject: v.gpuName(g), Section: "events", score: 1000 + s.Total,
			Detail: fmt.Sprintf("XID %s, %.0f error(s)", xid, s.Total), When: strings.Join(whens, ", ")})
	}
	for _, s := range v.d.ByMetric(mECC) {
		if s.Inc == nil || s.Total <= 0 || s.Labels[aEccCounter] == "aggregate" {
			continue // the aggregate counter repeats the volatile one
		}
		g, _ := gpuOf(s.Labels)
		kind, sev := "ecc-corrected", Warning
		if s.Labels[aErrType] == "uncorrected" {
			kind, sev = "ecc-uncorrected", Critical
		}
		var whens []string
		for _, sp := range v.spansOf(len(s.Inc), func(i int) bool { return s.Inc[i] > 0 }) {
			evs = append(evs, ev{g, kind, fmt.Sprintf("%s ECC errors at %s", s.Labels[aErrType], v.when(sp)), sp})
			whens = append(whens, v.d.Time(sp[0]).Format("15:04"))
		}
		v.add(Finding{Severity: sev, Kind: "ecc", Subject: v.gpuName(g), Section: "events", score: 500 + s.Total,
			Detail: fmt.Sprintf("%.0f %s ECC error(s)", s.Total, s.Labels[aErrType]), When: strings.Join(whens, ", ")})
	}
	if len(evs) == 0 {
		sec.Empty = "No throttling (power, thermal, board limit, reliability, sync boost), XID or ECC event in this range."
		return sec
	}
	rowOf := map[gpu]int{}
	var gs []gpu
	for _, e := range evs {
		if _, ok := rowOf[e.g]; !ok {
			rowOf[e.g] = 0
			gs = append(gs, e.g)
		}
	}
	v.sortedGPUs(gs)
	rows := make([]string, len(gs))
	for i, g := range gs {
		rowOf[g], rows[i] = i, v.gpuName(g)
	}
	spans := make([]Span, len(evs))
	for i, e := range evs {
		spans[i] = Span{Row: rowOf[e.g], From: v.d.Time(e.cols[0]), To: v.d.Time(e.cols[1]), Kind: e.kind, Label: v.gpuName(e.g) + ": " + e.label}
	}
	sec.Body = append(sec.Body, template.HTML(Timeline("Events per GPU (hover for details)", rows, spans, v.d.From, v.d.To)))
	return sec
}

// seriesKey is a series' labels without the given keys, for matching.
func seriesKey(l Labels, drop ...string) string {
	keys := slices.Sorted(maps.Keys(l))
	var sb strings.Builder
	for _, k := range keys {
		if slices.Contains(drop, k) {
			continue
		}
		sb.WriteString(k)
		sb.WriteByte(1)
		sb.WriteString(l[k])
		sb.WriteByte(0)
	}
	return sb.String()
}

func maxFinite(v []float64) float64 {
	m := math.NaN()
	for _, x := range v {
		if !math.IsNaN(x) && (math.IsNaN(m) || x > m) {
			m = x
		}
	}
	return m
}

func quantiles(vals []float64) (lo, q1, med, q3, hi float64) {
	s := slices.DeleteFunc(slices.Clone(vals), math.IsNaN)
	if len(s) == 0 {
		n := math.NaN()
		return n, n, n, n, n
	}
	slices.Sort(s)
	q := func(p float64) float64 {
		f := p * float64(len(s)-1)
		i := int(f)
		if i+1 >= len(s) {
			return s[len(s)-1]
		}
		return s[i] + (s[i+1]-s[i])*(f-float64(i))
	}
	return s[0], q(0.25), q(0.5), q(0.75), s[len(s)-1]
}

// sizeClass names a message size by its power of two.
func sizeClass(bytes float64) string {
	if math.IsNaN(bytes) || bytes <= 0 {
		return "size unknown"
	}
	p := math.Pow(2, math.Round(math.Log2(bytes)))
	return "~" + si(p, 1024, []string{"B", "KiB", "MiB", "GiB", "TiB"})
}

func (v *viewer) nccl() Section {
	sec := Section{ID: "nccl", Title: "NCCL bus bandwidth per collective, message size and rank"}
	type rankKey struct{ coll, comm, rank, host string }
	rk := func(l Labels) rankKey { return rankKey{l[aCollective], l[aComm], l[aRank], l[aHost]} }
	// Mean message size per rank and collective from bytes over count.
	bytesOf, countOf := map[rankKey]float64{}, map[rankKey]float64{}
	for _, s := range v.d.ByMetric(mNCCLBytes) {
		bytesOf[rk(s.Labels)] += s.Total
	}
	for _, s := range v.d.ByMetric(mNCCLCount) {
		countOf[rk(s.Labels)] += s.Total
	}
	// Stragglers: the anomaly processor's peer flags on a rank, and ranks
	// whose mean completion lag is far above their communicator's.
	type straggler struct {
		why  string
		cols [2]int
	}
	strag := map[rankKey]straggler{}
	matchRank := func(l Labels) []rankKey {
		var out []rankKey
		for k := range countOf {
			if k.rank == l[aRank] && (l[aComm] == "" || l[aComm] == k.comm) && (l[aHost] == "" || l[aHost] == k.host) {
				out = append(out, k)
			}
		}
		return out
	}
	for _, s := range v.d.ByMetric(mAnomStraggler) {
		if s.Max == nil || maxFinite(s.Max) < 1 {
			continue
		}
		sp := v.spansOf(len(s.Max), func(i int) bool { return s.Max[i] >= 1 })
		subject := describe(s.Labels, aAnomMetric, aDetector)
		v.add(Finding{Severity: Warning, Kind: "straggler", Subject: subject, Section: "nccl", score: float64(len(sp)),
			Detail: fmt.Sprintf("off its peer group's median on %s", s.Labels[aAnomMetric]), When: v.when(sp[0])})
		if s.Labels[aRank] != "" {
			for _, k := range matchRank(s.Labels) {
				strag[k] = straggler{"peer flag on " + s.Labels[aAnomMetric], sp[0]}
			}
		}
	}
	lagByComm := map[string][]float64{}
	lagOf := map[rankKey]float64{}
	for _, s := range v.d.ByMetric(mNCCLLag) {
		_, _, med, _, _ := quantiles(s.Mean)
		k := rankKey{"", s.Labels[aComm], s.Labels[aRank], s.Labels[aHost]}
		lagOf[k] = med
		lagByComm[k.comm] = append(lagByComm[k.comm], math.Abs(med))
	}
	for k, lag := range lagOf {
		_, _, typical, _, _ := quantiles(lagByComm[k.comm])
		if lag > 1e-3 && lag > 4*typical {
			for _, rk := range matchRank(Labels{aRank: k.rank, aComm: k.comm, aHost: k.host}) {
				if _, ok := strag[rk]; !ok {
					strag[rk] = straggler{why: "completion lag " + fmtValue(lag, "s")}
				}
			}
		}
	}
	type group struct {
		coll, size string
		boxes      []Box
	}
	groups := map[[2]string]*group{}
	addBox := func(k rankKey, lo, q1, med, q3, hi float64) {
		size := sizeClass(bytesOf[k] / countOf[k])
		gk := [2]string{k.coll, size}
		g := groups[gk]
		if g == nil {
			g = &group{coll: k.coll, size: size}
			groups[gk] = g
		}
		b := Box{Label: fmt.Sprintf("rank %s (%s)", k.rank, k.host), Lo: lo, Q1: q1, Med: med, Q3: q3, Hi: hi}
		if st, ok := strag[k]; ok {
			b.Marked, b.Note = true, "straggler: "+st.why
		} else if lag, ok := lagOf[rankKey{"", k.comm, k.rank, k.host}]; ok {
			b.Note = "lag " + fmtValue(lag, "s")
		}
		g.boxes = append(g.boxes, b)
	}
	seen := map[rankKey]bool{}
	for _, s := range v.d.ByMetric(mNCCLBusBWHist) {
		if s.Hist == nil {
			continue
		}
		k := rk(s.Labels)
		seen[k] = true
		h := *s.Hist
		addBox(k, h.Quantile(0.05), h.Quantile(0.25), h.Quantile(0.5), h.Quantile(0.75), h.Quantile(0.95))
	}
	source := "nccl.operation.bus_bandwidth histograms (box: p25–p75, whiskers p5–p95)"
	for _, s := range v.d.ByMetric(mNCCLBusBW) {
		k := rk(s.Labels)
		if seen[k] || s.Mean == nil {
			continue
		}
		source = "nccl.collective.bus_bandwidth per column (box: quartiles of the column means, whiskers min–max)"
		lo, q1, med, q3, hi := quantiles(s.Mean)
		addBox(k, lo, q1, med, q3, hi)
	}
	if len(groups) == 0 {
		sec.Empty = "No NCCL metrics (nccl.operation.bus_bandwidth, nccl.collective.bus_bandwidth) in this range."
		return sec
	}
	sec.Note = "From " + source + "; message size is the mean of nccl.operation.bytes over nccl.operation.count. Stragglers (red): the anomaly processor's peer flag, or a mean completion lag over 1 ms and 4× its communicator's typical lag."
	keys := slices.SortedFunc(maps.Keys(groups), func(a, b [2]string) int {
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return cmp.Compare(a[1], b[1])
	})
	for _, k := range keys {
		g := groups[k]
		slices.SortFunc(g.boxes, func(a, b Box) int { return naturalCompare(a.Label, b.Label) })
		sec.Body = append(sec.Body, template.HTML(BoxPlot(fmt.Sprintf("%s, %s messages", g.coll, g.size), "By/s", g.boxes)))
	}
	return sec
}

// describe prints the identifying labels of a series compactly.
func describe(l Labels, drop ...string) string {
	prefer := []string{aHost, aHwID, aGPUIndex, aNamespace, aPodName, aJobName, aJobID, aCollective, aComm, aRank, aIBDevice, aIBPort, aContainer}
	var parts []string
	for _, k := range prefer {
		if val := l[k]; val != "" && !slices.Contains(drop, k) {
			parts = append(parts, k+"="+val)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(l)) {
		if !slices.Contains(prefer, k) && !slices.Contains(drop, k) && len(parts) < 8 {
			parts = append(parts, k+"="+l[k])
		}
	}
	return strings.Join(parts, " ")
}

func (v *viewer) infiniband() Section {
	sec := Section{ID: "infiniband", Title: "InfiniBand utilization and congestion per port"}
	port := func(l Labels) string {
		s := fmt.Sprintf("%s %s/%s", l[aHost], l[aIBDevice], l[aIBPort])
		if d := l[aDirection]; d != "" {
			s += " " + map[string]string{"transmit": "tx", "receive": "rx"}[d]
		}
		return s
	}
	for _, a := range []struct{ metric, title string }{
		{mIBUtil, "Port utilization (infiniband.port.utilization)"},
		{mIBWait, "Congestion: capacity lost to transmit waits (infiniband.port.xmit_wait.ratio)"},
	} {
		ss := v.d.ByMetric(a.metric)
		if len(ss) == 0 {
			continue
		}
		ss = slices.Clone(ss)
		slices.SortFunc(ss, func(x, y *SeriesData) int { return naturalCompare(port(x.Labels), port(y.Labels)) })
		h := &Heatmap{Title: a.title, Unit: "1", Lo: 0, Hi: 1, From: v.d.From, To: v.d.To}
		hi := 0.0
		for _, s := range ss {
			h.Rows = append(h.Rows, port(s.Labels))
			h.Values = append(h.Values, s.Mean)
			hi = math.Max(hi, maxFinite(s.Mean))
		}
		if a.metric == mIBWait {
			// Congestion is rarely near 100%; scale to what was seen.
			h.Hi = math.Max(0.01, hi)
			for _, s := range ss {
				if m := maxFinite(s.Mean); m > 0.05 {
					v.add(Finding{Severity: Warning, Kind: "congestion", Subject: port(s.Labels), Section: "infiniband", score: m,
						Detail: fmt.Sprintf("up to %s of the link lost to transmit waits", fmtValue(m, "1"))})
				}
			}
		}
		sec.Body = append(sec.Body, template.HTML(h.SVG()))
	}
	if len(sec.Body) == 0 {
		sec.Empty = "No InfiniBand metrics (infiniband.port.utilization, infiniband.port.xmit_wait.ratio) in this range."
	}
	return sec
}

func (v *viewer) latency() Section {
	sec := Section{ID: "latency", Title: "CPU run-queue and IO latency per container"}
	container := func(l Labels) string {
		for _, k := range []string{aPodName, aContainer, aPodUID, aCgroup} {
			if val := l[k]; val != "" {
				if k == aContainer && len(val) > 12 {
					val = val[:12]
				}
				return l[aHost] + " " + val
			}
		}
		return l[aHost] + " (host)"
	}
	for _, a := range []struct{ metric, title string }{
		{mRunq, "CPU run-queue latency (acceltel.ebpf.runqueue.latency)"},
		{mOffCPU, "Off-CPU time (acceltel.ebpf.offcpu.duration)"},
		{mBlockIO, "Block IO latency (acceltel.ebpf.blockio.latency)"},
	} {
		merged := map[string]Hist{}
		for _, s := range v.d.ByMetric(a.metric) {
			if s.Hist == nil {
				continue
			}
			c := container(s.Labels)
			merged[c] = merged[c].Add(*s.Hist)
		}
		if len(merged) == 0 {
			continue
		}
		var boxes []Box
		p99s := []float64{}
		for _, c := range slices.SortedFunc(maps.Keys(merged), naturalCompare) {
			h := merged[c]
			b := Box{Label: c, Lo: h.Quantile(0.05), Q1: h.Quantile(0.5), Med: h.Quantile(0.5), Q3: h.Quantile(0.9), Hi: h.Quantile(0.99)}
			b.Note = fmt.Sprintf("p99 %s, n=%.0f", fmtValue(b.Hi, "s"), h.Count)
			p99s = append(p99s, b.Hi)
			boxes = append(boxes, b)
		}
		// Mark the containers whose p99 is far above the others'.
		_, _, typical, _, _ := quantiles(p99s)
		for i := range boxes {
			if len(boxes) > 2 && boxes[i].Hi > 5*typical {
				boxes[i].Marked = true
			}
		}
		sec.Body = append(sec.Body, template.HTML(BoxPlot(a.title+": box p50–p90, whiskers p5–p99", "s", boxes)))
	}
	if len(sec.Body) == 0 {
		sec.Empty = "No eBPF latency histograms (acceltel.ebpf.runqueue.latency, acceltel.ebpf.blockio.latency) in this range."
	}
	return sec
}

func (v *viewer) anomalies() Section {
	sec := Section{ID: "anomalies", Title: "Anomalies with context"}
	scores := map[string]*SeriesData{}
	for _, s := range v.d.ByMetric(mAnomScore) {
		scores[seriesKey(s.Labels)] = s
	}
	type anom struct {
		s     *SeriesData
		score float64
		spans [][2]int
	}
	var as []anom
	for _, s := range v.d.ByMetric(mAnomFlag) {
		if s.Max == nil || maxFinite(s.Max) < 1 {
			continue
		}
		a := anom{s: s, spans: v.spansOf(len(s.Max), func(i int) bool { return s.Max[i] >= 1 })}
		a.score = 1
		if sc := scores[seriesKey(s.Labels)]; sc != nil {
			a.score = maxFinite(sc.Max)
		}
		as = append(as, a)
	}
	if len(as) == 0 {
		sec.Empty = "No anomaly flagged (acceltel.anomaly.flag) in this range."
		return sec
	}
	slices.SortStableFunc(as, func(x, y anom) int { return cmp.Compare(y.score, x.score) })
	const shown = 40
	if len(as) > shown {
		sec.Note = fmt.Sprintf("The %d highest-scoring of %d flagged series.", shown, len(as))
	}
	var sb strings.Builder
	sb.WriteString(`<table class="anoms"><tr><th>metric</th><th>series</th><th>flagged</th><th>max score</th><th>context: the metric, flagged columns shaded</th></tr>`)
	for i, a := range as {
		watched := a.s.Labels[aAnomMetric]
		subject := describe(a.s.Labels, aAnomMetric, aDetector)
		var whens []string
		for _, sp := range a.spans {
			whens = append(whens, v.when(sp))
		}
		when := strings.Join(whens, ", ")
		sev := Warning
		if a.score >= 0.9 {
			sev = Critical
		}
		v.add(Finding{Severity: sev, Kind: "anomaly", Subject: watched + " on " + subject, Section: "anomalies", score: a.score,
			Detail: fmt.Sprintf("score %.2f (%s detector)", a.score, a.s.Labels[aDetector]), When: when})
		if i >= shown {
			continue
		}
		ctx := v.context(watched, a.s.Labels, a.s.Max)
		if ctx == "" {
			ctx = "the watched series is not in this data"
		}
		fmt.Fprintf(&sb, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%.2f</td><td>%s</td></tr>", esc(watched), esc(subject), esc(when), a.score, ctx)
	}
	sb.WriteString("</table>")
	sec.Body = append(sec.Body, template.HTML(sb.String()))
	return sec
}

// context draws the watched metric's series whose labels agree with the
// flag's (the flag carries the series' own attributes).
func (v *viewer) context(metric string, flag Labels, flagMax []float64) string {
	for _, s := range v.d.ByMetric(metric) {
		match := true
		for k, val := range s.Labels {
			if fv, ok := flag[k]; ok && fv != val {
				match = false
				break
			}
		}
		if !match || (flag[aHwID] != "" && s.Labels[aHwID] != flag[aHwID]) || (flag[aHost] != "" && s.Labels[aHost] != flag[aHost]) {
			continue
		}
		vals := s.Mean
		if vals == nil {
			vals = s.Inc
		}
		if vals == nil {
			continue
		}
		flagged := make([]bool, len(flagMax))
		for i, f := range flagMax {
			flagged[i] = f >= 1
		}
		return Sparkline(metric, s.Unit, vals, flagged)
	}
	return ""
}

func (v *viewer) cost() Section {
	sec := Section{ID: "cost", Title: "Cost: allocated, idle and energy per namespace and job"}
	type parts struct{ alloc, idle, energy float64 }
	byNS, byJob := map[string]*parts{}, map[[2]string]*parts{}
	unit := ""
	any := false
	for _, m := range []string{mCostAlloc, mCostIdle, mCostEnergy} {
		for _, s := range v.d.ByMetric(m) {
			if s.Inc == nil {
				continue
			}
			any = true
			unit = s.Unit
			ns := s.Labels[aNamespace]
			if ns == "" {
				ns = "(unallocated)"
			}
			job := s.Labels[aJobName]
			if job == "" {
				job = s.Labels[aJobID]
			}
			if job == "" {
				job = "(no job)"
			}
			if byNS[ns] == nil {
				byNS[ns] = &parts{}
			}
			jk := [2]string{ns, job}
			if byJob[jk] == nil {
				byJob[jk] = &parts{}
			}
			for _, p := range []*parts{byNS[ns], byJob[jk]} {
				switch m {
				case mCostAlloc:
					p.alloc += s.Total
				case mCostIdle:
					p.idle += s.Total
				case mCostEnergy:
					p.energy += s.Total
				}
			}
		}
	}
	if !any {
		sec.Empty = "No cost metrics (acceltel.cost.allocated, .idle, .energy) in this range: is the cost processor in the pipeline?"
		return sec
	}
	if unit == "" {
		unit = "{USD}"
	}
	nss := slices.SortedFunc(maps.Keys(byNS), func(a, b string) int {
		pa, pb := byNS[a], byNS[b]
		return cmp.Compare(pb.alloc+pb.idle+pb.energy, pa.alloc+pa.idle+pa.energy)
	})
	var bars []Bar
	for _, ns := range nss {
		p := byNS[ns]
		bars = append(bars, Bar{Label: ns, Parts: []float64{p.alloc, p.idle, p.energy}})
		total := p.alloc + p.idle + p.energy
		if total > 0 && p.idle/total > 0.25 {
			v.add(Finding{Severity: Warning, Kind: "idle cost", Subject: "namespace " + ns, Section: "cost", score: p.idle,
				Detail: fmt.Sprintf("%s idle of %s (%s)", fmtValue(p.idle, unit), fmtValue(total, unit), fmtValue(p.idle/total, "1"))})
		}
	}
	colors := []string{"#2563eb", "#f59e0b", "#16a34a"}
	sec.Body = append(sec.Body, template.HTML(StackedBars("Cost per namespace in this range", unit, []string{"allocated", "idle", "energy"}, colors, bars)))
	jobs := slices.SortedFunc(maps.Keys(byJob), func(a, b [2]string) int {
		pa, pb := byJob[a], byJob[b]
		return cmp.Compare(pb.alloc+pb.idle+pb.energy, pa.alloc+pa.idle+pa.energy)
	})
	var jb []Bar
	for _, j := range jobs {
		p := byJob[j]
		jb = append(jb, Bar{Label: j[0] + " / " + j[1], Parts: []float64{p.alloc, p.idle, p.energy}})
	}
	sec.Body = append(sec.Body, template.HTML(StackedBars("Cost per namespace / job", unit, []string{"allocated", "idle", "energy"}, colors, jb)))
	return sec
}

func (v *viewer) plan() Section {
	sec := Section{ID: "plan", Title: "Parallelism recommendations"}
	type job struct {
		name                   string
		speedup, meas, pred    float64
		layout                 string
		costCur, costRec       float64
		headCur, headRec, perr float64
	}
	jobs := map[string]*job{}
	jobOf := func(l Labels) *job {
		name := strings.TrimSpace(strings.Join(slices.DeleteFunc([]string{l[aNamespace], l[aJobName], l[aJobID]}, func(s string) bool { return s == "" }), " / "))
		if name == "" {
			name = "(unnamed job)"
		}
		j := jobs[name]
		if j == nil {
			nan := math.NaN()
			j = &job{name: name, speedup: nan, meas: nan, pred: nan, costCur: nan, costRec: nan, headCur: nan, headRec: nan, perr: nan}
			jobs[name] = j
		}
		return j
	}
	for _, s := range v.d.Series {
		if !strings.HasPrefix(s.Metric, "acceltel.plan.") || s.Mean == nil {
			continue
		}
		j := jobOf(s.Labels)
		last := s.LastMean
		switch s.Metric {
		case mPlanSpeedup:
			j.speedup = last
		case mPlanMeasured:
			j.meas = last
		case mPlanPredicted:
			j.pred = last
		case mPlanError:
			j.perr = last
		case mPlanRecommend:
			if last >= 1 {
				var parts []string
				for _, k := range []struct{ key, name string }{{"ml.parallel.tensor", "TP"}, {"ml.parallel.pipeline", "PP"}, {"ml.parallel.data", "DP"},
					{"ml.parallel.context", "CP"}, {"ml.parallel.virtual_stages", "VPP"}, {"ml.zero.stage", "ZeRO"}, {"ml.recompute", "recompute"}, {"ml.train.micro_batch_size", "micro-batch"}} {
					if val := s.Labels[k.key]; val != "" {
						parts = append(parts, k.name+"="+val)
					}
				}
				j.layout = strings.Join(parts, " ")
			}
		case mPlanStepCost:
			if s.Labels[aLayout] == "recommended" {
				j.costRec = last
			} else {
				j.costCur = last
			}
		case mPlanHeadroom:
			if s.Labels[aLayout] == "recommended" {
				j.headRec = last
			} else {
				j.headCur = last
			}
		}
	}
	if len(jobs) == 0 {
		sec.Empty = "No parallelism metrics (acceltel.plan.*) in this range: is the parallelism processor in the pipeline, and do jobs send ml.* metrics?"
		return sec
	}
	names := slices.SortedFunc(maps.Keys(jobs), func(a, b string) int { return cmp.Compare(nz(jobs[b].speedup), nz(jobs[a].speedup)) })
	var sb strings.Builder
	sb.WriteString(`<table><tr><th>job</th><th>recommended layout</th><th>predicted speedup</th><th>step measured</th><th>step predicted (current)</th><th>prediction error</th><th>step cost current → recommended</th><th>memory headroom current → recommended</th></tr>`)
	var boxes []Bar
	for _, n := range names {
		j := jobs[n]
		layout := j.layout
		if layout == "" {
			layout = "keep the current layout"
		}
		fmt.Fprintf(&sb, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s → %s</td><td>%s → %s</td></tr>",
			esc(n), esc(layout), fmtValue(j.speedup, "x"), fmtValue(j.meas, "s"), fmtValue(j.pred, "s"), fmtValue(j.perr, "1"),
			fmtValue(j.costCur, "{currency}"), fmtValue(j.costRec, "{currency}"), fmtValue(j.headCur, "By"), fmtValue(j.headRec, "By"))
		if j.layout != "" && j.speedup > 1 {
			v.add(Finding{Severity: Info, Kind: "plan", Subject: n, Section: "plan", score: j.speedup,
				Detail: fmt.Sprintf("predicted %s faster with %s", fmtValue(j.speedup, "x"), j.layout)})
		}
		if !math.IsNaN(j.meas) {
			rec := math.NaN()
			if j.speedup > 0 {
				rec = j.meas / j.speedup
			}
			boxes = append(boxes, Bar{Label: n + " (current)", Parts: []float64{j.meas}}, Bar{Label: n + " (recommended)", Parts: []float64{rec}})
		}
	}
	sb.WriteString("</table>")
	sec.Body = append(sec.Body, template.HTML(sb.String()))
	if len(boxes) > 0 {
		sec.Body = append(sec.Body, template.HTML(StackedBars("Step time: measured now, and predicted with the recommended layout", "s", []string{"step time"}, []string{"#31688e"}, boxes)))
	}
	return sec
}

func nz(x float64) float64 {
	if math.IsNaN(x) {
		return 0
	}
	return x
}
