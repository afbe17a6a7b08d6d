package costmodel

import (
	"sort"
	"time"
)

// RateKind names how a GPU's time is bought.
type RateKind string

// The rate kinds of the price book.
const (
	OnDemand      RateKind = "on_demand"
	Spot          RateKind = "spot"
	Reserved      RateKind = "reserved"
	CapacityBlock RateKind = "capacity_block"
	OnPrem        RateKind = "on_prem"
)

// RateKinds lists every kind, in the order the documentation gives them.
var RateKinds = []RateKind{OnDemand, Spot, Reserved, CapacityBlock, OnPrem}

// Rule is one entry of the price book, already reduced to per-GPU prices.
type Rule struct {
	Name string
	// Priority orders rules that match the same GPU: higher wins; among
	// equal priorities the rule with more match attributes wins, then the
	// one written first.
	Priority int
	// Match lists resource attributes that must all be equal.
	Match map[string]string
	// From and Until bound the rule's effective period, [From, Until); a
	// zero time leaves that side open.
	From, Until time.Time
	// PerGPUHour holds the cloud rates per GPU and hour, by kind. An
	// on-prem rule has only OnPrem and applies whatever kind the node asks for.
	PerGPUHour map[RateKind]float64
	// USDPerJoule is the electricity price times PUE per joule; 0 when the
	// rule names no electricity price.
	USDPerJoule float64

	order int
}

func (r *Rule) activeAt(t time.Time) bool {
	return (r.From.IsZero() || !t.Before(r.From)) && (r.Until.IsZero() || t.Before(r.Until))
}

func (r *Rule) matches(attr func(string) (string, bool)) bool {
	for k, v := range r.Match {
		if got, ok := attr(k); !ok || got != v {
			return false
		}
	}
	return true
}

// rate says what the rule charges a GPU that asks for kind.
func (r *Rule) rate(kind RateKind) (float64, RateKind, bool) {
	if v, ok := r.PerGPUHour[OnPrem]; ok {
		return v, OnPrem, true
	}
	v, ok := r.PerGPUHour[kind]
	return v, kind, ok
}

// PriceBook finds the rule that prices a GPU at a time.
type PriceBook struct {
	rules []*Rule
}

// NewPriceBook orders the rules by precedence once, so lookups take the
// first rule that applies.
func NewPriceBook(rules []Rule) *PriceBook {
	pb := &PriceBook{rules: make([]*Rule, len(rules))}
	for i := range rules {
		r := rules[i]
		r.order = i
		pb.rules[i] = &r
	}
	sort.SliceStable(pb.rules, func(a, b int) bool {
		ra, rb := pb.rules[a], pb.rules[b]
		if ra.Priority != rb.Priority {
			return ra.Priority > rb.Priority
		}
		if len(ra.Match) != len(rb.Match) {
			return len(ra.Match) > len(rb.Match)
		}
		return ra.order < rb.order
	})
	return pb
}

// Quote is the price of one GPU over one interval.
type Quote struct {
	// Cost is the GPU's time cost over the priced part of the interval.
	Cost Nanos
	// Priced and Unpriced split the interval's duration.
	Priced, Unpriced time.Duration
	// USDPerJoule is the duration-weighted electricity price of the
	// interval (0 when no segment has one); energy is assumed spread evenly
	// over the interval.
	USDPerJoule float64
	// End describes the rule in force at the end of the interval, nil
	// when none prices the GPU then.
	End *Rule
	// EndKind and EndRate are the kind and USD per hour at the end.
	EndKind RateKind
	EndRate float64
	// Last and LastKind describe the last priced segment: the rule the
	// interval's cost is reported under.
	Last     *Rule
	LastKind RateKind
}

// Candidates returns, in precedence order, the rules whose attributes match.
// The processor caches this per GPU, since a GPU's attributes rarely change.
func (pb *PriceBook) Candidates(attr func(string) (string, bool)) []*Rule {
	var out []*Rule
	for _, r := range pb.rules {
		if r.matches(attr) {
			out = append(out, r)
		}
	}
	return out
}

// Price prices [from, to] for a GPU asking for kind, given its candidate
// rules. The interval is cut at every effective date inside it, so a price
// change in the middle of an interval bills each side at its own rate.
func Price(cands []*Rule, kind RateKind, from, to time.Time) Quote {
	var q Quote
	q.End, q.EndKind, q.EndRate = pick(cands, kind, to)
	if !to.After(from) {
		return q
	}
	cuts := []time.Time{from, to}
	for _, r := range cands {
		for _, t := range []time.Time{r.From, r.Until} {
			if !t.IsZero() && t.After(from) && t.Before(to) {
				cuts = append(cuts, t)
			}
		}
	}
	sort.Slice(cuts, func(a, b int) bool { return cuts[a].Before(cuts[b]) })
	var usd, joules float64
	for i := 0; i+1 < len(cuts); i++ {
		a, b := cuts[i], cuts[i+1]
		d := b.Sub(a)
		if d <= 0 {
			continue
		}
		r, k, perHour := pick(cands, kind, a)
		if r == nil {
			q.Unpriced += d
			continue
		}
		q.Last, q.LastKind = r, k
		q.Priced += d
		usd += perHour * d.Hours()
		joules += r.USDPerJoule * d.Seconds()
	}
	q.Cost = FromUSD(usd)
	if total := to.Sub(from).Seconds(); total > 0 {
		q.USDPerJoule = joules / total
	}
	return q
}

// pick returns the first rule, in precedence order, active at t with a rate
// for kind; a segment [a, b) is priced by the rule picked at a.
func pick(cands []*Rule, kind RateKind, t time.Time) (*Rule, RateKind, float64) {
	for _, r := range cands {
		if !r.activeAt(t) {
			continue
		}
		if v, k, ok := r.rate(kind); ok {
			return r, k, v
		}
	}
	return nil, kind, 0
}
