package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDoctorJSONOnAFakeTree(t *testing.T) {
	out, err := runApp(t, "doctor", "--root", "../../hostcheck/testdata/thp-never", "--data", t.TempDir(), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Checks []struct{ ID, Status, Value, Why, Advice string }
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, c := range r.Checks {
		got[c.ID] = c.Status
	}
	if got["thp_enabled"] != "warn" || got["overcommit"] != "unknown" || len(r.Checks) < 15 {
		t.Fatalf("checks %v", got)
	}
}

func TestDoctorTextOnThisHost(t *testing.T) {
	out, err := runApp(t, "doctor", "--data", t.TempDir())
	if err != nil {
		t.Fatal("doctor must exit 0:", err)
	}
	for _, s := range []string{"Transparent huge pages", "Data directory filesystem", "why:", " ok, "} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
}
