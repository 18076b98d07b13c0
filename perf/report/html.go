package report

import (
	"fmt"
	"html/template"
	"io"
	"strings"
)

// Note is one line of context shown above the benchmarks, such as a
// finding of `cowbook doctor` about the host the run was made on.
type Note struct {
	Status string // ok, info, warn, unknown
	Title  string
	Value  string
}

// Page is everything one report shows.
type Page struct {
	Title string
	// Meta are facts about the run (host, kernel, Go version, date, command).
	Meta [][2]string
	// Notes are the host findings worth keeping beside the figures.
	Notes   []Note
	Benches []Bench
}

// maxSeriesPerChart keeps a chart legible; more curves start a new chart.
const maxSeriesPerChart = 5

type figureRow struct {
	Name, Value, Raw, Floor, FloorName, Ratio string
}

type benchView struct {
	Bench
	Anchor   string
	Headline string
	Charts   []template.HTML
	Rows     []figureRow
	Floors   []figureRow
	Texts    []figureRow // string figures, such as why counters are missing
}

// Render writes the page as one self-contained HTML document.
func Render(w io.Writer, p Page) error {
	views := make([]benchView, 0, len(p.Benches))
	for _, b := range p.Benches {
		views = append(views, view(b))
	}
	counts := map[string]int{}
	for _, n := range p.Notes {
		counts[n.Status]++
	}
	var summary []string
	for _, st := range []string{"warn", "unknown", "info", "ok"} {
		if counts[st] > 0 {
			summary = append(summary, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	return page.Execute(w, struct {
		Page
		Views       []benchView
		HostSummary string
	}{p, views, strings.Join(summary, ", ")})
}

func view(b Bench) benchView {
	v := benchView{Bench: b, Anchor: "bench-" + b.Name}
	for i := 0; i < len(b.Curves); i += maxSeriesPerChart {
		group := b.Curves[i:min(i+maxSeriesPerChart, len(b.Curves))]
		v.Charts = append(v.Charts, template.HTML(CurveChart(b.Name+": latency by percentile", group)))
	}
	for _, t := range b.Timelines {
		v.Charts = append(v.Charts, template.HTML(TimelineChart(b.Name+": "+t.Name+" over time", t)))
	}
	if b.Recovery != nil {
		name := "recovery"
		if b.Recovery.Name != "" {
			name = b.Recovery.Name
		}
		v.Charts = append(v.Charts, template.HTML(RecoveryBar(b.Name+": "+name+" breakdown", *b.Recovery)))
	}
	for _, f := range b.Figures {
		if str, ok := f.Value.(string); ok {
			v.Texts = append(v.Texts, figureRow{Name: f.Name, Value: str})
			continue
		}
		r := figureRow{Name: f.Name, Value: formatFigure(f.Name, f.Value), Raw: fmt.Sprint(f.Value)}
		if f.FloorName != "" {
			r.FloorName, r.Floor, r.Ratio = f.FloorName, formatFigure(f.FloorName, f.Floor), ratio(f.Value, f.Floor)
		}
		v.Rows = append(v.Rows, r)
	}
	for _, f := range b.Floors {
		v.Floors = append(v.Floors, figureRow{Name: f.Name, Value: formatFigure(f.Name, f.Value), Raw: fmt.Sprint(f.Value)})
	}
	switch {
	case b.Err != "":
		v.Headline = b.Err
		if len(v.Headline) > 120 {
			v.Headline = v.Headline[:117] + "…"
		}
	case len(b.Curves) > 0:
		v.Headline = b.Curves[0].Name + ": " + curveSummary(b.Curves[0])
	default:
		var parts []string
		for _, r := range v.Rows {
			if len(parts) == 3 {
				break
			}
			parts = append(parts, r.Name+" "+r.Value)
		}
		v.Headline = strings.Join(parts, " · ")
	}
	return v
}

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2430; margin: 0; background: #f4f6f9; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 14px 0 6px; color: #4a5566; text-transform: uppercase; letter-spacing: .04em; }
section, .card { background: #fff; border: 1px solid #dde2ea; border-radius: 8px; padding: 18px 22px; margin: 18px 0; }
.meta { display: flex; flex-wrap: wrap; gap: 6px 22px; color: #4a5566; }
.meta b { color: #1d2430; font-weight: 600; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 4px 10px 4px 0; border-bottom: 1px solid #eef1f5; vertical-align: top; }
th { color: #4a5566; font-weight: 600; font-size: 12px; }
td.num { text-align: right; white-space: nowrap; }
.chip { display: inline-block; min-width: 54px; text-align: center; border-radius: 10px; font-size: 11px; font-weight: 700; padding: 1px 6px; text-transform: uppercase; }
.s-ok { background: #e3f4e8; color: #1e7b3a; } .s-info { background: #e7eefb; color: #2c5aa0; }
.s-warn { background: #fff1d6; color: #9a5b00; } .s-unknown { background: #eceff3; color: #5b6576; }
.s-failed { background: #fde4e1; color: #b3261e; }
.failure { background: #fff5f4; border-left: 4px solid #d1462f; padding: 8px 12px; margin: 8px 0; }
.failure pre { white-space: pre-wrap; font-size: 12px; margin: 6px 0 0; max-height: 240px; overflow: auto; }
.charts { display: flex; flex-wrap: wrap; gap: 14px; }
.tables { display: flex; flex-wrap: wrap; gap: 26px; }
.tables div { flex: 1 1 420px; }
svg.chart { max-width: 100%; height: auto; background: #fff; }
svg text { font: 11px system-ui, sans-serif; fill: #3b4555; }
svg .title { font-size: 12px; fill: #1d2430; }
svg .grid line { stroke: #edf0f4; }
svg .axis rect { stroke: #9aa5b5; }
svg .legend text { font-size: 12px; fill: #1d2430; }
svg .series-name { font-weight: 700; }
svg .span { fill: #f3a33a; fill-opacity: .18; }
svg .span-label { fill: #a35f00; font-weight: 600; }
svg .median { stroke: #8a94a6; stroke-dasharray: 5 4; }
svg .note { fill: #a3261e; font-weight: 600; }
svg .low { fill: #d1462f; }
.muted { color: #6b7585; }
table.texts { margin-top: 12px; } table.texts td:first-child { white-space: nowrap; color: #4a5566; width: 1%; }
a { color: #1f6fb4; text-decoration: none; }
</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
<div class="meta">{{range .Meta}}<span>{{index . 0}} <b>{{index . 1}}</b></span>{{end}}{{with .HostSummary}}<span>host check <a href="#host"><b>{{.}}</b></a></span>{{end}}</div>

<section>
<h2>Benchmarks</h2>
<table>
<tr><th>benchmark</th><th>status</th><th>headline</th></tr>
{{range .Views}}<tr><td><a href="#{{.Anchor}}">{{.Name}}</a></td><td>{{if .Err}}<span class="chip s-failed">failed</span>{{else}}<span class="chip s-ok">ok</span>{{end}}</td><td>{{.Headline}}</td></tr>
{{else}}<tr><td colspan="3" class="muted">no benchmark ran</td></tr>
{{end}}</table>
</section>



{{range .Views}}<section id="{{.Anchor}}">
<h2>{{.Name}}</h2>
{{if .Err}}<div class="failure"><b>failed:</b> {{.Err}}{{if .Log}}<pre>{{.Log}}</pre>{{end}}</div>{{end}}
{{if .Charts}}<div class="charts">{{range .Charts}}{{.}}{{end}}</div>{{end}}
{{if or .Rows .Floors}}<div class="tables">
{{if .Rows}}<div><h3>Figures</h3><table>
<tr><th>figure</th><th class="num">value</th><th class="num">floor</th><th class="num">× floor</th></tr>
{{range .Rows}}<tr><td>{{.Name}}</td><td class="num" title="{{.Raw}}">{{.Value}}</td><td class="num" title="{{.FloorName}}">{{.Floor}}</td><td class="num">{{.Ratio}}</td></tr>
{{end}}</table></div>{{end}}
{{if .Floors}}<div><h3>Floors measured in this run</h3><table>
<tr><th>floor</th><th class="num">value</th></tr>
{{range .Floors}}<tr><td>{{.Name}}</td><td class="num" title="{{.Raw}}">{{.Value}}</td></tr>
{{end}}</table></div>{{end}}
</div>{{end}}
{{if .Texts}}<table class="texts">{{range .Texts}}<tr><td>{{.Name}}</td><td>{{.Value}}</td></tr>
{{end}}</table>{{end}}
</section>
{{end}}
{{if .Notes}}<section id="host">
<h2>Host</h2>
<p class="muted">Findings of <code>cowbook doctor</code> on the machine that ran these benchmarks; figures from a shared or untuned host are orders of magnitude, compare them by their ratio to the floors measured in the same run.</p>
<table>
{{range .Notes}}<tr><td><span class="chip s-{{.Status}}">{{.Status}}</span></td><td>{{.Title}}</td><td>{{.Value}}</td></tr>
{{end}}</table>
</section>{{end}}
<p class="muted">Generated by cowbook bench all. Self-contained: no script, no network.</p>
</main>
</body>
</html>
`))
