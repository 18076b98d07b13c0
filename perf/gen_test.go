package perf

import (
	"reflect"
	"testing"

	"github.com/cowbook/cowbook/engine"
)

func TestGenerateDeterministicAndRealistic(t *testing.T) {
	opts := GenOptions{Ops: 200_000, Seed: 1}
	a, err := GenerateCommands(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateCommands(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same options, different commands")
	}
	c, err := GenerateCommands(GenOptions{Ops: 200_000, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same commands")
	}

	e, err := engine.New(GenConfig(1))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	var kinds [256]int
	var tifs [8]int
	market := 0
	var out []engine.Event
	for i := range a {
		kinds[a[i].Kind]++
		if a[i].Kind == engine.CmdNew {
			tifs[a[i].TIF]++
			if a[i].Type == engine.Market {
				market++
			}
		}
		if out, err = e.Apply(uint64(i+1), &a[i], out[:0]); err != nil {
			t.Fatal(err)
		}
	}
	n := float64(len(a))
	newShare := float64(kinds['N']) / n
	amendShare := float64(kinds['C']+kinds['R']) / n
	if newShare < 0.66 || newShare > 0.74 || amendShare < 0.25 || amendShare > 0.32 {
		t.Errorf("mix: new %.3f, cancel+replace %.3f", newShare, amendShare)
	}
	if tifs[engine.IOC] == 0 || tifs[engine.FOK] == 0 || tifs[engine.POST] == 0 || market == 0 {
		t.Errorf("tifs %v, market %d", tifs, market)
	}
	st := e.Stats()
	if st.RestingOrders < 10_000 || st.RestingOrders > 100_000 {
		t.Errorf("book holds %d orders", st.RestingOrders)
	}
	// Cancels and replaces target live orders: few are rejected.
	if float64(st.Rejects) > 0.02*n || st.Trades == 0 {
		t.Errorf("stats %+v", st)
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
}
