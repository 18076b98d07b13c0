package cow

import (
	"errors"
	"testing"
	"time"
)

func TestTrigger(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sec := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tr := NewTrigger(Policy{EveryCommands: 100, Every: 10 * time.Second, RetryAfter: 2 * time.Second}, 50, t0)
	steps := []struct {
		seq  uint64
		at   time.Time
		want bool
	}{
		{50, sec(100), false}, // nothing applied: never due, however long it has been
		{149, sec(1), false},
		{150, sec(1), true}, // 100 commands
		{51, sec(10), true}, // 10 seconds
		{51, sec(9), false},
	}
	for i, s := range steps {
		if got := tr.Due(s.seq, s.at); got != s.want {
			t.Fatalf("step %d: Due(%d, +%v) = %v", i, s.seq, s.at.Sub(t0), got)
		}
	}
	tr.Started()
	tr.Finished(Result{Ticket: Ticket{Seq: 150}}, sec(2))
	if tr.Due(150, sec(60)) || tr.Due(249, sec(3)) || !tr.Due(250, sec(3)) || !tr.Due(151, sec(12)) {
		t.Fatal("counters not reset by a successful snapshot")
	}
	tr.Finished(Result{Ticket: Ticket{Seq: 250}, Err: errors.New("disk full")}, sec(3))
	if tr.Due(260, sec(4)) || !tr.Due(260, sec(5)) {
		t.Fatal("a failed snapshot must be retried after RetryAfter, not before")
	}
	tr.Finished(Result{Ticket: Ticket{Seq: 260}}, sec(5))
	tr.Request()
	if !tr.Due(260, sec(5)) {
		t.Fatal("a request must make a snapshot due even with nothing applied")
	}
	tr.Started()
	if tr.Due(260, sec(5)) {
		t.Fatal("request not cleared by Started")
	}
}
