package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestReplay(t *testing.T) {
	addr, data, stop := startServe(t)
	for _, args := range [][]string{
		{"--id", "1", "new", "AAPL", "S", "1000", "10"},
		{"--id", "2", "new", "AAPL", "B", "1001", "4"},
		{"--id", "3", "new", "AAPL", "B", "990", "5"},
	} {
		if _, err := runApp(t, append([]string{"order", "--addr", addr}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Right after seq 8 (the trade): the ask has 6 left and no bid rests.
	out, err := runApp(t, "replay", "--data", data, "--to-seq", "8", "--json", "--events")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Seq           uint64 `json:"seq"`
		RestingOrders int    `json:"resting_orders"`
		StateHash     uint64 `json:"state_hash"`
		Replayed      uint64 `json:"replayed"`
		Books         []struct {
			Symbol  string `json:"symbol"`
			BestBid *struct {
				Price int64 `json:"price"`
			} `json:"best_bid"`
			BestAsk *struct {
				Price int64 `json:"price"`
				Qty   int64 `json:"qty"`
			} `json:"best_ask"`
		} `json:"books"`
		Events []struct {
			Seq uint64 `json:"seq"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Seq != 8 || got.RestingOrders != 1 || got.Replayed != 8 || len(got.Events) != 8 || got.Books[0].Symbol != "AAPL" ||
		got.Books[0].BestBid != nil || got.Books[0].BestAsk == nil || got.Books[0].BestAsk.Qty != 6 {
		t.Fatalf("replay to 8: %s", out)
	}
	out, err = runApp(t, "replay", "--data", data)
	if err != nil || !strings.Contains(out, "seq 9 ") || !strings.Contains(out, "resting orders 2") {
		t.Fatalf("replay to the end: %q %v", out, err)
	}
	if _, err := runApp(t, "replay", "--data", data, "--to-seq", "100"); err == nil {
		t.Fatal("replay past the end: no error")
	}
}
