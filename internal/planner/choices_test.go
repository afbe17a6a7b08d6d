package planner

import (
	"slices"
	"testing"
)

// choices enumerates by trial division up to √n; it must list exactly what
// the plain loop over 1..n lists, in the same order.
func TestChoicesMatchesPlainLoop(t *testing.T) {
	plain := func(fixed, n, limit int) []int {
		if fixed > 0 {
			return []int{fixed}
		}
		var out []int
		for d := 1; d <= n && d <= limit; d++ {
			if n%d == 0 {
				out = append(out, d)
			}
		}
		return out
	}
	for n := 0; n <= 1500; n++ {
		for _, limit := range []int{0, 1, 2, 7, 8, 16, 37, 100, n / 2, n, 1 << 30} {
			got := choices(nil, 0, n, limit)
			if want := plain(0, n, limit); !slices.Equal(got, want) && len(got)+len(want) > 0 {
				t.Fatalf("choices(n=%d, limit=%d) = %v, want %v", n, limit, got, want)
			}
		}
	}
	if got := choices(nil, 3, 8, 1); !slices.Equal(got, []int{3}) {
		t.Fatalf("fixed: %v", got)
	}
	// A large n costs √n steps, not n.
	if got := choices(nil, 0, 1<<40, 1<<40); len(got) != 41 {
		t.Fatalf("%d divisors of 2^40", len(got))
	}
}
