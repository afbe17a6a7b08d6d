package metricseries

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

func TestKeyIgnoresAttributeOrder(t *testing.T) {
	var b strings.Builder
	a, c := pcommon.NewMap(), pcommon.NewMap()
	a.PutStr("hw.id", "GPU-1")
	a.PutStr("host.name", "n1")
	c.PutStr("host.name", "n1")
	c.PutStr("hw.id", "GPU-1")
	empty := pcommon.NewMap()
	assert.Equal(t, Key(&b, "m", a, empty), Key(&b, "m", c, empty))
	// The same attribute on the resource or on the point are different series.
	assert.NotEqual(t, Key(&b, "m", a, empty), Key(&b, "m", empty, a))
	assert.NotEqual(t, Key(&b, "m", a, empty), Key(&b, "n", a, empty))
}

// AppendKey with ResourceKey writes exactly what Key returns.
func TestAppendKeyIsKey(t *testing.T) {
	var b strings.Builder
	res, pt := pcommon.NewMap(), pcommon.NewMap()
	empty := pcommon.NewMap()
	for i := range 20 { // past appendSorted's 16 keys on the stack
		res.PutStr(fmt.Sprintf("r%02d", 19-i), "v")
	}
	res.PutInt("nvidia.gpu.index", 3)
	pt.PutStr("hw.gpu.task", "general")
	pt.PutDouble("x", 1.5)
	for _, c := range []struct{ res, pt pcommon.Map }{{res, pt}, {res, empty}, {empty, pt}, {empty, empty}} {
		assert.Equal(t, Key(&b, "hw.gpu.utilization", c.res, c.pt),
			string(AppendKey([]byte("junk")[:0], "hw.gpu.utilization", ResourceKey(c.res), c.pt)))
	}
}

func TestLookupPointFirst(t *testing.T) {
	res, pt := pcommon.NewMap(), pcommon.NewMap()
	res.PutStr("k", "resource")
	v, ok := Lookup("k", res, pt)
	assert.True(t, ok)
	assert.Equal(t, "resource", v.Str())
	pt.PutStr("k", "point")
	v, _ = Lookup("k", res, pt)
	assert.Equal(t, "point", v.Str())

	var b strings.Builder
	_, ok = JoinAttrs(&b, []string{"k", "missing"}, res, pt)
	assert.False(t, ok, "a point without every group attribute joins no group")
	key, ok := JoinAttrs(&b, []string{"k"}, res, pt)
	assert.True(t, ok)
	assert.Equal(t, "point\x00", key)
}

func TestEachPoint(t *testing.T) {
	m := pmetric.NewMetric()
	sum := m.SetEmptySum()
	sum.SetIsMonotonic(true)
	sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	sum.DataPoints().AppendEmpty().SetIntValue(7)
	sum.DataPoints().AppendEmpty().SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
	var got []Point
	EachPoint(m, func(p Point) { got = append(got, p) })
	assert.Len(t, got, 1, "a point with no recorded value is skipped")
	assert.Equal(t, 7.0, got[0].Value)
	assert.True(t, got[0].Cumulative)

	g := pmetric.NewMetric()
	g.SetEmptyGauge().DataPoints().AppendEmpty().SetDoubleValue(0.5)
	got = got[:0]
	EachPoint(g, func(p Point) { got = append(got, p) })
	assert.Equal(t, []float64{0.5}, []float64{got[0].Value})
	assert.False(t, got[0].Cumulative)

	h := pmetric.NewMetric()
	h.SetEmptyHistogram().DataPoints().AppendEmpty()
	EachPoint(h, func(Point) { t.Fatal("histograms are not number points") })
}
