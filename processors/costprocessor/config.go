package costprocessor // import "github.com/acceltel/acceltel/processors/costprocessor"

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/acceltel/acceltel/processors/costprocessor/internal/costmodel"
	"github.com/acceltel/acceltel/processors/costprocessor/internal/metadata"
)

// Config is the configuration of the cost processor.
type Config struct {
	metadata.MetricsBuilderConfig `mapstructure:",squash"`

	// Storage names a storage extension (for example file_storage) that
	// keeps cumulative costs and start times across restarts; without it
	// they live in memory only.
	Storage *component.ID `mapstructure:"storage"`

	// IdleUtilizationThreshold: a held unit whose utilization is below it is
	// billed as idle (allocated_underused) rather than allocated.
	IdleUtilizationThreshold float64 `mapstructure:"idle_utilization_threshold"`

	// MaxGap is the longest time between two samples of a GPU that is
	// billed; a longer gap (collector down, receiver stalled) is billed to
	// nobody, neither workload nor idle.
	MaxGap time.Duration `mapstructure:"max_gap"`

	// CheckpointInterval is how often state is written to storage, in the
	// data's time; 0 writes after every batch. Shutdown always writes.
	CheckpointInterval time.Duration `mapstructure:"checkpoint_interval"`

	// StateTTL drops series, GPUs and jobs not seen for that long.
	StateTTL time.Duration `mapstructure:"state_ttl"`

	// InstanceTypeAttribute is the resource attribute that names the cloud
	// instance type, which `instance_type` in a price rule matches.
	InstanceTypeAttribute string `mapstructure:"instance_type_attribute"`

	// RateKindAttribute is a resource attribute saying how the node is
	// bought (on-demand, spot, reserved, capacity-block: case, '-' and '_'
	// do not matter); empty, or absent on a GPU, means DefaultRateKind.
	RateKindAttribute string `mapstructure:"rate_kind_attribute"`
	DefaultRateKind   string `mapstructure:"default_rate_kind"`

	// BasePrices share an instance price between CPU, RAM and GPUs.
	BasePrices BasePricesConfig `mapstructure:"base_prices"`

	// MIGSlices is the number of compute slices of a GPU model when MIG
	// splits it (7 for A100 and H100, 4 for A30); DefaultMIGSlices otherwise.
	MIGSlices        map[string]int `mapstructure:"mig_slices"`
	DefaultMIGSlices int            `mapstructure:"default_mig_slices"`

	// PeakTFLOPS is the peak tensor throughput per GPU model, for cost per
	// PFLOP; a benchmark's measured peak, when reported, takes precedence.
	PeakTFLOPS map[string]float64 `mapstructure:"peak_tflops"`

	// Prices is the price book.
	Prices []PriceRule `mapstructure:"prices"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// BasePricesConfig are OpenCost's reference prices.
type BasePricesConfig struct {
	CPUPerVCPUHour float64 `mapstructure:"cpu_per_vcpu_hour"`
	RAMPerGiBHour  float64 `mapstructure:"ram_per_gib_hour"`
	GPUPerGPUHour  float64 `mapstructure:"gpu_per_gpu_hour"`
}

// PriceRule is one entry of the price book.
type PriceRule struct {
	// Name appears as acceltel.cost.rule on the outputs.
	Name string `mapstructure:"name"`
	// Priority: higher wins among rules matching the same GPU; then more
	// match attributes; then the rule written first.
	Priority int `mapstructure:"priority"`
	// Model, InstanceType and Match say which GPUs the rule prices: hw.model,
	// the instance type attribute, and any other resource attributes. All
	// given must be equal; a rule with none prices every GPU.
	Model        string            `mapstructure:"model"`
	InstanceType string            `mapstructure:"instance_type"`
	Match        map[string]string `mapstructure:"match"`
	// From and Until bound when the rule is in force, [from, until): YAML
	// timestamps (2025-01-01, 2025-01-01T00:00:00Z) or RFC 3339 strings;
	// absent leaves a side open.
	From  time.Time `mapstructure:"from"`
	Until time.Time `mapstructure:"until"`
	// Rates are USD per hour by rate kind: per GPU, or per instance when
	// Instance is set.
	Rates map[string]float64 `mapstructure:"rates"`
	// Instance makes Rates instance prices, shared out to its GPUs.
	Instance *InstanceConfig `mapstructure:"instance"`
	// OnPrem prices owned hardware by amortisation, whatever kind is asked.
	OnPrem *OnPremConfig `mapstructure:"on_prem"`
	// ElectricityPerKWh and PUE price the measured energy (hw.energy).
	ElectricityPerKWh float64 `mapstructure:"electricity_per_kwh"`
	PUE               float64 `mapstructure:"pue"`
}

// InstanceConfig describes a cloud instance whose price covers all of it.
type InstanceConfig struct {
	GPUs      int     `mapstructure:"gpus"`
	VCPUs     float64 `mapstructure:"vcpus"`
	MemoryGiB float64 `mapstructure:"memory_gib"`
	// GPUShare, when set, is the part of the instance price that goes to
	// the GPUs (1: all of it); otherwise OpenCost's base-price split decides.
	GPUShare float64 `mapstructure:"gpu_share"`
}

// OnPremConfig amortises owned GPUs.
type OnPremConfig struct {
	// PurchasePrice is what the server (or GPU) cost, covering GPUs GPUs.
	PurchasePrice float64 `mapstructure:"purchase_price"`
	GPUs          int     `mapstructure:"gpus"`
	LifetimeYears float64 `mapstructure:"lifetime_years"`
	// HostingPerHour adds per-GPU costs that are not energy (rack, support).
	HostingPerHour float64 `mapstructure:"hosting_per_hour"`
}

func parseRateKind(s string) (costmodel.RateKind, bool) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	if n == "ondemand" {
		n = "on_demand"
	}
	for _, k := range costmodel.RateKinds {
		if string(k) == n {
			return k, true
		}
	}
	return "", false
}

// Validate checks the configuration; errors name the offending path.
func (cfg *Config) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if t := cfg.IdleUtilizationThreshold; t < 0 || t > 1 {
		add("idle_utilization_threshold: must be within [0, 1], got %v", t)
	}
	if cfg.MaxGap <= 0 {
		add("max_gap: must be positive, got %v", cfg.MaxGap)
	}
	if cfg.CheckpointInterval < 0 {
		add("checkpoint_interval: must not be negative, got %v", cfg.CheckpointInterval)
	}
	if cfg.StateTTL <= 0 {
		add("state_ttl: must be positive, got %v", cfg.StateTTL)
	}
	if _, ok := parseRateKind(cfg.DefaultRateKind); !ok {
		add("default_rate_kind: unknown rate kind %q (want one of %v)", cfg.DefaultRateKind, costmodel.RateKinds)
	}
	if cfg.InstanceTypeAttribute == "" {
		add("instance_type_attribute: must not be empty")
	}
	b := cfg.BasePrices
	if b.CPUPerVCPUHour < 0 || b.RAMPerGiBHour < 0 || b.GPUPerGPUHour < 0 {
		add("base_prices: prices must not be negative")
	}
	if cfg.DefaultMIGSlices <= 0 {
		add("default_mig_slices: must be positive, got %d", cfg.DefaultMIGSlices)
	}
	for m, n := range cfg.MIGSlices {
		if n <= 0 {
			add("mig_slices::%s: must be positive, got %d", m, n)
		}
	}
	for m, v := range cfg.PeakTFLOPS {
		if !(v > 0) {
			add("peak_tflops::%s: must be positive, got %v", m, v)
		}
	}
	for _, s := range []struct {
		name, strategy string
	}{
		{"acceltel.cost.allocated", cfg.Metrics.AcceltelCostAllocated.AggregationStrategy},
		{"acceltel.cost.idle", cfg.Metrics.AcceltelCostIdle.AggregationStrategy},
		{"acceltel.cost.energy", cfg.Metrics.AcceltelCostEnergy.AggregationStrategy},
	} {
		// Costs of series merged by dropping attributes can only be added.
		if s.strategy != metadata.AggregationStrategySum {
			add("metrics::%s::aggregation_strategy: cost sums can only be summed, got %q", s.name, s.strategy)
		}
	}
	_, err := cfg.rules()
	return errors.Join(append(errs, err)...)
}

// rules turns the price book into per-GPU engine rules, checking it.
func (cfg *Config) rules() ([]costmodel.Rule, error) {
	var errs []error
	out := make([]costmodel.Rule, 0, len(cfg.Prices))
	base := costmodel.BasePrices(cfg.BasePrices)
	for i, p := range cfg.Prices {
		path := fmt.Sprintf("prices::%d", i)
		if p.Name != "" {
			path = fmt.Sprintf("prices::%d (%s)", i, p.Name)
		}
		add := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf(path+": "+format, a...))
		}
		r := costmodel.Rule{Name: p.Name, Priority: p.Priority, Match: map[string]string{}, PerGPUHour: map[costmodel.RateKind]float64{}}
		if r.Name == "" {
			r.Name = fmt.Sprintf("prices[%d]", i)
		}
		maps.Copy(r.Match, p.Match)
		if p.Model != "" {
			r.Match["hw.model"] = p.Model
		}
		if p.InstanceType != "" {
			r.Match[cfg.InstanceTypeAttribute] = p.InstanceType
		}
		// Every number of a rule must be finite: YAML's .inf and .nan parse.
		for _, v := range []struct {
			name string
			v    float64
		}{{"electricity_per_kwh", p.ElectricityPerKWh}, {"pue", p.PUE}} {
			if math.IsNaN(v.v) || math.IsInf(v.v, 0) {
				add("%s: must be a finite number, got %v", v.name, v.v)
			}
		}
		if o := p.OnPrem; o != nil {
			for _, v := range []float64{o.PurchasePrice, o.LifetimeYears, o.HostingPerHour} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					add("on_prem: purchase_price, lifetime_years and hosting_per_hour must be finite numbers")
					break
				}
			}
		}
		if in := p.Instance; in != nil {
			for _, v := range []float64{in.VCPUs, in.MemoryGiB, in.GPUShare} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					add("instance: vcpus, memory_gib and gpu_share must be finite numbers")
					break
				}
			}
		}
		r.From, r.Until = p.From, p.Until
		if !r.From.IsZero() && !r.Until.IsZero() && !r.From.Before(r.Until) {
			add("from (%s) must be before until (%s)", orOpen(p.From), orOpen(p.Until))
		}
		if p.ElectricityPerKWh < 0 {
			add("electricity_per_kwh: must not be negative, got %v", p.ElectricityPerKWh)
		}
		if p.PUE != 0 && p.PUE < 1 {
			add("pue: must be at least 1, got %v", p.PUE)
		}
		r.USDPerJoule = costmodel.USDPerJoule(p.ElectricityPerKWh, p.PUE)
		switch {
		case p.OnPrem != nil && len(p.Rates) > 0:
			add("give either rates or on_prem, not both")
		case p.OnPrem != nil:
			o := p.OnPrem
			gpus := o.GPUs
			if gpus == 0 {
				gpus = 1
			}
			if o.PurchasePrice < 0 || o.HostingPerHour < 0 || gpus < 0 {
				add("on_prem: purchase_price, gpus and hosting_per_hour must not be negative")
			}
			if !(o.LifetimeYears > 0) {
				add("on_prem::lifetime_years: must be positive, got %v", o.LifetimeYears)
			}
			if p.Instance != nil {
				add("instance: does not apply to on_prem (give on_prem::gpus)")
			}
			if gpus > 0 {
				r.PerGPUHour[costmodel.OnPrem] = costmodel.AmortisedPerHour(o.PurchasePrice/float64(gpus), o.LifetimeYears) + o.HostingPerHour
			}
		case len(p.Rates) == 0:
			add("give rates or on_prem")
		default:
			share := 1.0
			if in := p.Instance; in != nil {
				if in.GPUs <= 0 {
					add("instance::gpus: must be positive, got %d", in.GPUs)
				}
				if in.VCPUs < 0 || in.MemoryGiB < 0 {
					add("instance: vcpus and memory_gib must not be negative")
				}
				if in.GPUShare < 0 || in.GPUShare > 1 {
					add("instance::gpu_share: must be within (0, 1], got %v", in.GPUShare)
				}
				gpus := float64(max(in.GPUs, 1))
				if in.GPUShare > 0 {
					share = in.GPUShare / gpus
				} else {
					_, _, g := costmodel.SplitNode(1, in.VCPUs, in.MemoryGiB, gpus, base)
					share = g / gpus
				}
			}
			for _, k := range sortedKeys(p.Rates) {
				v := p.Rates[k]
				kind, ok := parseRateKind(k)
				switch {
				case !ok || kind == costmodel.OnPrem:
					add("rates::%s: unknown rate kind (want on_demand, spot, reserved or capacity_block; owned hardware uses on_prem)", k)
				case v < 0 || v != v:
					add("rates::%s: price must not be negative, got %v", k, v)
				case math.IsInf(v, 1):
					add("rates::%s: price must be a finite number, got %v", k, v)
				default:
					r.PerGPUHour[kind] = v * share
				}
			}
		}
		out = append(out, r)
	}
	errs = append(errs, overlaps(out, cfg.Prices)...)
	return out, errors.Join(errs...)
}

// overlaps reports rules that match the same GPUs with the same priority in
// periods that overlap: precedence would fall back to the order they are
// written in, which is too quiet a way to settle two prices for one GPU.
func overlaps(rules []costmodel.Rule, raw []PriceRule) []error {
	var errs []error
	for i := range rules {
		for j := i + 1; j < len(rules); j++ {
			a, b := rules[i], rules[j]
			if a.Priority != b.Priority || !maps.Equal(a.Match, b.Match) {
				continue
			}
			if (a.Until.IsZero() || b.From.Before(a.Until)) && (b.Until.IsZero() || a.From.Before(b.Until)) {
				errs = append(errs, fmt.Errorf("prices::%d (%s) and prices::%d (%s): overlapping effective dates [%s, %s) and [%s, %s) for the same match and priority",
					i, a.Name, j, b.Name, orOpen(raw[i].From), orOpen(raw[i].Until), orOpen(raw[j].From), orOpen(raw[j].Until)))
			}
		}
	}
	return errs
}

func orOpen(t time.Time) string {
	if t.IsZero() {
		return "open"
	}
	return t.Format(time.RFC3339)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
