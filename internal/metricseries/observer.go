package metricseries // import "github.com/acceltel/acceltel/internal/metricseries"

import "go.opentelemetry.io/collector/pdata/pcommon"

// Observer turns the points of one series into the values the anomaly
// engine watches: a gauge as it is, a cumulative sum as its rate (its level
// only ever grows), a histogram as the statistic of its interval. It keeps
// what that needs from the series' previous point; the zero value is ready.
type Observer struct {
	hist     *HistogramState // cumulative histograms only
	prev     float64
	prevTS   pcommon.Timestamp
	prevSt   pcommon.Timestamp
	havePrev bool
}

// Value is the watched value of pt; ok is false when there is none: a
// cumulative series' first point or a reset (a lower value, a new start
// time), an empty histogram interval.
func (o *Observer) Value(h *Histograms, pt *Point) (v float64, ok bool) {
	if pt.Hist.IsSet() {
		if pt.Cumulative && o.hist == nil {
			o.hist = new(HistogramState)
		}
		return h.Value(*pt, o.hist)
	}
	if !pt.Cumulative {
		return pt.Value, true
	}
	prev, prevTS := o.prev, o.prevTS
	ok = o.havePrev && pt.Value >= o.prev && pt.Start == o.prevSt && pt.Timestamp > o.prevTS
	o.prev, o.prevTS, o.prevSt, o.havePrev = pt.Value, pt.Timestamp, pt.Start, true
	if !ok {
		return 0, false
	}
	return (pt.Value - prev) / (float64(pt.Timestamp-prevTS) / 1e9), true
}
