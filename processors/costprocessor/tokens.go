package costprocessor // import "github.com/acceltel/acceltel/processors/costprocessor"

import (
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/acceltel/acceltel/processors/costprocessor/internal/costmodel"
	"github.com/acceltel/acceltel/processors/costprocessor/internal/metadata"
)

// tokens turns a job's ml.train.tokens report into cost per million tokens
// since its previous report: the cost charged to the job's pods over the
// same stretch (allocated, their own idle time, energy) over the tokens it
// trained. The job's cost is what this collector billed: on a node agent
// that is the node's GPUs; on a gateway that sees every node, the whole job.
func (p *costProcessor) tokens(t *tokenObs, rms pmetric.ResourceMetricsSlice) {
	jk := t.pod.jobKey()
	if jk == "" {
		return
	}
	js := p.st.Jobs[jk]
	if js == nil {
		js = &jobState{}
		p.st.Jobs[jk] = js
	}
	js.Seen = max(js.Seen, int64(t.ts))
	reset := js.HasTokens && (t.value < js.Tokens || (t.start != 0 && int64(t.start) != js.TokenStart))
	if !js.HasTokens || reset {
		js.Tokens, js.TokenStart, js.CostAtTokens, js.HasTokens = t.value, int64(t.start), js.Cost, true
		return
	}
	dTokens := t.value - js.Tokens
	dCost := costmodel.Nanos(js.Cost - js.CostAtTokens)
	if dTokens <= 0 {
		// Nothing trained yet: keep adding cost until tokens move.
		return
	}
	js.Tokens, js.CostAtTokens = t.value, js.Cost
	if dCost <= 0 || !p.out.perMTokens.enabled {
		// No priced GPU time reached this job (unpriced GPUs, or none seen
		// here); a ratio of zero would claim the tokens were free.
		return
	}
	rm := rms.AppendEmpty()
	t.resource.Attributes().CopyTo(rm.Resource().Attributes())
	sm := rm.ScopeMetrics().AppendEmpty()
	sm.Scope().SetName(metadata.ScopeName)
	sm.Scope().SetVersion(p.version)
	dp := p.out.perMTokens.newMetric(sm.Metrics()).AppendEmpty()
	dp.SetTimestamp(t.ts)
	dp.SetDoubleValue(dCost.USD() / (dTokens / 1e6))
	p.putAttrs(&p.out.perMTokens, dp.Attributes(), []kv{{attrJobName, t.pod.jobName}, {attrJobID, t.pod.jobID}, {attrNamespace, t.pod.namespace}})
}
