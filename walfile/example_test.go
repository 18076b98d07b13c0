package walfile_test

import (
	"fmt"
	"io"

	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/walfile"
)

// The engine loop appends each command, applies it at once, and releases
// its effects when the durable watermark passes its sequence. Recovery
// reads the log back from the snapshot's sequence.
func Example() {
	fs := vfs.NewMemFS()
	opts := walfile.Options{FS: fs, SegmentSize: 1 << 20}
	l, err := walfile.Open("/data/wal", opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	var last uint64
	for _, cmd := range []string{"N,ABC,1,7,B,L,GTC,100,5", "C,ABC,1"} {
		if last, err = l.Append(1, []byte(cmd)); err != nil {
			fmt.Println(err)
			return
		}
		// engine.Apply(cmd) here; hold its events until durable.
	}
	for l.DurableSeq() < last {
		<-l.Durable() // or read DurableSeq in the engine's own loop
	}
	fmt.Println("durable up to", l.DurableSeq())
	if err := l.Close(); err != nil {
		fmt.Println(err)
		return
	}

	r, err := walfile.NewReader("/data/wal", opts, 1)
	if err != nil {
		fmt.Println(err)
		return
	}
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(rec.Seq, string(rec.Payload))
	}
	// Output:
	// durable up to 2
	// 1 N,ABC,1,7,B,L,GTC,100,5
	// 2 C,ABC,1
}
