package main

import (
	"encoding/json"
	"testing"
)

func TestLoad(t *testing.T) {
	addr, _, _ := startServe(t)
	out, err := runApp(t, "load", "--addr", addr, "--conns", "2", "--duration", "300ms", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got loadJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Acked == 0 || got.Rejected != 0 || got.AckedOrdersPerSec <= 0 || got.AckP50Us <= 0 {
		t.Fatalf("load: %s %v", out, err)
	}
}
