package parallelismprocessor // import "github.com/acceltel/acceltel/processors/parallelismprocessor"

import (
	"hash/maphash"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
)

// ingest reads one resource's metrics: hardware figures from any resource,
// step samples and shape from a training job's.
func (p *parallelismProcessor) ingest(rm pmetric.ResourceMetrics, now time.Time) {
	res := rm.Resource().Attributes()
	host := hostKey(res)
	key, id, k8sJob, ns := jobKey(res)
	var j *job
	var resHash uint64 // the rank sending: its series, and whether its attributes are known
	if key != "" {
		resHash = hashAttrs(p.seed, 0, res)
		j = p.jobs[key]
		// A rank's attributes are parsed when they are new; after that, the
		// hash of the resource says they have not changed.
		training := j != nil && j.knows(resHash)
		if !training {
			var s spec
			if s, training = parseSpec(res); training {
				if j = p.job(key, now); j != nil {
					j.setSpec(s)
				}
			}
		}
		if j != nil && training {
			j.ranks[resHash] = now
			j.touch(host, now, id, k8sJob, ns)
		}
	}
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for k := 0; k < ms.Len(); k++ {
			m := ms.At(k)
			name := m.Name()
			if name != metricStepDuration && name != metricTokens {
				p.ingestHardware(m, res, host, now)
				continue
			}
			if key == "" {
				p.warnNoJobID(name)
				continue
			}
			if j == nil {
				if j = p.job(key, now); j == nil {
					continue
				}
			}
			// Only a job's own metrics keep it alive: a resource that merely
			// names the job (this processor's output, say) does not.
			j.touch(host, now, id, k8sJob, ns)
			if name == metricStepDuration {
				j.durating = true
				p.ingestSteps(j, m, resHash, now)
			} else if !j.durating {
				p.ingestTokens(j, m, resHash, now)
			}
		}
	}
}

// jobKey identifies a job: ml.job.id, else the Kubernetes Job (namespaced,
// since Job names are unique only within a namespace).
func jobKey(res pcommon.Map) (key, id, k8sJob, ns string) {
	if v, ok := res.Get(attrJobID); ok {
		id = v.AsString()
	}
	if v, ok := res.Get(attrK8sJob); ok {
		k8sJob = v.AsString()
	}
	if v, ok := res.Get(attrK8sNamespace); ok {
		ns = v.AsString()
	}
	switch {
	case id != "":
		key = id
	case k8sJob != "":
		key = ns + "/" + k8sJob
	}
	return key, id, k8sJob, ns
}

// job returns the state of a job, creating it unless max_jobs are tracked.
func (p *parallelismProcessor) job(key string, now time.Time) *job {
	if j := p.jobs[key]; j != nil {
		return j
	}
	if len(p.jobs) >= p.cfg.MaxJobs {
		if !p.warnedFull {
			p.warnedFull = true
			p.logger.Warn("parallelism: max_jobs training jobs are tracked; ignoring new ones until some stop reporting for job_ttl",
				zap.Int("max_jobs", p.cfg.MaxJobs), zap.String("ignored_job", key), zap.Duration("job_ttl", p.cfg.JobTTL))
		}
		return nil
	}
	j := newJob(key, now)
	p.jobs[key] = j
	return j
}

func (p *parallelismProcessor) warnNoJobID(metric string) {
	if p.warnedNoID {
		return
	}
	p.warnedNoID = true
	p.logger.Warn("parallelism: a resource sends "+metric+" without "+attrJobID+" or "+attrK8sJob+"; it cannot be told apart from other jobs and is not planned",
		zap.String("metric", metric))
}

// ingestSteps turns ml.train.step.duration into step samples: a gauge
// point is one step; a histogram point is the mean of the steps since the
// series' previous point (cumulative) or of its own steps (delta).
func (p *parallelismProcessor) ingestSteps(j *job, m pmetric.Metric, resHash uint64, now time.Time) {
	var scale float64
	switch m.Unit() {
	case "s", "":
		scale = 1
	case "ms":
		scale = 1e-3
	case "us":
		scale = 1e-6
	default:
		return // not a duration: misreading it would skew the calibration
	}
	window := p.cfg.StepWindow
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		dps := m.Gauge().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			s := j.seriesFor(p.seed, resHash, dp.Attributes(), now)
			if s.ts != 0 && dp.Timestamp() <= s.ts {
				continue // a point sent again
			}
			s.ts = dp.Timestamp()
			j.addSteps(numberValue(dp)*scale, 1, window)
		}
	case pmetric.MetricTypeHistogram:
		cumulative := m.Histogram().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		dps := m.Histogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			if dp.HasSum() {
				j.addCounted(j.seriesFor(p.seed, resHash, dp.Attributes(), now), cumulative, dp.StartTimestamp(), dp.Timestamp(), dp.Count(), dp.Sum()*scale, window)
			}
		}
	case pmetric.MetricTypeExponentialHistogram:
		cumulative := m.ExponentialHistogram().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
		dps := m.ExponentialHistogram().DataPoints()
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			if dp.HasSum() {
				j.addCounted(j.seriesFor(p.seed, resHash, dp.Attributes(), now), cumulative, dp.StartTimestamp(), dp.Timestamp(), dp.Count(), dp.Sum()*scale, window)
			}
		}
	}
}

// addCounted takes a histogram point. The first point of a cumulative
// series only sets the baseline: its mean would include the first steps
// (compilation, warm-up), which say nothing about the layout.
func (j *job) addCounted(s *series, cumulative bool, start, ts pcommon.Timestamp, count uint64, sum float64, window int) {
	if !cumulative {
		if count > 0 {
			j.addSteps(sum/float64(count), float64(count), window)
		}
		return
	}
	if s.ts == 0 || start != s.start || count < s.count {
		s.start, s.ts, s.count, s.sum = start, ts, count, sum // new series or a restart
		return
	}
	if ts <= s.ts {
		return
	}
	if dc := count - s.count; dc > 0 {
		j.addSteps((sum-s.sum)/float64(dc), float64(dc), window)
	}
	s.ts, s.count, s.sum = ts, count, sum
}

// ingestTokens derives step samples from the token counter when a job does
// not send its step time: a step is global_batch × sequence_length tokens.
func (p *parallelismProcessor) ingestTokens(j *job, m pmetric.Metric, resHash uint64, now time.Time) {
	per := j.tokensPerStep()
	if m.Type() != pmetric.MetricTypeSum || per <= 0 {
		return
	}
	cumulative := m.Sum().AggregationTemporality() == pmetric.AggregationTemporalityCumulative
	dps := m.Sum().DataPoints()
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		v := numberValue(dp)
		var dv, dt float64
		if cumulative {
			s := j.seriesFor(p.seed, resHash^tokenSeed, dp.Attributes(), now)
			switch {
			case s.ts == 0 || dp.StartTimestamp() != s.start || v < s.sum:
				s.start, s.ts, s.sum = dp.StartTimestamp(), dp.Timestamp(), v // new series or a restart
				continue
			case dp.Timestamp() <= s.ts:
				continue
			}
			dv, dt = v-s.sum, float64(dp.Timestamp()-s.ts)/1e9
			s.ts, s.sum = dp.Timestamp(), v
		} else if dp.StartTimestamp() != 0 && dp.Timestamp() > dp.StartTimestamp() {
			dv, dt = v, float64(dp.Timestamp()-dp.StartTimestamp())/1e9
		}
		if dv > 0 && dt > 0 {
			steps := dv / per
			j.addSteps(dt/steps, steps, p.cfg.StepWindow)
		}
	}
}

// tokenSeed keeps a rank's token series apart from its step series.
const tokenSeed = 0x5851f42d4c957f2d

// seriesFor finds a rank's series: the hash of the resource with the
// point's attributes.
func (j *job) seriesFor(seed maphash.Seed, resHash uint64, attrs pcommon.Map, now time.Time) *series {
	h := resHash
	if attrs.Len() > 0 {
		h = hashAttrs(seed, h, attrs)
	}
	s := j.series[h]
	if s == nil {
		s = &series{}
		j.series[h] = s
	}
	s.seen = now
	return s
}

// hashAttrs folds attributes into h without allocating for the usual
// scalar values. Each attribute is hashed on its own and the results are
// added, so the order the sender put them in does not matter.
func hashAttrs(seed maphash.Seed, h uint64, attrs pcommon.Map) uint64 {
	attrs.Range(func(k string, v pcommon.Value) bool {
		var hv uint64
		switch v.Type() {
		case pcommon.ValueTypeStr:
			hv = maphash.String(seed, v.Str())
		case pcommon.ValueTypeInt:
			hv = maphash.Comparable(seed, v.Int())
		case pcommon.ValueTypeDouble:
			hv = maphash.Comparable(seed, v.Double())
		case pcommon.ValueTypeBool:
			hv = maphash.Comparable(seed, v.Bool())
		default:
			hv = maphash.String(seed, v.AsString())
		}
		// Multiplying by an odd constant before adding keeps the key and
		// the value from cancelling out (k=a,v=b against k=b,v=a).
		h += maphash.String(seed, k)*0x9e3779b97f4a7c15 ^ hv
		return true
	})
	if h == 0 {
		h = 1 // 0 means "not computed yet"
	}
	return h
}
