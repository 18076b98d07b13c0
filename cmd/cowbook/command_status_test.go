package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestStatus(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metrics := l.Addr().String()
	l.Close()
	addr, _, _ := startServe(t, "--metrics", metrics)
	if _, err := runApp(t, "order", "--addr", addr, "--id", "1", "new", "AAPL", "S", "1000", "10"); err != nil {
		t.Fatal(err)
	}
	out, err := runApp(t, "status", "--addr", addr)
	if err != nil || !strings.Contains(out, "sequence     7") || !strings.Contains(out, "recovery") {
		t.Fatalf("status: %q %v", out, err)
	}
	out, err = runApp(t, "status", "--addr", addr, "--json", "--metrics", metrics)
	if err != nil {
		t.Fatal(err)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Seq != 7 || st.DurableSeq != 7 || st.RecoveryMs <= 0 || st.Latency == nil {
		t.Fatalf("status --json: %s %v", out, err)
	}
	resp, err := http.Get("http://" + metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"cowbook_seq 7\n", "cowbook_durable_seq 7\n", "cowbook_ready 1\n", "# TYPE cowbook_ack_latency_seconds summary"} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("metrics lack %q:\n%s", want, body)
		}
	}
	if _, err := runApp(t, "serve", "--metrics", "0.0.0.0:0", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--snapshot-mode", "inprocess"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("metrics on a public address: %v", err)
	}
	if _, err := runApp(t, "status", "--addr", "127.0.0.1:1", "--timeout", "200ms"); err == nil {
		t.Fatal("status of nothing: no error")
	}
}
