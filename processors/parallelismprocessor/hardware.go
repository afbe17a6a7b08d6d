package parallelismprocessor // import "github.com/acceltel/acceltel/processors/parallelismprocessor"

import (
	"math"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// hostHW is what the GPU, NCCL and InfiniBand receivers measured on one host.
// A value older than the TTL is replaced by the next one whatever it is, so
// a minimum or maximum follows the hardware when it changes.
type hostHW struct {
	seen     time.Time
	model    string
	memLimit reading // smallest GPU memory limit, bytes
	intraBW  reading // largest all-reduce bus bandwidth within one node, By/s
	interBW  reading // largest all-reduce bus bandwidth across nodes, By/s
	ports    map[string]reading
	rates    map[string]reading // each GPU's price per hour, by hw.id
}

type reading struct {
	v    float64
	seen time.Time
}

func (r *reading) min(v float64, now time.Time, ttl time.Duration) {
	if r.v == 0 || v < r.v || now.Sub(r.seen) > ttl {
		r.v = v
	}
	r.seen = now
}

func (r *reading) max(v float64, now time.Time, ttl time.Duration) {
	if v > r.v || now.Sub(r.seen) > ttl {
		r.v = v
	}
	r.seen = now
}

// hwFigures are the measured figures of the hosts a job runs on; zero
// means not measured.
type hwFigures struct {
	model            string
	memLimit         float64 // bytes
	intraBW, interBW float64 // By/s
	nicPerGPU        float64 // By/s
	// rateSum and rateN add up the GPUs' prices per hour that the cost
	// processor reported: the job's GPUs cost their mean each.
	rateSum float64
	rateN   int
}

// pricePerGPUHour is the mean price of the job's hosts' GPUs; 0 when none
// is priced.
func (f *hwFigures) pricePerGPUHour() float64 {
	if f.rateN == 0 {
		return 0
	}
	return f.rateSum / float64(f.rateN)
}

// hostKey is how hardware and jobs meet: the node's name. Resources without
// one (a single-machine or sidecar pipeline) meet under "".
func hostKey(attrs pcommon.Map) string {
	if v, ok := attrs.Get(attrHostName); ok {
		return v.AsString()
	}
	if v, ok := attrs.Get(attrK8sNodeName); ok {
		return v.AsString()
	}
	return ""
}

// host returns the hardware record of a host, creating it.
func (p *parallelismProcessor) host(key string, now time.Time) *hostHW {
	h := p.hosts[key]
	if h == nil {
		h = &hostHW{}
		p.hosts[key] = h
	}
	h.seen = now
	return h
}

// ingestHardware reads one hardware metric; it reports whether the metric
// was one.
func (p *parallelismProcessor) ingestHardware(m pmetric.Metric, res pcommon.Map, hostKey string, now time.Time) bool {
	ttl := p.cfg.JobTTL
	switch m.Name() {
	case metricGPUMemoryLimit:
		scale := unitScale(m.Unit(), "By")
		dps := gaugeOrSum(m)
		if scale == 0 || dps.Len() == 0 {
			return true
		}
		h := p.host(hostKey, now)
		if v, ok := res.Get(attrHWModel); ok {
			h.model = v.AsString()
		}
		for i := 0; i < dps.Len(); i++ {
			if v := numberValue(dps.At(i)) * scale; v > 0 {
				h.memLimit.min(v, now, ttl)
			}
		}
	case metricBusBandwidth:
		scale := unitScale(m.Unit(), "By/s")
		dps := gaugeOrSum(m)
		for i := 0; scale > 0 && i < dps.Len(); i++ {
			dp := dps.At(i)
			c, ok := dp.Attributes().Get(attrCollective)
			if !ok || !isAllReduce(c.AsString()) {
				continue
			}
			nodes, ok := dp.Attributes().Get(attrCommNodes)
			if !ok {
				continue
			}
			n, ok := intValue(nodes)
			v := numberValue(dp) * scale
			if !ok || n < 1 || v <= 0 {
				continue
			}
			h := p.host(hostKey, now)
			if n == 1 {
				h.intraBW.max(v, now, ttl)
			} else {
				h.interBW.max(v, now, ttl)
			}
		}
	case metricIBPortRate:
		scale := unitScale(m.Unit(), "By/s")
		dps := gaugeOrSum(m)
		if scale == 0 || dps.Len() == 0 {
			return true
		}
		h := p.host(hostKey, now)
		dev := ""
		if v, ok := res.Get(attrIBDevice); ok {
			dev = v.AsString()
		}
		for i := 0; i < dps.Len(); i++ {
			dp := dps.At(i)
			port := dev
			if v, ok := dp.Attributes().Get(attrIBPort); ok {
				port += "/" + v.AsString()
			}
			if h.ports == nil {
				h.ports = make(map[string]reading)
			}
			h.ports[port] = reading{v: numberValue(dp) * scale, seen: now}
		}
	case metricCostRate:
		// The currency is the price book's; only the per-hour rate is read.
		dps := gaugeOrSum(m)
		if !strings.HasSuffix(m.Unit(), "/h") || dps.Len() == 0 {
			return true
		}
		h := p.host(hostKey, now)
		gpu := ""
		if v, ok := res.Get(attrHWID); ok {
			gpu = v.AsString()
		}
		if v := numberValue(dps.At(dps.Len() - 1)); v > 0 {
			if h.rates == nil {
				h.rates = make(map[string]reading)
			}
			h.rates[gpu] = reading{v: v, seen: now}
		}
	default:
		if !strings.HasPrefix(m.Name(), "hw.gpu.") {
			return false
		}
		if v, ok := res.Get(attrHWModel); ok {
			p.host(hostKey, now).model = v.AsString()
		}
	}
	return true
}

// isAllReduce accepts the spellings of NCCL's own names (ncclAllReduce,
// "AllReduce") and of nccl-tests (all_reduce_perf).
func isAllReduce(s string) bool {
	s = strings.ToLower(strings.ReplaceAll(s, "_", ""))
	return strings.TrimPrefix(strings.TrimSuffix(s, "perf"), "nccl") == "allreduce"
}

// figures combines the hosts a job was seen on: the smallest of each
// figure, since the slowest rank sets the pace. A job seen on no host with
// hardware figures gets those of the host-less resources, which is what a
// single machine or a sidecar pipeline has.
func (p *parallelismProcessor) figures(j *job, now time.Time) hwFigures {
	var f hwFigures
	found := false
	for key := range j.hosts {
		if h := p.hosts[key]; h != nil && key != "" {
			f.merge(h, p.cfg, j, now)
			found = true
		}
	}
	if !found {
		if h := p.hosts[""]; h != nil {
			f.merge(h, p.cfg, j, now)
		}
	}
	return f
}

func (f *hwFigures) merge(h *hostHW, cfg *Config, j *job, now time.Time) {
	fresh := func(r reading) float64 {
		if now.Sub(r.seen) > cfg.JobTTL {
			return 0
		}
		return r.v
	}
	if f.model == "" {
		f.model = h.model
	}
	f.memLimit = minKnown(f.memLimit, fresh(h.memLimit))
	f.intraBW = minKnown(f.intraBW, fresh(h.intraBW))
	f.interBW = minKnown(f.interBW, fresh(h.interBW))
	// One NIC per GPU at the fastest port's rate (rail-optimized nodes),
	// but never more than the node's ports together shared by its GPUs.
	var fastest, total float64
	for _, r := range h.ports {
		if v := fresh(r); v > 0 {
			fastest = math.Max(fastest, v)
			total += v
		}
	}
	if fastest > 0 {
		f.nicPerGPU = minKnown(f.nicPerGPU, math.Min(fastest, total/float64(j.gpusPerNode(cfg))))
	}
	for _, r := range h.rates {
		if v := fresh(r); v > 0 {
			f.rateSum += v
			f.rateN++
		}
	}
}

func (p *parallelismProcessor) expireHosts(now time.Time) {
	for k, h := range p.hosts {
		if now.Sub(h.seen) > p.cfg.JobTTL {
			delete(p.hosts, k)
			continue
		}
		for port, r := range h.ports {
			if now.Sub(r.seen) > p.cfg.JobTTL {
				delete(h.ports, port)
			}
		}
		for gpu, r := range h.rates {
			if now.Sub(r.seen) > p.cfg.JobTTL {
				delete(h.rates, gpu)
			}
		}
	}
}

// minKnown is the smaller of two figures where 0 means unknown.
func minKnown(a, b float64) float64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return math.Min(a, b)
}

func gaugeOrSum(m pmetric.Metric) pmetric.NumberDataPointSlice {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints()
	}
	return pmetric.NewNumberDataPointSlice()
}

func numberValue(dp pmetric.NumberDataPoint) float64 {
	if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
		return float64(dp.IntValue())
	}
	return dp.DoubleValue()
}

// unitScale converts a UCUM unit to base ("By" or "By/s"); 0 means the unit
// is not one of those, and the metric is not used rather than misread.
func unitScale(unit, base string) float64 {
	rate := strings.HasSuffix(base, "/s")
	if rate {
		if !strings.HasSuffix(unit, "/s") {
			return 0
		}
		unit = strings.TrimSuffix(unit, "/s")
	}
	var scale float64
	switch {
	case strings.HasSuffix(unit, "By"):
		scale, unit = 1, strings.TrimSuffix(unit, "By")
	case rate && strings.HasSuffix(unit, "bit"):
		scale, unit = 1.0/8, strings.TrimSuffix(unit, "bit")
	default:
		return 0
	}
	p, ok := unitPrefixes[unit]
	if !ok {
		return 0
	}
	return scale * p
}

var unitPrefixes = map[string]float64{"": 1, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
	"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}
