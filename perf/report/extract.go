package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Bench is one benchmark's result as `bench all` collected it.
type Bench struct {
	Name string
	// Err is set when the benchmark failed or its output was unusable.
	Err string
	// Log is the tail of its standard error, shown with a failure.
	Log string

	Curves    []Curve
	Timelines []Timeline
	Recovery  *Recovery
	Figures   []Figure
	Floors    []Figure // floors not paired with a figure
}

// CurvePoint is one point of a percentile curve.
type CurvePoint struct {
	Percentile float64 `json:"percentile"`
	ValueNs    float64 `json:"value_ns"`
}

// Curve is a latency percentile curve (from perf.Histogram.Curve).
type Curve struct {
	Name   string
	Points []CurvePoint
}

// TimelinePoint is one throughput sample.
type TimelinePoint struct {
	TMs       float64 `json:"t_ms"`
	OpsPerSec float64 `json:"ops_per_sec"`
}

// Span is an interval marked on a timeline, such as a snapshot.
type Span struct {
	StartMs float64 `json:"start_ms"`
	EndMs   float64 `json:"end_ms"`
	Label   string  `json:"label"`
}

// Timeline is throughput over time, with the spans to shade.
type Timeline struct {
	Name   string
	Points []TimelinePoint
	Spans  []Span
}

// Recovery is the breakdown of a restart.
type Recovery struct {
	Name                              string
	SnapshotLoadMs, ReplayMs, ValidMs float64
	TotalMs                           float64 // 0 when not reported
}

// Figure is one scalar of the JSON.
type Figure struct {
	Name  string // dotted path
	Value any    // json.Number, string or bool
	// Floor and FloorName are set when a floor_<name> sibling exists.
	FloorName string
	Floor     json.Number
}

// Load reads one benchmark's JSON output. Output that is not a JSON object
// gives a Bench with Err set; it is never an error, so one bad benchmark
// does not spoil the report.
func Load(name string, data []byte) Bench {
	b := Bench{Name: name}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		b.Err = fmt.Sprintf("output is not a JSON object: %v", err)
		return b
	}
	if obj == nil {
		b.Err = "output is null"
		return b
	}
	b.walk("", obj)
	b.pairFloors()
	return b
}

// walk collects the conventions from one object level.
func (b *Bench) walk(prefix string, obj map[string]any) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var spans []Span
	if raw, ok := obj["timeline_spans"]; ok {
		_ = convert(raw, &spans)
	}
	timelinesBefore := len(b.Timelines)
	for _, k := range keys {
		v := obj[k]
		path := prefix + k
		switch {
		case k == "error" && prefix == "":
			if s, ok := v.(string); ok && s != "" {
				b.Err = s
			}
			continue
		case k == "timeline_spans":
			continue
		case strings.HasSuffix(k, "_curve"):
			var pts []CurvePoint
			if err := convert(v, &pts); err == nil && len(pts) > 0 {
				b.Curves = append(b.Curves, Curve{Name: strings.TrimSuffix(path, "_curve"), Points: pts})
				continue
			}
		case strings.HasSuffix(k, "_timeline"):
			var pts []TimelinePoint
			if err := convert(v, &pts); err == nil && len(pts) > 0 {
				b.Timelines = append(b.Timelines, Timeline{Name: strings.TrimSuffix(path, "_timeline"), Points: pts})
				continue
			}
		}
		switch x := v.(type) {
		case map[string]any:
			b.walk(path+".", x)
		case []any:
			// Arrays other than the conventions above are not figures.
		case json.Number, string, bool:
			b.Figures = append(b.Figures, Figure{Name: path, Value: x})
		}
	}
	for i := timelinesBefore; i < len(b.Timelines); i++ {
		b.Timelines[i].Spans = spans
	}
	num := func(k string) (float64, bool) {
		n, ok := obj[k].(json.Number)
		if !ok {
			return 0, false
		}
		f, err := n.Float64()
		return f, err == nil
	}
	load, okL := num("snapshot_load_ms")
	replay, okR := num("replay_ms")
	valid, okV := num("validate_ms")
	if okL || okR || okV {
		total, _ := num("recovery_ms")
		b.Recovery = &Recovery{Name: strings.TrimSuffix(prefix, "."), SnapshotLoadMs: load, ReplayMs: replay, ValidMs: valid, TotalMs: total}
	}
}

// convert re-decodes a generic JSON value into a typed one.
func convert(v any, out any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// IsFloor reports whether a field name (the last dotted component) names
// a floor by the conventions of docs/report.md.
func IsFloor(name string) bool {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	return strings.HasPrefix(name, "floor_") || strings.Contains(name, "_floor") ||
		strings.HasPrefix(name, "memcpy_") || strings.HasPrefix(name, "lz4_")
}

// pairFloors moves floors out of Figures: a floor_X beside a figure X
// becomes that figure's floor, the others go to Floors.
func (b *Bench) pairFloors() {
	index := map[string]int{}
	for i, f := range b.Figures {
		if !IsFloor(f.Name) {
			index[f.Name] = i
		}
	}
	var figures []Figure
	paired := map[string]bool{}
	for _, f := range b.Figures {
		if !IsFloor(f.Name) {
			continue
		}
		dir, base := splitPath(f.Name)
		n, isNum := f.Value.(json.Number)
		if target, ok := index[dir+strings.TrimPrefix(base, "floor_")]; ok && isNum && strings.HasPrefix(base, "floor_") {
			b.Figures[target].FloorName, b.Figures[target].Floor = f.Name, n
			paired[f.Name] = true
		}
	}
	for _, f := range b.Figures {
		switch {
		case !IsFloor(f.Name):
			figures = append(figures, f)
		case !paired[f.Name]:
			b.Floors = append(b.Floors, f)
		}
	}
	b.Figures = figures
}

func splitPath(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '.')
	return p[:i+1], p[i+1:]
}
