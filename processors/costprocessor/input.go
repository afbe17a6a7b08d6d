package costprocessor // import "github.com/acceltel/acceltel/processors/costprocessor"

import (
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/acceltel/acceltel/processors/costprocessor/internal/metadata"
)

// The input contract (README.md, "Input"). Names follow the semantic
// conventions where they exist and nvidia.gpu.* where they do not.
const (
	attrHWID       = "hw.id"
	attrModel      = "hw.model"
	attrGPUTask    = "hw.gpu.task"
	attrMIGUUID    = "nvidia.gpu.mig.uuid"
	attrMIGProfile = "nvidia.gpu.mig.profile"
	attrReplicas   = "nvidia.gpu.sharing.replicas"
	attrPodUID     = "k8s.pod.uid"
	attrPodName    = "k8s.pod.name"
	attrNamespace  = "k8s.namespace.name"
	attrJobName    = "k8s.job.name"
	attrJobID      = "ml.job.id"
	attrContainer  = "container.id"

	metricUtil       = "hw.gpu.utilization"
	metricEnergy     = "hw.energy"
	metricProcSM     = "nvidia.gpu.process.sm.utilization"
	metricTensor     = "nvidia.gpu.tensor.activity"
	metricBenchFLOPS = "acceltel.bench.gpu.flops"
	metricTokens     = "ml.train.tokens"
)

// holderKeys are resource attributes that belong to a holder or a slice,
// not to the GPU; they move from the resource to data points on output.
var holderKeys = []string{attrPodUID, attrPodName, attrNamespace, attrJobName, attrJobID, attrContainer, attrMIGUUID, attrMIGProfile, attrReplicas, "k8s.container.name", "process.pid"}

type podRef struct {
	uid, name, namespace, jobName, jobID string
}

func (p podRef) key() string {
	if p.uid != "" {
		return p.uid
	}
	return p.namespace + "/" + p.name
}

func (p podRef) ok() bool { return p.uid != "" || p.name != "" }

// jobKey groups a job's cost across GPUs and pods: ml.job.id when known,
// else the Kubernetes job in its namespace.
func (p podRef) jobKey() string {
	if p.jobID != "" {
		return "id:" + p.jobID
	}
	if p.jobName != "" {
		return "k8s:" + p.namespace + "/" + p.jobName
	}
	return ""
}

func podFrom(m pcommon.Map) podRef {
	get := func(k string) string {
		if v, ok := m.Get(k); ok {
			return v.AsString()
		}
		return ""
	}
	return podRef{uid: get(attrPodUID), name: get(attrPodName), namespace: get(attrNamespace), jobName: get(attrJobName), jobID: get(attrJobID)}
}

// podFromEither reads pod attributes from a data point first, then its resource.
func podFromEither(dp, res pcommon.Map) podRef {
	if p := podFrom(dp); p.ok() || p.jobKey() != "" {
		return p
	}
	return podFrom(res)
}

type unitObs struct {
	mig, profile string
	util         float64
	hasUtil      bool
	tensor       float64
	hasTensor    bool
	replicas     int
	holders      []podRef
	use          map[string]float64
}

func (u *unitObs) addHolder(p podRef) int {
	k := p.key()
	for i, h := range u.holders {
		if h.key() == k {
			return i
		}
	}
	u.holders = append(u.holders, p)
	return len(u.holders) - 1
}

type gpuObs struct {
	hwid        string
	res         pcommon.Resource
	resScore    int
	ts          pcommon.Timestamp
	units       []*unitObs
	energy      float64
	energyStart pcommon.Timestamp
	energyTS    pcommon.Timestamp
	hasEnergy   bool
	bench       float64
	hasBench    bool
}

func (g *gpuObs) unit(mig string) *unitObs {
	for _, u := range g.units {
		if u.mig == mig {
			return u
		}
	}
	u := &unitObs{mig: mig}
	g.units = append(g.units, u)
	return u
}

// allocUnits are the units that Kubernetes hands out: the MIG slices when
// the GPU has any, else the GPU itself.
func (g *gpuObs) allocUnits() []*unitObs {
	var migs []*unitObs
	for _, u := range g.units {
		if u.mig != "" {
			migs = append(migs, u)
		}
	}
	if len(migs) > 0 {
		return migs
	}
	return []*unitObs{g.unit("")}
}

type tokenObs struct {
	pod       podRef
	value     float64
	start, ts pcommon.Timestamp
	resource  pcommon.Resource
}

type batchObs struct {
	gpus   map[string]*gpuObs
	order  []string
	tokens []tokenObs
	points int
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

func numberPoints(m pmetric.Metric) pmetric.NumberDataPointSlice {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints()
	}
	return pmetric.NewNumberDataPointSlice()
}

// parse reads what the processor needs from a batch; it does not change it.
// All of a GPU's data for one scrape is expected in one batch, as the
// receiver emits it.
func parse(md pmetric.Metrics) *batchObs {
	b := &batchObs{gpus: map[string]*gpuObs{}}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		rm := rms.At(i)
		res := rm.Resource().Attributes()
		idv, isGPU := res.Get(attrHWID)
		var g *gpuObs
		var u *unitObs
		var resPod podRef
		if isGPU {
			hwid := idv.AsString()
			if g = b.gpus[hwid]; g == nil {
				g = &gpuObs{hwid: hwid}
				b.gpus[hwid] = g
				b.order = append(b.order, hwid)
			}
			mig := ""
			if v, ok := res.Get(attrMIGUUID); ok {
				mig = v.AsString()
			}
			// The GPU's own resource (no slice, no pod) is the best source of
			// its attributes; any resource will do when there is none.
			score := 1
			if mig == "" {
				score++
			}
			resPod = podFrom(res)
			if !resPod.ok() {
				score++
			}
			if score > g.resScore {
				g.res, g.resScore = rm.Resource(), score
			}
			u = g.unit(mig)
			if v, ok := res.Get(attrMIGProfile); ok {
				u.profile = v.AsString()
			}
			if v, ok := res.Get(attrReplicas); ok {
				if n, err := strconv.Atoi(v.AsString()); err == nil {
					u.replicas = n
				}
			}
			if resPod.ok() {
				u.addHolder(resPod)
			}
		}
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sm := sms.At(j)
			if sm.Scope().Name() == metadata.ScopeName {
				continue
			}
			ms := sm.Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				dps := numberPoints(m)
				b.points += dps.Len()
				if !isGPU {
					if m.Name() == metricTokens && m.Type() == pmetric.MetricTypeSum {
						for p := 0; p < dps.Len(); p++ {
							dp := dps.At(p)
							b.tokens = append(b.tokens, tokenObs{pod: podFromEither(dp.Attributes(), res), value: numberValue(dp), start: dp.StartTimestamp(), ts: dp.Timestamp(), resource: rm.Resource()})
						}
					}
					continue
				}
				for p := 0; p < dps.Len(); p++ {
					dp := dps.At(p)
					if dp.Timestamp() > g.ts {
						g.ts = dp.Timestamp()
					}
					v := numberValue(dp)
					switch m.Name() {
					case metricUtil:
						if t, ok := dp.Attributes().Get(attrGPUTask); ok && !strings.EqualFold(t.AsString(), "general") {
							continue
						}
						u.util, u.hasUtil = max(u.util, v), true
					case metricTensor:
						u.tensor, u.hasTensor = max(u.tensor, v), true
					case metricEnergy:
						if !g.hasEnergy || dp.Timestamp() >= g.energyTS {
							g.energy, g.energyStart, g.energyTS, g.hasEnergy = v, dp.StartTimestamp(), dp.Timestamp(), true
						}
					case metricBenchFLOPS:
						g.bench, g.hasBench = v, true
					case metricProcSM:
						pod := podFromEither(dp.Attributes(), res)
						if !pod.ok() {
							continue
						}
						u.addHolder(pod)
						if u.use == nil {
							u.use = map[string]float64{}
						}
						u.use[pod.key()] += v
					}
				}
			}
		}
	}
	return b
}
