package cow

import (
	"fmt"
	"io"
	"os"

	"github.com/cowbook/cowbook/mmapsnap"
)

// MmapsnapSink returns the node's Sink: it writes the arena as an mmapsnap
// file in dir (LZ4 blocks, CRC-32C, temporary name, fsync, rename, fsync of
// dir; mmapsnap.Write publishes nothing on error) and then keeps the newest
// keep snapshots (mmapsnap.Retain; keep <= 0 keeps all).
//
// A failure of the retention is reported on stderr and not as a failed
// snapshot: the new file is already durable and published, and the next
// snapshot retries the cleanup.
func MmapsnapSink(dir string, keep int, opts mmapsnap.Options) Sink {
	return func(m Meta, r io.Reader) (Published, error) {
		meta := mmapsnap.Meta{
			Seq:           m.Seq,
			LayoutVersion: m.LayoutVersion,
			ArenaSize:     uint64(m.ArenaSize),
			StateChecksum: m.StateChecksum,
		}
		info, err := mmapsnap.Write(dir, meta, r, opts)
		if err != nil {
			return Published{}, err
		}
		if keep > 0 {
			if _, err := mmapsnap.Retain(dir, keep, opts); err != nil {
				fmt.Fprintf(os.Stderr, "cow: helper: keeping the newest %d snapshots in %s: %v\n", keep, dir, err)
			}
		}
		return Published{Path: info.Path, FileBytes: info.FileBytes}, nil
	}
}
