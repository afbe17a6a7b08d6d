package costprocessor // import "github.com/acceltel/acceltel/processors/costprocessor"

import (
	"regexp"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/processors/costprocessor/internal/costmodel"
)

var migComputeSlices = regexp.MustCompile(`(?:^|\.)(\d+)g\.`)

// unitWeight is a unit's share of its GPU: 1 for a whole GPU, compute
// slices over the model's total for a MIG slice ("3g.40gb" on an A100 is
// 3/7). Compute slices, not memory, because that is what NVIDIA's profiles
// and the cloud providers' MIG prices scale with.
func (p *costProcessor) unitWeight(g *gpuObs, model string, u *unitObs) float64 {
	if u.mig == "" {
		return 1
	}
	m := migComputeSlices.FindStringSubmatch(u.profile)
	if m == nil {
		p.logOnce("mig:"+g.hwid+"/"+u.mig, "MIG slice without a usable nvidia.gpu.mig.profile; its share of the GPU is billed as unallocated idle",
			zap.String("hw.id", g.hwid), zap.String("nvidia.gpu.mig.uuid", u.mig), zap.String("nvidia.gpu.mig.profile", u.profile))
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	total := p.cfg.DefaultMIGSlices
	if t, ok := p.cfg.MIGSlices[model]; ok {
		total = t
	}
	return float64(n) / float64(total)
}

// bill prices one GPU's latest interval, splits it and appends its outputs.
func (p *costProcessor) bill(g *gpuObs, rms pmetric.ResourceMetricsSlice) {
	if g.ts == 0 {
		return
	}
	now := int64(g.ts)
	st := p.st.GPUs[g.hwid]
	first := st == nil
	if first {
		st = &gpuState{Last: now}
		p.st.GPUs[g.hwid] = st
	} else if now <= st.Last {
		// A repeat or a late batch: that time is billed already.
		return
	}
	attrs := g.res.Attributes()
	get := func(k string) (string, bool) {
		v, ok := attrs.Get(k)
		if !ok {
			return "", false
		}
		return v.AsString(), true
	}
	model, _ := get(attrModel)
	kind, rawKind, kindOK := p.rateKind(attrs)
	var cands []*costmodel.Rule
	if kindOK {
		cands = p.book.Candidates(get)
	}
	from := now
	billed := !first && now-st.Last <= p.maxGap
	if billed {
		from = st.Last
	}
	q := costmodel.Price(cands, kind, time.Unix(0, from), time.Unix(0, now))

	var joules float64
	if g.hasEnergy {
		switch {
		case !st.HasEnergy || !billed:
		case g.energy < st.Energy || (st.EnergyStart != 0 && int64(g.energyStart) != st.EnergyStart):
			// The counter restarted; what it counted since is ours only if it
			// restarted inside this interval.
			if int64(g.energyStart) >= st.Last {
				joules = g.energy
			}
		default:
			joules = g.energy - st.Energy
		}
		st.Energy, st.EnergyStart, st.HasEnergy = g.energy, int64(g.energyStart), true
	}
	if g.hasBench && g.bench > 0 {
		st.BenchFLOPS = g.bench
	}
	st.Last = now

	ms := p.outResource(rms, g.res)
	ts := g.ts
	unpriced := q.End == nil
	if unpriced || (billed && q.Unpriced > 0) {
		reason := "no price rule matches"
		if !kindOK {
			reason = "unknown rate kind " + strconv.Quote(rawKind)
		}
		it, _ := get(p.cfg.InstanceTypeAttribute)
		p.logOnce("unpriced:"+g.hwid, "GPU has no price; its cost is not reported until a price rule covers it",
			zap.String("hw.id", g.hwid), zap.String("hw.model", model), zap.String(p.cfg.InstanceTypeAttribute, it),
			zap.String("rate_kind", string(kind)), zap.String("reason", reason))
	}
	if p.out.unpriced.enabled {
		dp := p.out.unpriced.newMetric(ms).AppendEmpty()
		dp.SetTimestamp(ts)
		if unpriced {
			dp.SetIntValue(1)
		} else {
			dp.SetIntValue(0)
		}
	}
	if !unpriced && p.out.rate.enabled {
		dp := p.out.rate.newMetric(ms).AppendEmpty()
		dp.SetTimestamp(ts)
		dp.SetDoubleValue(q.EndRate)
		p.putAttrs(&p.out.rate, dp.Attributes(), []kv{{"acceltel.cost.rate_kind", string(q.EndKind)}, {"acceltel.cost.rule", q.End.Name}})
	}
	if !billed || q.Last == nil {
		return
	}

	energyCost := costmodel.Nanos(0)
	if q.USDPerJoule > 0 && joules > 0 {
		energyCost = costmodel.FromUSD(joules * q.USDPerJoule)
	}
	units := g.allocUnits()
	in := make([]costmodel.Unit, len(units))
	var activity float64
	hasActivity := false
	for i, u := range units {
		w := p.unitWeight(g, model, u)
		in[i] = costmodel.Unit{Weight: w, Util: u.util, HasUtil: u.hasUtil, Replicas: u.replicas}
		for _, h := range u.holders {
			use, ok := u.use[h.key()]
			in[i].Holders = append(in[i].Holders, costmodel.Holder{Use: use, HasUse: ok || u.use != nil})
		}
		if u.hasTensor {
			activity += u.tensor * w
			hasActivity = true
		}
	}
	// A MIG GPU's tensor activity may come from the GPU itself rather than
	// from its slices.
	if whole := g.unit(""); !hasActivity && whole.hasTensor {
		activity, hasActivity = whole.tensor, true
	}
	lines := costmodel.Allocate(q.Cost, energyCost, in, p.threshold)

	rule, rk := q.Last.Name, string(q.LastKind)
	var touched []*seriesState
	for _, l := range lines {
		var pod podRef
		mig := ""
		if l.Unit >= 0 {
			mig = units[l.Unit].mig
			if l.Holder >= 0 {
				pod = units[l.Unit].holders[l.Holder]
			}
		}
		reason := ""
		switch l.Kind {
		case costmodel.IdleUnderused:
			reason = "allocated_underused"
		case costmodel.IdleUnallocated:
			reason = "unallocated"
		}
		podAttrs := []kv{{attrPodUID, pod.uid}, {attrPodName, pod.name}, {attrNamespace, pod.namespace}, {attrJobName, pod.jobName}, {attrJobID, pod.jobID}, {attrMIGUUID, mig}}
		if l.Kind == costmodel.Allocated {
			touched = p.add(touched, &p.out.allocated, g.hwid, append(podAttrs, kv{"acceltel.cost.rate_kind", rk}, kv{"acceltel.cost.rule", rule}), l.Cost, from, now)
		} else {
			touched = p.add(touched, &p.out.idle, g.hwid, append([]kv{{"acceltel.cost.idle.reason", reason}}, append(podAttrs, kv{"acceltel.cost.rate_kind", rk}, kv{"acceltel.cost.rule", rule})...), l.Cost, from, now)
		}
		if q.USDPerJoule > 0 && g.hasEnergy {
			touched = p.add(touched, &p.out.energy, g.hwid, append(podAttrs, kv{"acceltel.cost.idle.reason", reason}, kv{"acceltel.cost.rule", rule}), l.Energy, from, now)
		}
		if jk := pod.jobKey(); jk != "" {
			js := p.st.Jobs[jk]
			if js == nil {
				js = &jobState{}
				p.st.Jobs[jk] = js
			}
			js.Cost += int64(l.Cost + l.Energy)
			js.Seen = now
		}
	}
	p.emitSeries(ms, touched, ts)

	if p.out.perPFLOP.enabled && hasActivity {
		peak := st.BenchFLOPS
		if peak <= 0 {
			peak = p.cfg.PeakTFLOPS[model] * 1e12
		}
		pflop := activity * peak * time.Duration(now-from).Seconds() / 1e15
		if total := (q.Cost + energyCost).USD(); pflop > 0 && total > 0 {
			dp := p.out.perPFLOP.newMetric(ms).AppendEmpty()
			dp.SetStartTimestamp(pcommon.Timestamp(from))
			dp.SetTimestamp(ts)
			dp.SetDoubleValue(total / pflop)
			p.putAttrs(&p.out.perPFLOP, dp.Attributes(), []kv{{"acceltel.cost.rule", rule}})
		}
	}
}

// add accumulates one line into its cumulative series. Attributes the
// configuration disables, and empty ones, are left out of the series'
// identity, so dropping an attribute merges series by adding their costs.
func (p *costProcessor) add(touched []*seriesState, d *metricDesc, hwid string, attrs []kv, amount costmodel.Nanos, from, now int64) []*seriesState {
	if !d.enabled {
		return touched
	}
	kept := attrs[:0:0]
	for _, a := range attrs {
		if a.V != "" && d.attrs[a.K] {
			kept = append(kept, a)
		}
	}
	key := seriesKey(d.name, hwid, kept)
	s := p.st.Series[key]
	if s == nil {
		s = &seriesState{Metric: d.name, HWID: hwid, Attrs: kept, Start: from}
		p.st.Series[key] = s
	}
	s.Nanos += int64(amount)
	if s.Updated != now {
		s.Updated = now
		touched = append(touched, s)
	}
	return touched
}

func (p *costProcessor) emitSeries(ms pmetric.MetricSlice, touched []*seriesState, ts pcommon.Timestamp) {
	for _, d := range []*metricDesc{&p.out.allocated, &p.out.idle, &p.out.energy} {
		var dps pmetric.NumberDataPointSlice
		created := false
		for _, s := range touched {
			if s.Metric != d.name {
				continue
			}
			if !created {
				dps, created = d.newMetric(ms), true
			}
			dp := dps.AppendEmpty()
			dp.SetStartTimestamp(pcommon.Timestamp(s.Start))
			dp.SetTimestamp(ts)
			dp.SetDoubleValue(costmodel.Nanos(s.Nanos).USD())
			for _, a := range s.Attrs {
				dp.Attributes().PutStr(a.K, a.V)
			}
		}
	}
}

func (p *costProcessor) putAttrs(d *metricDesc, m pcommon.Map, attrs []kv) {
	for _, a := range attrs {
		if a.V != "" && d.attrs[a.K] {
			m.PutStr(a.K, a.V)
		}
	}
}
