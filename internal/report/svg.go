package report

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
	"time"
)

// The charts are inline SVG written here rather than a bundled JavaScript
// chart library: the page then needs no script at all (nothing to load,
// nothing to fail in a console, identical offline), its size is what the
// data needs, and the same Go code serves the report file and the live
// page. Heatmaps are the exception that proves the point: a day of 64 GPUs
// is 46,000 cells per metric, so their cells are one PNG image (one pixel a
// cell, scaled without smoothing) inside the SVG, with SVG axes and labels.

const (
	labelW   = 190 // left margin for row labels
	chartW   = 960 // plot width
	axisH    = 22
	rowMaxH  = 14
	fontSize = 11
)

func esc(s string) string { return html.EscapeString(s) }

// colorScale is viridis, sampled; 0..1.
var viridis = []color.RGBA{
	{68, 1, 84, 255}, {72, 40, 120, 255}, {62, 74, 137, 255}, {49, 104, 142, 255}, {38, 130, 142, 255},
	{31, 158, 137, 255}, {53, 183, 121, 255}, {109, 205, 89, 255}, {180, 222, 44, 255}, {253, 231, 37, 255},
}

func scaleColor(t float64) color.RGBA {
	if math.IsNaN(t) {
		return color.RGBA{235, 235, 235, 255}
	}
	t = math.Max(0, math.Min(1, t))
	f := t * float64(len(viridis)-1)
	i := int(f)
	if i >= len(viridis)-1 {
		return viridis[len(viridis)-1]
	}
	a, b, w := viridis[i], viridis[i+1], f-float64(i)
	mix := func(x, y uint8) uint8 { return uint8(float64(x) + (float64(y)-float64(x))*w + 0.5) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
}

func hexColor(c color.RGBA) string { return fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B) }

// timeAxis draws ticks under a plot starting at x0 of width w.
func timeAxis(sb *strings.Builder, x0, y, w float64, from, to time.Time) {
	span := to.Sub(from)
	if span <= 0 {
		return
	}
	var tick time.Duration
	for _, t := range []time.Duration{time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
		time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour} {
		tick = t
		if span/t <= 8 {
			break
		}
	}
	fmt.Fprintf(sb, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888"/>`, x0, y, x0+w, y)
	layout := "15:04"
	if span > 48*time.Hour {
		layout = "01-02 15h"
	}
	for t := from.Truncate(tick); !t.After(to); t = t.Add(tick) {
		if t.Before(from) {
			continue
		}
		x := x0 + w*float64(t.Sub(from))/float64(span)
		fmt.Fprintf(sb, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888"/><text x="%.1f" y="%.1f" font-size="%d" text-anchor="middle">%s</text>`,
			x, y, x, y+4, x, y+15, fontSize, t.UTC().Format(layout))
	}
}

func svgOpen(sb *strings.Builder, w, h float64, label string) {
	fmt.Fprintf(sb, `<svg class="chart" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif">`,
		esc(label), w, h, w, h)
}

// Heatmap is one metric over rows × time columns.
type Heatmap struct {
	Title  string
	Unit   string
	Rows   []string
	Values [][]float64 // [row][column], NaN for no data
	Lo, Hi float64
	From   time.Time
	To     time.Time
}

// SVG renders the heatmap: a PNG of the cells inside an SVG with axes.
func (h *Heatmap) SVG() string {
	cols := 0
	for _, r := range h.Values {
		cols = max(cols, len(r))
	}
	if len(h.Rows) == 0 || cols == 0 {
		return ""
	}
	img := image.NewRGBA(image.Rect(0, 0, cols, len(h.Rows)))
	span := h.Hi - h.Lo
	if span <= 0 {
		span = 1
	}
	for y, r := range h.Values {
		for x := 0; x < cols; x++ {
			v := math.NaN()
			if x < len(r) {
				v = r[x]
			}
			img.SetRGBA(x, y, scaleColor((v-h.Lo)/span))
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img) // writing to memory cannot fail
	rowH := math.Max(3, math.Min(rowMaxH, 640/float64(len(h.Rows))))
	plotH := rowH * float64(len(h.Rows))
	W, H := float64(labelW+chartW+70), plotH+axisH+20
	var sb strings.Builder
	svgOpen(&sb, W, H, h.Title)
	fmt.Fprintf(&sb, `<text x="0" y="12" font-size="12" font-weight="bold">%s</text>`, esc(h.Title))
	fmt.Fprintf(&sb, `<image x="%d" y="18" width="%d" height="%.1f" preserveAspectRatio="none" style="image-rendering:pixelated" href="data:image/png;base64,%s"/>`,
		labelW, chartW, plotH, base64.StdEncoding.EncodeToString(buf.Bytes()))
	// Label every row when they fit, else every k-th.
	every := int(math.Ceil(float64(fontSize) / rowH))
	for i, r := range h.Rows {
		if i%every != 0 {
			continue
		}
		fmt.Fprintf(&sb, `<text x="%d" y="%.1f" font-size="%d" text-anchor="end">%s</text>`, labelW-4, 18+rowH*float64(i)+rowH/2+4, min(fontSize, int(rowH)+2), esc(r))
	}
	timeAxis(&sb, labelW, 18+plotH, chartW, h.From, h.To)
	// Colour legend.
	lx := float64(labelW + chartW + 10)
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&sb, `<rect x="%.0f" y="%.1f" width="12" height="%.1f" fill="%s"/>`, lx, 18+plotH*float64(9-i)/10, plotH/10+0.5, hexColor(scaleColor(float64(i)/9)))
	}
	fmt.Fprintf(&sb, `<text x="%.0f" y="26" font-size="10">%s</text><text x="%.0f" y="%.1f" font-size="10">%s</text>`,
		lx+14, fmtValue(h.Hi, h.Unit), lx+14, 18+plotH, fmtValue(h.Lo, h.Unit))
	sb.WriteString(`</svg>`)
	return sb.String()
}

// SmallMultiples draws one sparkline per row, a grid of them.
func SmallMultiples(title, unit string, rows []string, values [][]float64, lo, hi float64) string {
	if len(rows) == 0 {
		return ""
	}
	const cw, ch, perRow = 150.0, 44.0, 8
	nr := (len(rows) + perRow - 1) / perRow
	W, H := cw*perRow, 20+float64(nr)*(ch+16)
	var sb strings.Builder
	svgOpen(&sb, W, H, title)
	fmt.Fprintf(&sb, `<text x="0" y="12" font-size="12" font-weight="bold">%s (%s to %s)</text>`, esc(title), fmtValue(lo, unit), fmtValue(hi, unit))
	span := hi - lo
	if span <= 0 {
		span = 1
	}
	for i, r := range rows {
		x0, y0 := float64(i%perRow)*cw, 20+float64(i/perRow)*(ch+16)
		fmt.Fprintf(&sb, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="#f6f6f6" stroke="#ddd"/><text x="%.0f" y="%.0f" font-size="9">%s</text>`,
			x0+2, y0+12, cw-6, ch, x0+3, y0+9, esc(r))
		v := values[i]
		var pts strings.Builder
		for j, y := range v {
			if math.IsNaN(y) {
				continue
			}
			px := x0 + 2 + (cw-6)*float64(j)/float64(max(1, len(v)-1))
			py := y0 + 12 + ch - ch*math.Max(0, math.Min(1, (y-lo)/span))
			fmt.Fprintf(&pts, "%.1f,%.1f ", px, py)
		}
		if pts.Len() > 0 {
			fmt.Fprintf(&sb, `<polyline fill="none" stroke="#31688e" stroke-width="1" points="%s"/>`, strings.TrimSpace(pts.String()))
		}
	}
	sb.WriteString(`</svg>`)
	return sb.String()
}

// Span is an interval on a timeline row.
type Span struct {
	Row      int
	From, To time.Time
	Kind     string
	Label    string
}

var eventColors = map[string]string{"throttle": "#f59e0b", "xid": "#dc2626", "ecc-uncorrected": "#7f1d1d", "ecc-corrected": "#a855f7", "anomaly": "#2563eb", "straggler": "#0891b2"}

// Timeline draws spans on rows over [from, to).
func Timeline(title string, rows []string, spans []Span, from, to time.Time) string {
	if len(rows) == 0 {
		return ""
	}
	rowH := 16.0
	plotH := rowH * float64(len(rows))
	W, H := float64(labelW+chartW+20), plotH+axisH+40
	var sb strings.Builder
	svgOpen(&sb, W, H, title)
	fmt.Fprintf(&sb, `<text x="0" y="12" font-size="12" font-weight="bold">%s</text>`, esc(title))
	lx := 300.0
	for _, k := range []string{"throttle", "xid", "ecc-uncorrected", "ecc-corrected"} {
		fmt.Fprintf(&sb, `<rect x="%.0f" y="3" width="10" height="10" fill="%s"/><text x="%.0f" y="12" font-size="10">%s</text>`, lx, eventColors[k], lx+13, k)
		lx += 110
	}
	y0 := 20.0
	for i, r := range rows {
		fmt.Fprintf(&sb, `<text x="%d" y="%.1f" font-size="%d" text-anchor="end">%s</text><line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>`,
			labelW-4, y0+rowH*float64(i)+12, fontSize, esc(r), labelW, labelW+chartW, y0+rowH*float64(i+1), y0+rowH*float64(i+1))
	}
	span := float64(to.Sub(from))
	for _, s := range spans {
		x1 := labelW + chartW*float64(s.From.Sub(from))/span
		x2 := labelW + chartW*float64(s.To.Sub(from))/span
		fmt.Fprintf(&sb, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s</title></rect>`,
			x1, y0+rowH*float64(s.Row)+2, math.Max(2, x2-x1), rowH-4, eventColors[s.Kind], esc(s.Label))
	}
	timeAxis(&sb, labelW, y0+plotH, chartW, from, to)
	sb.WriteString(`</svg>`)
	return sb.String()
}

// Box is one row of a box plot: whiskers lo..hi, box q1..q3, median.
type Box struct {
	Label               string
	Lo, Q1, Med, Q3, Hi float64
	Marked              bool   // drawn in red (a straggler, a slow container)
	Note                string // right of the row
}

// BoxPlot draws horizontal boxes on a shared axis, log-scaled when the
// values span more than two decades.
func BoxPlot(title, unit string, boxes []Box) string {
	if len(boxes) == 0 {
		return ""
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, b := range boxes {
		for _, v := range []float64{b.Lo, b.Hi, b.Med} {
			if !math.IsNaN(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 0) {
		return ""
	}
	logScale := lo > 0 && hi/lo > 100
	if !logScale {
		lo = math.Min(0, lo)
	}
	if hi <= lo {
		hi = lo + 1
	}
	x := func(v float64) float64 {
		if math.IsNaN(v) {
			v = lo
		}
		if logScale {
			return labelW + chartW*(math.Log10(math.Max(v, lo))-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
		}
		return labelW + chartW*(v-lo)/(hi-lo)
	}
	rowH := 16.0
	plotH := rowH * float64(len(boxes))
	W, H := float64(labelW+chartW+160), plotH+axisH+30
	var sb strings.Builder
	svgOpen(&sb, W, H, title)
	scaleNote := ""
	if logScale {
		scaleNote = " (log scale)"
	}
	fmt.Fprintf(&sb, `<text x="0" y="12" font-size="12" font-weight="bold">%s%s</text>`, esc(title), scaleNote)
	y0 := 20.0
	for i, b := range boxes {
		y := y0 + rowH*float64(i)
		col, fill := "#31688e", "#9ecae1"
		if b.Marked {
			col, fill = "#b91c1c", "#fca5a5"
		}
		fmt.Fprintf(&sb, `<text x="%d" y="%.1f" font-size="%d" text-anchor="end" fill="%s">%s</text>`, labelW-4, y+12, fontSize, col, esc(b.Label))
		fmt.Fprintf(&sb, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s"/>`, x(b.Lo), x(b.Hi), y+8, y+8, col)
		fmt.Fprintf(&sb, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="%s"><title>%s: p50 %s</title></rect>`,
			x(b.Q1), y+3, math.Max(1.5, x(b.Q3)-x(b.Q1)), rowH-6, fill, col, esc(b.Label), fmtValue(b.Med, unit))
		fmt.Fprintf(&sb, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/>`, x(b.Med), x(b.Med), y+2, y+rowH-2, col)
		if b.Note != "" {
			fmt.Fprintf(&sb, `<text x="%d" y="%.1f" font-size="10" fill="%s">%s</text>`, labelW+chartW+6, y+12, col, esc(b.Note))
		}
	}
	// Value axis.
	ya := y0 + plotH
	fmt.Fprintf(&sb, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#888"/>`, labelW, ya, labelW+chartW, ya)
	for i := 0; i <= 5; i++ {
		var v float64
		if logScale {
			v = math.Pow(10, math.Log10(lo)+(math.Log10(hi)-math.Log10(lo))*float64(i)/5)
		} else {
			v = lo + (hi-lo)*float64(i)/5
		}
		fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" font-size="10" text-anchor="middle">%s</text>`, x(v), ya+14, fmtValue(v, unit))
	}
	sb.WriteString(`</svg>`)
	return sb.String()
}

// Bar is one row of a stacked horizontal bar chart.
type Bar struct {
	Label string
	Parts []float64
}

// StackedBars draws rows of stacked parts with a legend.
func StackedBars(title, unit string, legend []string, colors []string, bars []Bar) string {
	if len(bars) == 0 {
		return ""
	}
	hi := 0.0
	for _, b := range bars {
		t := 0.0
		for _, p := range b.Parts {
			t += math.Max(0, p)
		}
		hi = math.Max(hi, t)
	}
	if hi <= 0 {
		hi = 1
	}
	rowH := 18.0
	plotH := rowH * float64(len(bars))
	W, H := float64(labelW+chartW+120), plotH+50
	var sb strings.Builder
	svgOpen(&sb, W, H, title)
	fmt.Fprintf(&sb, `<text x="0" y="12" font-size="12" font-weight="bold">%s</text>`, esc(title))
	lx := 300.0
	for i, l := range legend {
		fmt.Fprintf(&sb, `<rect x="%.0f" y="3" width="10" height="10" fill="%s"/><text x="%.0f" y="12" font-size="10">%s</text>`, lx, colors[i], lx+13, esc(l))
		lx += 120
	}
	y0 := 22.0
	for i, b := range bars {
		y := y0 + rowH*float64(i)
		fmt.Fprintf(&sb, `<text x="%d" y="%.1f" font-size="%d" text-anchor="end">%s</text>`, labelW-4, y+13, fontSize, esc(b.Label))
		x, total := float64(labelW), 0.0
		for j, p := range b.Parts {
			if p <= 0 {
				continue
			}
			w := chartW * p / hi
			fmt.Fprintf(&sb, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`,
				x, y+2, math.Max(1, w), rowH-4, colors[j], esc(b.Label), esc(legend[j]), fmtValue(p, unit))
			x += w
			total += p
		}
		fmt.Fprintf(&sb, `<text x="%.1f" y="%.1f" font-size="10">%s</text>`, x+4, y+13, fmtValue(total, unit))
	}
	sb.WriteString(`</svg>`)
	return sb.String()
}

// Sparkline draws one series with flagged columns shaded, for context.
func Sparkline(title, unit string, v []float64, flagged []bool) string {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, y := range v {
		if !math.IsNaN(y) {
			lo, hi = math.Min(lo, y), math.Max(hi, y)
		}
	}
	if math.IsInf(lo, 0) {
		return ""
	}
	if hi <= lo {
		hi = lo + 1
	}
	const w, h = 420.0, 60.0
	var sb strings.Builder
	svgOpen(&sb, w+90, h+8, title)
	n := float64(max(1, len(v)-1))
	for j, f := range flagged {
		if f {
			fmt.Fprintf(&sb, `<rect x="%.1f" y="0" width="%.1f" height="%.0f" fill="#fecaca"/>`, w*float64(j)/n, math.Max(1.5, w/n), h)
		}
	}
	var pts strings.Builder
	for j, y := range v {
		if !math.IsNaN(y) {
			fmt.Fprintf(&pts, "%.1f,%.1f ", w*float64(j)/n, h-h*(y-lo)/(hi-lo))
		}
	}
	fmt.Fprintf(&sb, `<rect x="0" y="0" width="%.0f" height="%.0f" fill="none" stroke="#ddd"/>`, w, h)
	if pts.Len() > 0 {
		fmt.Fprintf(&sb, `<polyline fill="none" stroke="#1d4ed8" stroke-width="1.2" points="%s"/>`, strings.TrimSpace(pts.String()))
	}
	fmt.Fprintf(&sb, `<text x="%.0f" y="10" font-size="10">%s</text><text x="%.0f" y="%.0f" font-size="10">%s</text>`, w+4, fmtValue(hi, unit), w+4, h, fmtValue(lo, unit))
	sb.WriteString(`</svg>`)
	return sb.String()
}

// fmtValue prints a value with its UCUM unit the way people read it.
func fmtValue(v float64, unit string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	switch unit {
	case "1":
		return fmt.Sprintf("%.0f%%", v*100)
	case "By":
		return si(v, 1024, []string{"B", "KiB", "MiB", "GiB", "TiB"})
	case "By/s":
		return si(v, 1000, []string{"B/s", "kB/s", "MB/s", "GB/s", "TB/s"})
	case "s":
		switch a := math.Abs(v); {
		case a == 0:
			return "0 s"
		case a < 1e-3:
			return fmt.Sprintf("%.0f µs", v*1e6)
		case a < 1:
			return fmt.Sprintf("%.1f ms", v*1e3)
		case a < 120:
			return fmt.Sprintf("%.1f s", v)
		default:
			return fmt.Sprintf("%.1f min", v/60)
		}
	case "W":
		return fmt.Sprintf("%.0f W", v)
	case "Cel":
		return fmt.Sprintf("%.0f °C", v)
	case "USD", "{USD}":
		return fmt.Sprintf("$%.2f", v)
	case "x":
		return fmt.Sprintf("%.2f×", v)
	}
	return fmt.Sprintf("%.3g %s", v, strings.Trim(unit, "{}"))
}

func si(v, base float64, units []string) string {
	i := 0
	for math.Abs(v) >= base && i < len(units)-1 {
		v /= base
		i++
	}
	return fmt.Sprintf("%.3g %s", v, units[i])
}
