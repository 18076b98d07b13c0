package cow

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/cowbook/cowbook/internal/vfs"
)

// RawFileSink returns a Sink that writes the arena uncompressed to
// dir/raw-<seq>.arena: written to a temporary name, fsynced, renamed, and
// the directory fsynced, so the file exists under its final name only
// complete and durable. After publishing it removes all but the newest keep
// raw files (keep <= 0 keeps all). It is the floor the compressed snapshot
// format is measured against, and what the package's tests check byte for
// byte; the node's snapshots are mmapsnap files.
func RawFileSink(fs vfs.FS, dir string, keep int) Sink {
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
		if keep > 0 {
			if err := retainRaw(fs, dir, keep); err != nil {
				return Published{}, err
			}
		}
		return Published{Path: final, FileBytes: n}, nil
	}
}

// retainRaw removes all but the newest keep raw snapshots in dir. Names
// carry the zero-padded sequence, so sorted order is age order.
func retainRaw(fs vfs.FS, dir string, keep int) error {
	names, err := fs.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cow: retain %s: %w", dir, err)
	}
	var raws []string
	for _, n := range names {
		if strings.HasPrefix(n, "raw-") && strings.HasSuffix(n, ".arena") {
			raws = append(raws, n)
		}
	}
	for len(raws) > keep {
		if err := fs.Remove(filepath.Join(dir, raws[0])); err != nil {
			return fmt.Errorf("cow: retain %s: %w", dir, err)
		}
		raws = raws[1:]
	}
	return fs.SyncDir(dir)
}
