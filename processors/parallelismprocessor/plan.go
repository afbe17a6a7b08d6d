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
	// commMeasured is true when NCCL bus bandwidths measured on the job's
	// hosts replaced the preset's link figures.
	commMeasured bool
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
	// The search ran with the job's calibration rounded (see scaleKey); the
	// current and best layouts are evaluated here with the exact one.
	exact := key.opts
	exact.Scale = j.scale
	uncal := exact
	uncal.Scale = planner.Scale{}
	rawE, err := planner.Evaluate(&key.model, &key.cluster, cur, uncal)
	if err != nil {
		return p.unplannable(j, metadata.AttributeReasonInvalidInput, err.Error())
	}
	raw := rawE.IterationSeconds
	before, _ := planner.Evaluate(&key.model, &key.cluster, cur, exact)
	// The error is that of the prediction made before this interval's
	// measurement, so it shows how well the calibrated model predicts and
	// does not shrink to zero by construction.
	predicted := before.IterationSeconds
	j.calibrate(measured, &before, func(s planner.Scale) float64 {
		o := exact
		o.Scale = s
		e, _ := planner.Evaluate(&key.model, &key.cluster, cur, o)
		return e.IterationSeconds
	}, key.commMeasured, &p.cfg.Calibration)
	exact.Scale = j.scale
	e, _ := planner.Evaluate(&key.model, &key.cluster, cur, exact)
	// The overall factor: calibrated over uncalibrated prediction of the
	// current layout.
	j.factor = e.IterationSeconds / raw

	speedup := 1.0
	var best *planner.Evaluation
	if j.best != nil {
		// Separate compute and communication factors weigh layouts
		// differently, so the calibration can change which one wins.
		if b, err := planner.Evaluate(&key.model, &key.cluster, j.best.Layout, exact); err == nil {
			best = &b
		}
	}
	if best != nil && best.IterationSeconds > 0 {
		speedup = math.Max(1, e.IterationSeconds/best.IterationSeconds)
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
		mb.RecordAcceltelPlanStepCostDataPoint(ts, e.CostPerStep, metadata.AttributeLayoutCurrent)
	}
	if recommend {
		l := best.Layout
		mb.RecordAcceltelPlanMemoryHeadroomDataPoint(ts, int64(best.MemoryCapacity-best.Memory.Total), metadata.AttributeLayoutRecommended)
		if key.cluster.PricePerGPUHour > 0 {
			mb.RecordAcceltelPlanStepCostDataPoint(ts, best.CostPerStep, metadata.AttributeLayoutRecommended)
		}
		mb.RecordAcceltelPlanRecommendationDataPoint(ts, 1, int64(l.TP), int64(l.PP), int64(l.DP), int64(l.CP),
			int64(l.VirtualStages), int64(l.ZeRO), metadata.MapAttributeRecompute[string(l.Recompute)], int64(l.MicroBatch))
	}
	p.logRecommendation(j, best, recommend, cur, &e, measured, speedup, key.cluster.PricePerGPUHour > 0)

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

// calibrate moves the job's compute or communication factor so that the
// calibrated prediction of its current layout moves towards the measured
// step time by calibration::smoothing (an exponential average of
// logarithms). One job on one layout gives one ratio, so one factor moves:
//   - the communication factor, when the current layout's predicted exposed
//     communication is at least calibration::communication_share of its step
//     and no NCCL bus bandwidth was measured for the job's hosts: the time
//     the compute side does not explain is put on communication;
//   - the compute factor otherwise: with little communication the residual
//     is the kernels' efficiency, and with measured bus bandwidths the
//     communication side is already taken from measurements.
//
// predict gives the current layout's step time under a scale; the factor
// is solved for (the model is not linear in it: host launch overlaps GPU
// work, the bubble mixes both) and clamped to [calibration::min, max].
func (j *job) calibrate(measured float64, cur *planner.Evaluation, predict func(planner.Scale) float64, commMeasured bool, c *CalibrationConfig) {
	pred := cur.IterationSeconds
	if !(measured > 0) || math.IsInf(measured, 0) || !(pred > 0) {
		return
	}
	lp := math.Log(pred)
	target := math.Exp(lp + c.Smoothing*(math.Log(measured)-lp))
	comm := cur.Time.Communication()
	onComm := !commMeasured && comm > 0 && comm >= c.CommunicationShare*pred
	field := &j.scale.Compute
	if onComm {
		field = &j.scale.Communication
	}
	cur0 := *field
	if cur0 <= 0 {
		cur0 = 1
	}
	at := func(x float64) float64 {
		s := j.scale
		if onComm {
			s.Communication = x
		} else {
			s.Compute = x
		}
		return predict(s)
	}
	// Secant steps on the predicted time, from the current factor and the
	// linear estimate; monotone in the factor, so a few steps converge.
	part := pred - comm
	if onComm {
		part = comm
	}
	x0, f0 := cur0, pred-target
	x1 := cur0 * (1 - f0/part)
	x1 = math.Min(c.Max, math.Max(c.Min, x1))
	for range 6 {
		f1 := at(x1) - target
		if math.Abs(f1) <= 1e-12*target || f1 == f0 {
			break
		}
		x0, x1, f0 = x1, x1-f1*(x1-x0)/(f1-f0), f1
		x1 = math.Min(c.Max, math.Max(c.Min, x1))
		if x1 == x0 {
			break
		}
	}
	*field = x1
}

// scaleKey is the calibration the layout search runs with, rounded to two
// significant digits so that a factor drifting by noise does not rerun the
// search every interval.
func scaleKey(s planner.Scale) planner.Scale {
	return planner.Scale{Compute: roundSig(s.Compute, 2), Communication: roundSig(s.Communication, 2), Bubble: roundSig(s.Bubble, 2)}
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
	// A configured price wins; otherwise the cost processor's, rounded so
	// that a GPU coming and going does not rerun the search.
	price := p.cfg.PricePerGPUHour
	if price == 0 {
		price = roundSig(hw.pricePerGPUHour(), 4)
	}
	c, err := planner.Cluster{GPU: g, GPUs: gpus, GPUsPerNode: j.gpusPerNode(p.cfg), PricePerGPUHour: price}.Normalize()
	if err != nil {
		return planKey{}, l, metadata.AttributeReasonInvalidInput, err
	}
	// The current layout runs, whatever the planner would allow itself.
	if err := l.Check(&m, &c, true); err != nil {
		return planKey{}, l, metadata.AttributeReasonInvalidInput, err
	}
	opts := planner.Options{OverlapGradReduce: p.cfg.OverlapGradReduce, GradientBytes: p.cfg.GradientBytes, Scale: scaleKey(j.scale)}
	if s.present.has(fOverlap) {
		opts.OverlapGradReduce = s.overlap
	}
	return planKey{model: m, cluster: c, opts: opts, maxMB: p.cfg.MaxMicroBatch, crossTP: p.cfg.AllowCrossNodeTP,
		commMeasured: hw.intraBW > 0 || hw.interBW > 0}, l, 0, nil
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
func (p *parallelismProcessor) logRecommendation(j *job, best *planner.Evaluation, recommend bool, cur planner.Layout, e *planner.Evaluation, measured, speedup float64, byCost bool) {
	if !recommend {
		if j.recommended != (planner.Layout{}) {
			j.recommended = planner.Layout{}
			p.logger.Info("parallelism: the training job's current layout is now within the margin of the best one",
				zap.String("job", j.key), zap.Stringer("current", cur))
		}
		return
	}
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
		zap.Float64("current_step_s", e.IterationSeconds),
		zap.Float64("recommended_step_s", best.IterationSeconds),
		zap.Float64("calibration_factor", j.factor),
		zap.Float64("calibration_compute", orOne(j.scale.Compute)),
		zap.Float64("calibration_communication", orOne(j.scale.Communication)),
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

func orOne(x float64) float64 {
	if x > 0 {
		return x
	}
	return 1
}
