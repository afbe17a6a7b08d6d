package anomalyconfig // import "github.com/acceltel/acceltel/internal/anomalyconfig"

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// detectorKeys are the YAML keys of Detectors, each with how to put its
// default back: an engine error names no key, so check finds the keys
// behind it by resetting them one at a time.
var detectorKeys = []struct {
	name  string
	reset func(d *Detectors, def Detectors)
}{
	{"robust_window", func(d *Detectors, def Detectors) { d.RobustWindow = def.RobustWindow }},
	{"ewma_alpha", func(d *Detectors, def Detectors) { d.EWMAAlpha = def.EWMAAlpha }},
	{"seasonal", func(d *Detectors, def Detectors) { d.Seasonal = def.Seasonal }},
	{"seasonal_period", func(d *Detectors, def Detectors) { d.SeasonalPeriod = def.SeasonalPeriod }},
	{"combine", func(d *Detectors, def Detectors) { d.Combine = def.Combine }},
	{"spot_q", func(d *Detectors, def Detectors) { d.SPOTQ = def.SPOTQ }},
	{"spot_level", func(d *Detectors, def Detectors) { d.SPOTLevel = def.SPOTLevel }},
	{"spot_init", func(d *Detectors, def Detectors) { d.SPOTInit = def.SPOTInit }},
	{"refractory", func(d *Detectors, def Detectors) { d.Refractory = def.Refractory }},
	{"knn_window", func(d *Detectors, def Detectors) { d.KNNWindow = def.KNNWindow }},
	{"knn_dim", func(d *Detectors, def Detectors) { d.KNNDim = def.KNNDim }},
	{"knn_k", func(d *Detectors, def Detectors) { d.KNNK = def.KNNK }},
	{"knn_weight", func(d *Detectors, def Detectors) { d.KNNWeight = def.KNNWeight }},
	{"rest_period", func(d *Detectors, def Detectors) { d.RestPeriod = def.RestPeriod }},
	{"novelty_calib", func(d *Detectors, def Detectors) { d.NoveltyCalib = def.NoveltyCalib }},
	{"novelty_p", func(d *Detectors, def Detectors) { d.NoveltyP = def.NoveltyP }},
}

// check returns the engine's objections to d, each under the YAML keys
// whose default would lift it ("detectors.knn_window, knn_dim: ..."). The
// engine owns the rules; naming keys here keeps them in one place.
func (d Detectors) check() []error {
	var errs []error
	if d.Combine != "mean" && d.Combine != "max" {
		errs = append(errs, fmt.Errorf("detectors.combine: %q is not mean or max", d.Combine))
	}
	if d.SeasonalPeriod < 0 {
		errs = append(errs, errors.New("detectors.seasonal_period must be >= 0"))
	}
	def := DefaultDetectors()
	for _, msg := range engineErrors(d) {
		var keys []string
		for _, k := range detectorKeys {
			alt := d
			k.reset(&alt, def)
			if !slices.Contains(engineErrors(alt), msg) {
				keys = append(keys, k.name)
			}
		}
		where := "detectors"
		if len(keys) > 0 {
			where += "." + strings.Join(keys, ", ")
		}
		errs = append(errs, errors.New(where+": "+msg))
	}
	return errs
}

// engineErrors are the messages of the engine's Validate, one per problem.
func engineErrors(d Detectors) []string {
	err := d.Engine().Validate()
	if err == nil {
		return nil
	}
	var msgs []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			msgs = append(msgs, e.Error())
		}
		return msgs
	}
	return []string{err.Error()}
}
