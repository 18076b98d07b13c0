package report

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strings"
)

// The charts are plain SVG strings: a frame with axes, ticks and labels,
// and one polyline per series (tests count on that shape). Hover titles
// give exact values without script.

var palette = []string{"#1f6fb4", "#d1462f", "#2f9e44", "#e08a00", "#7b4fb8", "#8c5a3c", "#0f9aa8"}

const (
	chartW, chartH                     = 560.0, 330.0
	padLeft, padRight, padTop, padBott = 62.0, 34.0, 12.0, 46.0
)

type tick struct {
	v     float64
	label string
}

// scale maps data to pixels, linearly or logarithmically.
type scale struct {
	lo, hi float64 // data range (transformed when log)
	p0, p1 float64 // pixel range
	log    bool
	ticks  []tick
}

func (s scale) at(v float64) float64 {
	if s.log {
		v = math.Log10(math.Max(v, 1e-300))
	}
	if s.hi == s.lo {
		return (s.p0 + s.p1) / 2
	}
	return s.p0 + (v-s.lo)/(s.hi-s.lo)*(s.p1-s.p0)
}

// niceStep returns a 1, 2 or 5 × 10^k step giving about n intervals.
func niceStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// linearScale covers [0, max] (or [min, max] when min ≠ 0) with nice ticks.
func linearScale(min, max, p0, p1 float64, label func(float64) string) scale {
	if max <= min {
		max = min + 1
	}
	step := niceStep(max-min, 5)
	lo := math.Floor(min/step) * step
	hi := math.Ceil(max/step) * step
	s := scale{lo: lo, hi: hi, p0: p0, p1: p1}
	for v := lo; v <= hi+step/1e6; v += step {
		s.ticks = append(s.ticks, tick{v, label(v)})
	}
	return s
}

// logScale covers [min, max] with decade ticks.
func logScale(min, max, p0, p1 float64, label func(float64) string) scale {
	lo := math.Floor(math.Log10(math.Max(min, 1)))
	hi := math.Ceil(math.Log10(math.Max(max, 1)))
	if hi <= lo {
		hi = lo + 1
	}
	s := scale{lo: lo, hi: hi, p0: p0, p1: p1, log: true}
	for e := lo; e <= hi; e++ {
		s.ticks = append(s.ticks, tick{math.Pow(10, e), label(math.Pow(10, e))})
	}
	return s
}

// hdrX maps a percentile to the HDR axis: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3.
func hdrX(p float64) float64 {
	if p >= 100 {
		return math.Inf(1)
	}
	return -math.Log10(1 - p/100)
}

func hdrLabel(k int) string {
	switch k {
	case 0:
		return "0%"
	case 1:
		return "90%"
	}
	return "99" + strings.TrimSuffix("."+strings.Repeat("9", k-2), ".") + "%"
}

type svgWriter struct{ b strings.Builder }

func (w *svgWriter) f(format string, args ...any) { fmt.Fprintf(&w.b, format, args...) }

func esc(s string) string { return html.EscapeString(s) }

func (w *svgWriter) open(class, title string) {
	w.f(`<svg class="chart %s" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="%s">`,
		class, chartW, chartH, chartW, chartH, esc(title))
	w.f(`<title>%s</title>`, esc(title))
}

// axes draws the frame, grid lines and tick labels of both scales.
func (w *svgWriter) axes(x, y scale, xTitle, yTitle string) {
	w.f(`<g class="grid">`)
	for _, t := range y.ticks {
		py := y.at(t.v)
		w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x.p0, py, x.p1, py)
	}
	for _, t := range x.ticks {
		px := x.at(t.v)
		w.f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, px, y.p0, px, y.p1)
	}
	w.f(`</g><g class="axis">`)
	w.f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none"/>`, x.p0, y.p1, x.p1-x.p0, y.p0-y.p1)
	for _, t := range y.ticks {
		w.f(`<text x="%.1f" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, x.p0-6, y.at(t.v), esc(t.label))
	}
	for _, t := range x.ticks {
		w.f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, x.at(t.v), y.p0+16, esc(t.label))
	}
	w.f(`<text class="title" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, (x.p0+x.p1)/2, chartH-8, esc(xTitle))
	w.f(`<text class="title" transform="translate(14 %.1f) rotate(-90)" text-anchor="middle">%s</text>`, (y.p0+y.p1)/2, esc(yTitle))
	w.f(`</g>`)
}

func (w *svgWriter) polyline(name, color string, xs, ys []float64, tips string) {
	var pts strings.Builder
	for i := range xs {
		if i > 0 {
			pts.WriteByte(' ')
		}
		fmt.Fprintf(&pts, "%.1f,%.1f", xs[i], ys[i])
	}
	w.f(`<polyline class="series" data-series="%s" fill="none" stroke="%s" stroke-width="2" stroke-linejoin="round" points="%s"><title>%s</title></polyline>`,
		esc(name), color, pts.String(), esc(tips))
}

// CurveChart draws latency percentile curves on an HDR percentile axis
// (log-scaled "nines"), one polyline per curve. The latency axis is
// logarithmic when the curves span more than two decades, so that both
// the median and the tail stay readable.
func CurveChart(title string, curves []Curve) string {
	if len(curves) == 0 {
		return ""
	}
	maxX, minV, maxV := 1.0, math.Inf(1), 0.0
	for _, c := range curves {
		for _, p := range c.Points {
			if x := hdrX(p.Percentile); !math.IsInf(x, 1) {
				maxX = math.Max(maxX, x)
			}
			if p.ValueNs > 0 {
				minV = math.Min(minV, p.ValueNs)
			}
			maxV = math.Max(maxV, p.ValueNs)
		}
	}
	xmax := math.Ceil(maxX)
	x := scale{lo: 0, hi: xmax, p0: padLeft, p1: chartW - padRight}
	for k := 0; k <= int(xmax); k++ {
		x.ticks = append(x.ticks, tick{float64(k), hdrLabel(k)})
	}
	// The legend sits above the plot, one line per curve.
	top := padTop + 18*float64(len(curves))
	var y scale
	if maxV/math.Max(minV, 1) > 100 {
		y = logScale(minV, maxV, chartH-padBott, top, duration)
	} else {
		y = linearScale(0, maxV, chartH-padBott, top, duration)
	}
	w := &svgWriter{}
	w.open("curve", title)
	w.axes(x, y, "percentile (max at the right edge)", "latency")
	for i, c := range curves {
		color := palette[i%len(palette)]
		var xs, ys []float64
		var tips []string
		for _, p := range c.Points {
			hx := hdrX(p.Percentile)
			if math.IsInf(hx, 1) {
				hx = xmax
			}
			xs = append(xs, x.at(math.Min(hx, xmax)))
			ys = append(ys, y.at(math.Max(p.ValueNs, 1)))
			tips = append(tips, fmt.Sprintf("p%s %s", sig(p.Percentile), duration(p.ValueNs)))
		}
		w.polyline(c.Name, color, xs, ys, c.Name+": "+strings.Join(tips, ", "))
		// Legend with the figures people quote.
		ly := 14 + float64(i)*18
		w.f(`<g class="legend"><rect x="%.1f" y="%.1f" width="14" height="4" fill="%s"/><text x="%.1f" y="%.1f"><tspan class="series-name">%s</tspan>  %s</text></g>`,
			padLeft, ly-5, color, padLeft+20, ly, esc(c.Name), esc(curveSummary(c)))
	}
	w.f(`</svg>`)
	return w.b.String()
}

// curveSummary quotes p50, p99, p99.9 and max of a curve.
func curveSummary(c Curve) string {
	at := func(q float64) (float64, bool) {
		for _, p := range c.Points {
			if p.Percentile >= q {
				return p.ValueNs, true
			}
		}
		return 0, false
	}
	var parts []string
	for _, q := range []struct {
		p    float64
		name string
	}{{50, "p50"}, {99, "p99"}, {99.9, "p99.9"}, {100, "max"}} {
		if v, ok := at(q.p); ok {
			parts = append(parts, q.name+" "+duration(v))
		}
	}
	return strings.Join(parts, " · ")
}

// TimelineChart draws throughput over time with the spans (snapshots)
// shaded, the median dashed and the lowest point marked: the pause and
// the dip are what the chart is for.
func TimelineChart(title string, t Timeline) string {
	if len(t.Points) == 0 {
		return ""
	}
	pts := append([]TimelinePoint(nil), t.Points...)
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].TMs < pts[j].TMs })
	minT, maxT, maxV := pts[0].TMs, pts[len(pts)-1].TMs, 0.0
	for _, p := range pts {
		maxV = math.Max(maxV, p.OpsPerSec)
	}
	for _, s := range t.Spans {
		minT, maxT = math.Min(minT, s.StartMs), math.Max(maxT, s.EndMs)
	}
	// A header band holds the legend; span labels sit just above the plot.
	top := padTop + 40
	x := linearScale(minT/1000, maxT/1000, padLeft, chartW-padRight, func(v float64) string { return sig(v) + " s" })
	y := linearScale(0, maxV, chartH-padBott, top, func(v float64) string { return count(v) })
	w := &svgWriter{}
	w.open("timeline", title)
	for _, s := range t.Spans {
		x0, x1 := x.at(s.StartMs/1000), x.at(s.EndMs/1000)
		w.f(`<rect class="span" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s</title></rect>`,
			x0, y.p1, math.Max(x1-x0, 1.5), y.p0-y.p1, esc(fmt.Sprintf("%s: %s → %s (%s)", s.Label, duration(s.StartMs*1e6), duration(s.EndMs*1e6), duration((s.EndMs-s.StartMs)*1e6))))
		w.f(`<text class="span-label" x="%.1f" y="%.1f">%s %s</text>`, x0, y.p1-4, esc(s.Label), esc(duration((s.EndMs-s.StartMs)*1e6)))
	}
	w.axes(x, y, "time since start", "operations per second")
	var xs, ys []float64
	vals := make([]float64, len(pts))
	lowest := 0
	for i, p := range pts {
		xs = append(xs, x.at(p.TMs/1000))
		ys = append(ys, y.at(p.OpsPerSec))
		vals[i] = p.OpsPerSec
		if p.OpsPerSec < pts[lowest].OpsPerSec {
			lowest = i
		}
	}
	sort.Float64s(vals)
	median := vals[len(vals)/2]
	lp := pts[lowest]
	w.f(`<line class="median" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, x.p0, y.at(median), x.p1, y.at(median))
	w.polyline(t.Name, palette[0], xs, ys, fmt.Sprintf("%s: %d samples, median %s/s", t.Name, len(pts), count(median)))
	w.f(`<circle class="low" cx="%.1f" cy="%.1f" r="4"><title>lowest %s/s at %s</title></circle>`,
		x.at(lp.TMs/1000), y.at(lp.OpsPerSec), esc(count(lp.OpsPerSec)), esc(sig(lp.TMs/1000)+" s"))
	w.f(`<g class="legend"><rect x="%.1f" y="9" width="14" height="4" fill="%s"/><text x="%.1f" y="14"><tspan class="series-name">%s</tspan>  median %s/s · dashed</text>`,
		padLeft, palette[0], padLeft+20, esc(t.Name), esc(count(median)))
	w.f(`<circle class="low" cx="%.1f" cy="28" r="4"/><text class="note" x="%.1f" y="32">lowest %s/s at %s (%s of median)</text></g>`,
		padLeft+7, padLeft+20, esc(count(lp.OpsPerSec)), esc(sig(lp.TMs/1000)+" s"), esc(percentOf(lp.OpsPerSec, median)))
	w.f(`</svg>`)
	return w.b.String()
}

func percentOf(v, of float64) string {
	if of == 0 {
		return "–"
	}
	return sig(100*v/of) + "%"
}

// RecoveryBar draws the recovery breakdown as one stacked bar.
func RecoveryBar(title string, r Recovery) string {
	parts := []struct {
		name string
		ms   float64
	}{{"snapshot load", r.SnapshotLoadMs}, {"log replay", r.ReplayMs}, {"validate", r.ValidMs}}
	sum := r.SnapshotLoadMs + r.ReplayMs + r.ValidMs
	total := math.Max(r.TotalMs, sum)
	if other := total - sum; other > total*0.001 {
		parts = append(parts, struct {
			name string
			ms   float64
		}{"other", other})
	}
	h := 100.0 + 18*float64((len(parts)+1)/2)
	w := &svgWriter{}
	w.f(`<svg class="chart recovery" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g" role="img" aria-label="%s"><title>%s</title>`,
		chartW, h, chartW, h, esc(title), esc(title))
	x0, x1 := padLeft-50, chartW-padRight
	pos := x0
	for i, p := range parts {
		if total <= 0 {
			break
		}
		width := (x1 - x0) * p.ms / total
		color := palette[i%len(palette)]
		w.f(`<rect class="segment" data-part="%s" x="%.1f" y="22" width="%.1f" height="36" fill="%s"><title>%s</title></rect>`,
			esc(p.name), pos, width, color, esc(fmt.Sprintf("%s: %s", p.name, duration(p.ms*1e6))))
		// Labels under the bar in two columns, in the segment's colour, so
		// thin segments stay readable.
		lx, ly := x0+float64(i%2)*(x1-x0)/2, 76.0+float64(i/2)*18
		w.f(`<g class="legend"><rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/><text x="%.1f" y="%.1f">%s</text></g>`,
			lx, ly-9, color, lx+16, ly, esc(fmt.Sprintf("%s %s (%s)", p.name, duration(p.ms*1e6), percentOf(p.ms, total))))
		pos += width
	}
	w.f(`<text class="title" x="%.1f" y="14">total %s</text></svg>`, x0, esc(duration(total*1e6)))
	return w.b.String()
}
