package report_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/acceltel/acceltel/internal/report"
)

// A counter's increase per bucket is its last reading minus the previous
// bucket's; the first bucket's base is the latest reading in the step
// before the range, when there is one.
func TestCumulativeIncrease(t *testing.T) {
	from := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	const step = 10 * time.Second
	for _, tc := range []struct {
		name      string
		before    bool // a reading just before the range
		wantFirst float64
	}{
		{"base before the range", true, 1},
		{"no base", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := report.NewBuilder(report.Options{From: from, To: from.Add(6 * step)})
			require.Equal(t, step, b.Step())
			add := func(d time.Duration, v float64) {
				b.AddNumber("nvidia.gpu.xid.errors", "{error}", report.KindCumulative, report.Labels{"nvidia.gpu.xid": "79"}, from.Add(d).UnixNano(), v)
			}
			if tc.before {
				add(-2*step, 100) // more than a step before: not a base
				add(-time.Second, 4)
			}
			add(5*time.Second, 5)
			add(15*time.Second, 5)
			add(25*time.Second, 7)
			add(35*time.Second, 2) // a reset: what it gained since
			d := b.Dataset("test", from.Add(time.Hour))
			s := d.ByMetric("nvidia.gpu.xid.errors")
			require.Len(t, s, 1)
			assert.Equal(t, []float64{tc.wantFirst, 0, 2, 2}, s[0].Inc[:4])
			assert.Equal(t, tc.wantFirst+4, s[0].Total)
		})
	}
}
