package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startServe runs `cowbook serve` in this process on a fresh data
// directory; see startServeAt.
func startServe(t *testing.T, extra ...string) (addr, data string, stop func() error) {
	return startServeAt(t, filepath.Join(t.TempDir(), "data"), extra...)
}

func TestServe(t *testing.T) {
	addr, data, stop := startServe(t, "--metrics", "127.0.0.1:0")
	out, err := runApp(t, "order", "--addr", addr, "--id", "1", "new", "AAPL", "S", "1000", "10")
	if err != nil || !strings.Contains(out, "ack seq 7") {
		t.Fatalf("order: %q %v (want ack at seq 7, after the 6 demo symbols)", out, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("clean shutdown: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "serve.pid")); !os.IsNotExist(err) {
		t.Fatalf("pid file left behind: %v", err)
	}
	// The clean shutdown took a final snapshot at seq 7.
	out, err = runApp(t, "snapshot", "ls", "--data", data, "--json")
	if err != nil || !strings.Contains(out, `"seq": 7`) {
		t.Fatalf("snapshot ls after shutdown: %s %v", out, err)
	}
	// Restart: the state is there.
	addr2, _, stop2 := startServeAt(t, data)
	out, err = runApp(t, "status", "--addr", addr2, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Seq != 7 || st.DurableSeq != 7 || st.SnapshotSeq != 7 || st.State != "ready" {
		t.Fatalf("status after restart: %+v %v", st, err)
	}
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
}

// startServeAt runs `cowbook serve` in this process on data and a free
// loopback port, waits until it reports ready, and returns its address and
// a function that stops it (as SIGTERM would) and returns its error.
func startServeAt(t *testing.T, data string, extra ...string) (string, string, func() error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		app := newApp()
		app.Writer, app.ErrWriter = &bytes.Buffer{}, &bytes.Buffer{}
		args := append([]string{"cowbook", "serve", "--data", data, "--listen", addr, "--buffered"}, extra...)
		done <- app.RunContext(ctx, args)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := runApp(t, "status", "--addr", addr, "--json")
		var st statusJSON
		if err == nil && json.Unmarshal([]byte(out), &st) == nil && st.State == "ready" {
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("serve did not become ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return addr, data, stop
}
