package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadRender: any benchmark output loads without panicking and renders
// to a well-formed page (escaping holds for any name or string value).
func FuzzLoadRender(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"a<b_curve": [{"percentile": 150, "value_ns": -5}], "x&y": "</svg><script>", "t_timeline": [{"t_ms": 1, "ops_per_sec": 0}]}`))
	f.Add([]byte(`{"replay_ms": 0, "validate_ms": 0, "snapshot_load_ms": 0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := Load("fuzz", data)
		var buf bytes.Buffer
		if err := Render(&buf, Page{Title: "t", Benches: []Bench{b}}); err != nil {
			t.Fatal(err)
		}
		dec := xml.NewDecoder(&buf)
		for {
			_, err := dec.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("page not well-formed: %v", err)
			}
		}
	})
}
