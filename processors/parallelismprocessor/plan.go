package parallelismprocessor // import "github.com/acceltel/acceltel/processors/parallelismprocessor"

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/acceltel/acceltel/internal/planner"
	"github.com/acceltel/acceltel/processors/parallelismprocessor/internal/metadata"
)

const gib = 1 << 30

// planKey is everything the layout search depends on.
type planKey struct {
	model   planner.Model
	cluster planner.Cluster
	opts    planner.Options
	maxMB   int
	crossTP bool
}

// planJob plans one job when it has enough new step samples and records its
// plan metrics. It returns why the job cannot be planned, or 0.
func (p *parallelismProcessor) planJob(j *job, now time.Time, ts pcommon.Timestamp) metadata.AttributeReason {
	if !j.hasSpec {
		return p.unplannable(j, metadata.AttributeReasonMissingAttributes, "it sends training metrics but no ml.* resource attributes")
	}
	if miss := j.spec.missing(); len(miss) > 0 {
		return p.unplannable(j, metadata.AttributeReasonMissingAttributes, "missing "+strings.Join(miss, "; "))
	}
	if bad := j.spec.invalid(); len(bad) > 0 {
		return p.unplannable(j, metadata.AttributeReasonInvalidInput, "values that do not parse: "+strings.Join(bad, ", "))
	}
	key, cur, reason, err := p.inputs(j, now)
	if err != nil {
		return p.unplannable(j, reason, err.Error())
	}
	if j.problem != "" {
		p.logger.Info("parallelism: training job can be planned now", zap.String("job", j.key))
		j.problem = ""
	}
	if j.pending < float64(p.cfg.MinSamples) {
		return 0
	}
	j.pending = 0
	p.search(j, key)

	measured, scratch := j.steps.median(p.scratch)
	p.scratch = scratch
	e := planner.Evaluate(&key.model, &key.cluster, cur, key.opts)
	raw := e.IterationSeconds
	// The error is that of the prediction made before this interval's
	// measurement, so it shows how well the calibrated model predicts and
	// does not shrink to zero by construction.
	predicted := j.factor * raw
	j.calibrate(measured/raw, &p.cfg.Calibration)

	speedup := 1.0
	best := j.best
	if best != nil && best.IterationSeconds > 0 {
		// One factor scales every layout of the job, so it cancels here; it
		// matters for the absolute times and costs reported.
		speedup = math.Max(1, raw/best.IterationSeconds)
	}
	recommend := best != nil && best.Layout != cur && speedup > 1+p.cfg.Margin

	mb := p.mb
	mb.RecordAcceltelPlanStepDurationPredictedDataPoint(ts, predicted)
	mb.RecordAcceltelPlanStepDurationMeasuredDataPoint(ts, measured)
	mb.RecordAcceltelPlanPredictionErrorDataPoint(ts, (predicted-measured)/measured)
	mb.RecordAcceltelPlanCalibrationFactorDataPoint(ts, j.factor)
	mb.RecordAcceltelPlanSpeedupDataPoint(ts, speedup)
	mb.RecordAcceltelPlanMemoryHeadroomDataPoint(ts, int64(e.MemoryCapacity-e.Memory.Total), metadata.AttributeLayoutCurrent)
	if key.cluster.PricePerGPUHour > 0 {
		mb.RecordAcceltelPlanStepCostDataPoint(ts, j.factor*e.CostPerStep, metadata.AttributeLayoutCurrent)
	}
	if recommend {
		l := best.Layout
		mb.RecordAcceltelPlanMemoryHeadroomDataPoint(ts, int64(best.MemoryCapacity-best.Memory.Total), metadata.AttributeLayoutRecommended)
		if key.cluster.PricePerGPUHour > 0 {
			mb.RecordAcceltelPlanStepCostDataPoint(ts, j.factor*best.CostPerStep, metadata.AttributeLayoutRecommended)
		}
		mb.RecordAcceltelPlanRecommendationDataPoint(ts, 1, int64(l.TP), int64(l.PP), int64(l.DP), int64(l.CP),
			int64(l.VirtualStages), int64(l.ZeRO), metadata.MapAttributeRecompute[string(l.Recompute)], int64(l.MicroBatch))
	}
	p.logRecommendation(j, recommend, cur, &e, measured, speedup, key.cluster.PricePerGPUHour > 0)

	rb := metadata.NewResourceBuilder(p.cfg.ResourceAttributes)
	if j.id != "" {
		rb.SetMlJobID(j.id)
	}
	if j.k8sJob != "" {
		rb.SetK8sJobName(j.k8sJob)
	}
	if j.k8sNamespace != "" {
		rb.SetK8sNamespaceName(j.k8sNamespace)
	}
	mb.EmitForResource(metadata.WithResource(rb.Emit()))
	return 0
}

// calibrate moves the job's factor towards the latest measured/predicted
// ratio. The average is taken on logarithms so that a job twice as slow as
// predicted and one twice as fast move the factor by the same step.
func (j *job) calibrate(ratio float64, c *CalibrationConfig) {
	if !(ratio > 0) || math.IsInf(ratio, 0) {
		return
	}
	lf := math.Log(j.factor)
	lf += c.Smoothing * (math.Log(ratio) - lf)
	j.factor = math.Min(c.Max, math.Max(c.Min, math.Exp(lf)))
}

// search runs the layout search unless its inputs are those of the last one.
func (p *parallelismProcessor) search(j *job, key planKey) {
	if key == j.planKey && (j.best != nil || j.planErr != nil) {
		return
	}
	j.planKey, j.best, j.planErr = key, nil, nil
	res, err := planner.Plan(key.model, key.cluster,
		planner.Constraints{MaxMicroBatch: key.maxMB, AllowCrossNodeTP: key.crossTP}, key.opts, 1)
	switch {
	case err != nil:
		j.planErr = err
	case len(res.Layouts) == 0:
		j.planErr = fmt.Errorf("none of %d valid layouts is predicted to fit in %.0f GiB per GPU", res.Considered, key.cluster.GPU.MemoryGiB)
	default:
		b := res.Layouts[0]
		j.best = &b
		return
	}
	p.logger.Warn("parallelism: no layout to recommend for a training job; its current layout is still compared with its measured step time",
		zap.String("job", j.key), zap.Error(j.planErr))
}

// inputs builds the planner's model, cluster and the job's current layout
// from what the job says and what the hardware receivers measured.
func (p *parallelismProcessor) inputs(j *job, now time.Time) (planKey, planner.Layout, metadata.AttributeReason, error) {
	s := &j.spec
	hw := p.figures(j, now)
	name, source := s.gpuModel, fieldNames[fGPUModel]
	if name == "" {
		name, source = hw.model, attrHWModel+" of "+metricGPUMemoryLimit
	}
	if name == "" {
		name, source = p.cfg.DefaultGPU, "default_gpu"
	}
	if name == "" {
		return planKey{}, planner.Layout{}, metadata.AttributeReasonUnknownGpu,
			errors.New("no GPU model: send " + fieldNames[fGPUModel] + ", run a GPU receiver reporting " + metricGPUMemoryLimit + " with " + attrHWModel + " in the same pipeline, or set default_gpu")
	}
	g, ok := planner.GPUPresetForModel(name)
	if !ok {
		return planKey{}, planner.Layout{}, metadata.AttributeReasonUnknownGpu,
			fmt.Errorf("GPU %q (from %s) matches none of the planner's GPUs (%s)", name, source, strings.Join(planner.GPUPresetNames(), ", "))
	}
	if hw.memLimit > 0 {
		g.MemoryGiB = hw.memLimit / gib
	}
	if hw.intraBW > 0 {
		g.IntraNodeGBs = roundSig(hw.intraBW/1e9, 2)
	}
	switch {
	case hw.interBW > 0:
		g.InterNodeGbps = roundSig(hw.interBW*8/1e9, 2)
	case hw.nicPerGPU > 0:
		g.InterNodeGbps = roundSig(hw.nicPerGPU*8/1e9, 2)
	}

	l := s.layout
	gpus := s.gpus
	if l.DP == 0 {
		per := l.TP * l.PP * l.CP
		if gpus%per != 0 {
			return planKey{}, l, metadata.AttributeReasonInvalidInput,
				fmt.Errorf("%s %d is not a multiple of tp·pp·cp = %d", fieldNames[fGPUs], gpus, per)
		}
		l.DP = gpus / per
	}
	if gpus == 0 {
		gpus = l.GPUs()
	}
	m, err := s.model.Normalize()
	if err != nil {
		return planKey{}, l, metadata.AttributeReasonInvalidInput, err
	}
	c, err := planner.Cluster{GPU: g, GPUs: gpus, GPUsPerNode: j.gpusPerNode(p.cfg), PricePerGPUHour: p.cfg.PricePerGPUHour}.Normalize()
	if err != nil {
		return planKey{}, l, metadata.AttributeReasonInvalidInput, err
	}
	// The current layout runs, whatever the planner would allow itself.
	if err := l.Check(&m, &c, true); err != nil {
		return planKey{}, l, metadata.AttributeReasonInvalidInput, err
	}
	opts := planner.Options{OverlapGradReduce: p.cfg.OverlapGradReduce, GradientBytes: p.cfg.GradientBytes}
	if s.present.has(fOverlap) {
		opts.OverlapGradReduce = s.overlap
	}
	return planKey{model: m, cluster: c, opts: opts, maxMB: p.cfg.MaxMicroBatch, crossTP: p.cfg.AllowCrossNodeTP}, l, 0, nil
}

// unplannable logs, once per distinct problem, why a job cannot be planned.
func (p *parallelismProcessor) unplannable(j *job, r metadata.AttributeReason, msg string) metadata.AttributeReason {
	if j.problem != msg {
		j.problem = msg
		p.logger.Warn("parallelism: training job cannot be planned: "+msg,
			zap.String("job", j.key), zap.String("reason", r.String()))
	}
	return r
}

// logRecommendation logs a recommendation when it appears or changes, and
// when it goes away, not at every interval.
func (p *parallelismProcessor) logRecommendation(j *job, recommend bool, cur planner.Layout, e *planner.Evaluation, measured, speedup float64, byCost bool) {
	if !recommend {
		if j.recommended != (planner.Layout{}) {
			j.recommended = planner.Layout{}
			p.logger.Info("parallelism: the training job's current layout is now within the margin of the best one",
				zap.String("job", j.key), zap.Stringer("current", cur))
		}
		return
	}
	best := j.best
	if j.recommended == best.Layout {
		return
	}
	j.recommended = best.Layout
	p.logger.Info("parallelism: a faster layout is predicted for a training job",
		zap.String("job", j.key),
		zap.Stringer("current", cur),
		zap.Stringer("recommended", best.Layout),
		zap.Float64("speedup", speedup),
		zap.Float64("measured_step_s", measured),
		zap.Float64("current_step_s", j.factor*e.IterationSeconds),
		zap.Float64("recommended_step_s", j.factor*best.IterationSeconds),
		zap.Float64("calibration_factor", j.factor),
		zap.String("current_loses_by", planner.WhyLoses(best, e, byCost)),
		zap.String("recommended_memory", best.MemoryBreakdown()))
}

// roundSig rounds to n significant digits.
func roundSig(x float64, n int) float64 {
	if x == 0 {
		return 0
	}
	p := math.Pow(10, float64(n)-math.Ceil(math.Log10(math.Abs(x))))
	return math.Round(x*p) / p
}
