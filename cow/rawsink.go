package cow

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/cowbook/cowbook/internal/vfs"
)

// RawFileSink returns a Sink that writes the arena uncompressed to
// dir/raw-<seq>.arena: written to a temporary name, fsynced, renamed, and
// the directory fsynced, so the file exists under its final name only
// complete and durable. It is the floor the compressed snapshot format is
// measured against, and what the package's tests check byte for byte; the
// node's snapshots are mmapsnap files.
func RawFileSink(fs vfs.FS, dir string) Sink {
	return func(m Meta, r io.Reader) (Published, error) {
		final := filepath.Join(dir, fmt.Sprintf("raw-%020d.arena", m.Seq))
		tmp := final + ".tmp"
		f, err := vfs.Create(fs, tmp)
		if err != nil {
			return Published{}, err
		}
		n, err := io.Copy(f, r)
		if err == nil && n != m.ArenaSize {
			err = fmt.Errorf("%w: %d of %d bytes", io.ErrUnexpectedEOF, n, m.ArenaSize)
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		renamed := false
		if err == nil {
			err = fs.Rename(tmp, final)
			renamed = err == nil
		}
		if err == nil {
			err = fs.SyncDir(dir)
		}
		if err != nil {
			_ = fs.Remove(tmp)
			if renamed { // visible but not known durable: never leave it published
				_ = fs.Remove(final)
			}
			return Published{}, fmt.Errorf("cow: raw snapshot %s: %w", final, err)
		}
		return Published{Path: final, FileBytes: n}, nil
	}
}
