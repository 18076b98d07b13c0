package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestOrder(t *testing.T) {
	addr, _, _ := startServe(t)
	if out, err := runApp(t, "order", "--addr", addr, "--client-id", "7", "--id", "1", "new", "AAPL", "S", "1000", "10"); err != nil || !strings.Contains(out, "ack seq 7") {
		t.Fatalf("sell: %q %v", out, err)
	}
	out, err := runApp(t, "order", "--addr", addr, "--client-id", "8", "--id", "2", "--json", "new", "AAPL", "B", "1001", "4")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Seq     uint64 `json:"seq"`
		Acked   bool   `json:"acked"`
		Reports []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"reports"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || !got.Acked || got.Seq != 8 || len(got.Reports) != 1 || got.Reports[0].Type != "trade" {
		t.Fatalf("crossing buy: %s %v", out, err)
	}
	// Engine reject: sequenced, with its reason.
	if out, err := runApp(t, "order", "--addr", addr, "--id", "3", "new", "AAPL", "B", "999999999", "1"); err != nil || !strings.Contains(out, "seq 9") || !strings.Contains(out, "price_out_of_band") {
		t.Fatalf("out of band: %q %v", out, err)
	}
	// Gateway reject: not sequenced.
	if out, err := runApp(t, "order", "--addr", addr, "--id", "4", "new", "AAPL", "B", "0", "1"); err != nil || !strings.Contains(out, "seq 0") {
		t.Fatalf("limit at price 0: %q %v", out, err)
	}
	if out, err := runApp(t, "order", "--addr", addr, "--client-id", "7", "--id", "1", "cancel", "AAPL"); err != nil || !strings.Contains(out, "ack seq 10") || !strings.Contains(out, "cancel") {
		t.Fatalf("cancel: %q %v", out, err)
	}
	for _, bad := range [][]string{
		{"order", "--addr", addr, "new", "AAPL", "B", "1", "1"},              // no --id
		{"order", "--addr", addr, "--id", "5", "new", "AAPL", "X", "1", "1"}, // bad side
		{"order", "--addr", addr, "--id", "5", "frobnicate", "AAPL"},
		{"order", "--addr", addr, "--id", "5", "new", "AAPL", "B", "ten", "1"},
	} {
		if _, err := runApp(t, bad...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
