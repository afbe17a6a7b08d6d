package costmodel

import (
	"math"
	"sort"
)

// Nanos is an amount of money in nano-dollars (1e-9 USD).
type Nanos int64

// NanosPerUSD converts dollars to Nanos.
const NanosPerUSD = 1e9

// FromUSD rounds a dollar amount to the nearest nano-dollar. Amounts beyond
// what Nanos holds (about ±9.2 billion USD) saturate, and NaN is 0: a
// float-to-int conversion out of range is undefined in Go (on amd64 it
// gives the most negative int64, turning a huge cost into a credit).
func FromUSD(usd float64) Nanos {
	n := math.Round(usd * NanosPerUSD)
	switch {
	case n != n:
		return 0
	case n >= math.MaxInt64:
		return math.MaxInt64
	case n <= math.MinInt64:
		return math.MinInt64
	}
	return Nanos(n)
}

// USD converts back to dollars, for output only.
func (n Nanos) USD() float64 { return float64(n) / NanosPerUSD }

// Split distributes total between parts in proportion to weights, by the
// largest-remainder method: every part gets the floor of its exact share and
// the nanos left over go one by one to the largest fractional remainders (ties
// to the lower index, so the result is deterministic). The parts always add up
// to total exactly. Non-positive or NaN weights get nothing; if no weight is
// positive the whole total goes to part fallback.
func Split(total Nanos, weights []float64, fallback int) []Nanos {
	out := make([]Nanos, len(weights))
	if len(weights) == 0 {
		return out
	}
	var sum float64
	for _, w := range weights {
		if w > 0 {
			sum += w
		}
	}
	if !(sum > 0) {
		out[fallback] = total
		return out
	}
	neg := total < 0
	t := total
	if neg {
		t = -t
	}
	type rem struct {
		i int
		r float64
	}
	rems := make([]rem, 0, len(weights))
	var given Nanos
	for i, w := range weights {
		if !(w > 0) {
			continue
		}
		exact := float64(t) * (w / sum)
		fl := math.Floor(exact)
		out[i] = Nanos(fl)
		given += out[i]
		rems = append(rems, rem{i, exact - fl})
	}
	// Float rounding can leave the floors a little over or under the total;
	// settle the difference so the identity holds whatever the rounding did.
	left := t - given
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for k := 0; left > 0; k = (k + 1) % len(rems) {
		out[rems[k].i]++
		left--
	}
	for k := len(rems) - 1; left < 0; k = (k + len(rems) - 1) % len(rems) {
		if out[rems[k].i] > 0 {
			out[rems[k].i]--
			left++
		}
	}
	if neg {
		for i := range out {
			out[i] = -out[i]
		}
	}
	return out
}
