package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func loadTestdata(t *testing.T) []Bench {
	t.Helper()
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatal("no testdata", err)
	}
	sort.Strings(files)
	var out []Bench
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Load(strings.TrimSuffix(filepath.Base(f), ".json"), b))
	}
	return out
}

func render(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := Render(&buf, Page{
		Title:   "cowbook benchmarks",
		Meta:    [][2]string{{"host", "test"}, {"kernel", "6.18"}},
		Notes:   []Note{{Status: "warn", Title: "Swap", Value: "2 GiB on /swapfile"}, {Status: "ok", Title: "THP", Value: "madvise"}},
		Benches: loadTestdata(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// element is a parsed XML element with its attributes and children.
type element struct {
	name     string
	attr     map[string]string
	children []*element
	text     strings.Builder
}

// parse reads the page as XML, strictly: the page is written to be
// well-formed so that any unclosed tag or bad escape fails here.
func parse(t *testing.T, page []byte) *element {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(page))
	root := &element{name: "#document"}
	stack := []*element{root}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, _ := dec.InputPos()
			lines := strings.Split(string(page), "\n")
			t.Fatalf("page is not well-formed at line %d: %v\n%s", line, err, lines[max(line-1, 0)])
		}
		switch x := tok.(type) {
		case xml.StartElement:
			e := &element{name: x.Name.Local, attr: map[string]string{}}
			for _, a := range x.Attr {
				e.attr[a.Name.Local] = a.Value
			}
			top := stack[len(stack)-1]
			top.children = append(top.children, e)
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			for _, e := range stack {
				e.text.Write(x)
			}
		}
	}
	if len(stack) != 1 {
		t.Fatalf("%d elements left open", len(stack)-1)
	}
	return root
}

func (e *element) all(name string, f func(*element) bool) []*element {
	var out []*element
	for _, c := range e.children {
		if c.name == name && (f == nil || f(c)) {
			out = append(out, c)
		}
		out = append(out, c.all(name, f)...)
	}
	return out
}

func hasClass(class string) func(*element) bool {
	return func(e *element) bool {
		for _, c := range strings.Fields(e.attr["class"]) {
			if c == class {
				return true
			}
		}
		return false
	}
}

func section(t *testing.T, doc *element, bench string) *element {
	t.Helper()
	s := doc.all("section", func(e *element) bool { return e.attr["id"] == "bench-"+bench })
	if len(s) != 1 {
		t.Fatalf("%d sections for %s", len(s), bench)
	}
	return s[0]
}

func pointCount(e *element) int { return len(strings.Fields(e.attr["points"])) }

func TestReportChartsHoldTheExpectedSeries(t *testing.T) {
	benches := loadTestdata(t)
	want := map[string]int{} // series name → points
	for _, b := range benches {
		for _, c := range b.Curves {
			want[b.Name+"/"+c.Name] = len(c.Points)
		}
	}
	doc := parse(t, render(t))

	// engine: one curve chart with one series of every curve point.
	eng := section(t, doc, "engine")
	curves := eng.all("svg", hasClass("curve"))
	if len(curves) != 1 {
		t.Fatalf("engine: %d curve charts", len(curves))
	}
	lines := curves[0].all("polyline", hasClass("series"))
	if len(lines) != 1 || lines[0].attr["data-series"] != "apply_latency" || pointCount(lines[0]) != want["engine/apply_latency"] {
		t.Fatalf("engine series: %d lines, first %v with %d points (want %d)", len(lines), lines[0].attr["data-series"], pointCount(lines[0]), want["engine/apply_latency"])
	}
	// The HDR axis is labelled in nines.
	labels := curves[0].text.String()
	for _, l := range []string{"0%", "90%", "99%", "99.9%"} {
		if !strings.Contains(labels, l) {
			t.Errorf("curve axis lacks %q", l)
		}
	}

	// wal: two curves in one chart, one polyline each.
	wal := section(t, doc, "wal")
	lines = wal.all("polyline", hasClass("series"))
	got := map[string]int{}
	for _, l := range lines {
		got[l.attr["data-series"]] = pointCount(l)
	}
	if len(got) != 2 || got["commit_latency"] != want["wal/commit_latency"] || got["append_latency"] != want["wal/append_latency"] {
		t.Fatalf("wal series %v, want %v", got, want)
	}

	// snapshot: a timeline with the snapshot span shaded and the dip marked.
	snap := section(t, doc, "snapshot")
	tl := snap.all("svg", hasClass("timeline"))
	if len(tl) != 1 {
		t.Fatalf("snapshot: %d timelines", len(tl))
	}
	if n := pointCount(tl[0].all("polyline", hasClass("series"))[0]); n != 61 {
		t.Errorf("timeline has %d points, want 61", n)
	}
	if spans := tl[0].all("rect", hasClass("span")); len(spans) != 1 {
		t.Errorf("%d spans", len(spans))
	}
	if !strings.Contains(tl[0].text.String(), "lowest 400k/s at 3 s (13.8% of median)") {
		t.Errorf("dip not annotated: %q", tl[0].text.String())
	}

	// snapshot-file: the recovery bar has its three parts and the rest.
	rec := section(t, doc, "snapshot-file").all("rect", hasClass("segment"))
	var parts []string
	for _, r := range rec {
		parts = append(parts, r.attr["data-part"])
	}
	if strings.Join(parts, ",") != "snapshot load,log replay,validate,other" {
		t.Errorf("recovery parts %v", parts)
	}

	// Floors sit beside their figures, with the ratio.
	rows := section(t, doc, "snapshot-file").all("tr", nil)
	found := false
	for _, r := range rows {
		txt := r.text.String()
		if strings.HasPrefix(txt, "recovery.recovery_ms") {
			found = strings.Contains(txt, "205 ms") && strings.Contains(txt, "141 ms") && strings.Contains(txt, "1.45×")
		}
	}
	if !found {
		t.Error("recovery_ms row lacks its floor and ratio")
	}
	floors := section(t, doc, "snapshot").text.String()
	if !strings.Contains(floors, "Floors measured in this run") || !strings.Contains(floors, "lz4_compress_bytes_per_sec") {
		t.Error("unpaired floors not listed")
	}

	// Failures are shown, not dropped.
	for _, name := range []string{"failed", "broken"} {
		f := section(t, doc, name).all("div", hasClass("failure"))
		if len(f) != 1 {
			t.Errorf("%s: failure not shown", name)
		}
	}
	if !strings.Contains(section(t, doc, "failed").text.String(), "address already in use") {
		t.Error("failure reason missing")
	}
	// Self-contained: nothing is fetched.
	for _, tag := range []string{"script", "link", "img", "iframe"} {
		if n := len(doc.all(tag, nil)); n != 0 {
			t.Errorf("%d <%s> elements", n, tag)
		}
	}
}

func TestLoad(t *testing.T) {
	b := Load("x", []byte(`{"a_ns": 1500, "floor_a_ns": 1000, "nested": {"latency_curve": [{"percentile": 50, "value_ns": 10}], "n": 3},
		"lz4_bytes_per_sec": 1e9, "odd_curve": "not an array", "list": [1,2], "ok": true}`))
	if b.Err != "" {
		t.Fatal(b.Err)
	}
	if len(b.Curves) != 1 || b.Curves[0].Name != "nested.latency" {
		t.Errorf("curves %+v", b.Curves)
	}
	names := map[string]Figure{}
	for _, f := range b.Figures {
		names[f.Name] = f
	}
	if f := names["a_ns"]; f.FloorName != "floor_a_ns" || f.Floor != "1000" {
		t.Errorf("a_ns not paired: %+v", f)
	}
	if _, ok := names["odd_curve"]; !ok {
		t.Error("a *_curve that is not a curve must stay a figure")
	}
	if _, ok := names["nested.n"]; !ok || names["ok"].Value != true {
		t.Errorf("figures %v", names)
	}
	if len(b.Floors) != 1 || b.Floors[0].Name != "lz4_bytes_per_sec" {
		t.Errorf("floors %+v", b.Floors)
	}
	for _, bad := range []string{``, `null`, `[1]`, `{"a":`, `garbage`} {
		if Load("x", []byte(bad)).Err == "" {
			t.Errorf("%q accepted", bad)
		}
	}
	if b := Load("x", []byte(`{"error": "boom", "n": 1}`)); b.Err != "boom" || len(b.Figures) != 1 {
		t.Errorf("error field: %+v", b)
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    string
		want string
	}{
		{"p50_ns", "480", "480 ns"},
		{"p50_ns", "48000", "48 µs"},
		{"commit_us", "520", "520 µs"},
		{"pause_ms", "0.82", "820 µs"},
		{"recovery_ms", "1234", "1.23 s"},
		{"arena_bytes", "1073741824", "1 GiB"},
		{"ops_per_sec", "3120000", "3.12M/s"},
		{"memcpy_bytes_per_sec", "7100000000", "6.61 GiB/s"},
		{"ops", "2000000", "2\u2009000\u2009000"},
		{"speedup_ratio", "1.456", "1.46×"},
		{"ops_per_cpu_sec", "10497585", "10.5M/CPU-s"},
		{"load_bytes_per_sec_1core", "3528431014", "3.29 GiB/s"},
		{"load_skip_raw_crc_vs_lz4_ratio", "0.804", "0.804×"},
	} {
		if got := formatFigure(tc.name, jsonNumber(tc.v)); got != tc.want {
			t.Errorf("%s=%s: %q, want %q", tc.name, tc.v, got, tc.want)
		}
	}
}

func TestHDRAxis(t *testing.T) {
	for p, want := range map[float64]float64{0: 0, 90: 1, 99: 2, 99.9: 3} {
		if got := hdrX(p); got < want-1e-9 || got > want+1e-9 {
			t.Errorf("hdrX(%v) = %v", p, got)
		}
	}
	for k, want := range []string{"0%", "90%", "99%", "99.9%", "99.99%"} {
		if got := hdrLabel(k); got != want {
			t.Errorf("label %d = %q", k, got)
		}
	}
	// A tail three decades above the median switches the latency axis to log.
	c := CurveChart("t", []Curve{{Name: "a", Points: []CurvePoint{{50, 100}, {99, 200}, {100, 500000}}}})
	if !strings.Contains(c, ">100 ns<") || !strings.Contains(c, ">1 ms<") {
		t.Errorf("log axis ticks missing: %s", c)
	}
	lin := CurveChart("t", []Curve{{Name: "a", Points: []CurvePoint{{50, 100}, {99, 150}, {100, 200}}}})
	if !strings.Contains(lin, ">0 ns<") {
		t.Errorf("linear axis must start at 0: %s", lin)
	}
	if CurveChart("t", nil) != "" || TimelineChart("t", Timeline{}) != "" {
		t.Error("empty input must draw nothing")
	}
}

// Renders the page in a real browser when Debian's chromium is present.
func TestReportInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium not installed")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, render(t), 0o644); err != nil {
		t.Fatal(err)
	}
	png := filepath.Join(dir, "report.png")
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--window-size=1280,4000", "--screenshot="+png, "file://"+page)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	img, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if len(img) < 50_000 || !bytes.HasPrefix(img, []byte("\x89PNG")) {
		t.Fatalf("screenshot is %d bytes", len(img))
	}
	if out := os.Getenv("COWBOOK_REPORT_PNG"); out != "" {
		_ = os.WriteFile(out, img, 0o644)
	}
}

func jsonNumber(s string) json.Number { return json.Number(s) }
