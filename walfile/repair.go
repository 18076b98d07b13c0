package walfile

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/cowbook/cowbook/internal/vfs"
)

// cutTail cuts the damaged end of a segment whose bytes are in buf: it keeps
// a copy of the cut bytes in a .broken file (fsynced, directory fsynced),
// then overwrites them with zeros and fdatasyncs, so that the next records
// written there can never be confused with leftovers. It returns the name of
// the copy.
func cutTail(fs vfs.FS, dir string, d *Damage, buf []byte) (string, error) {
	if d.Bytes <= 0 {
		return "", nil
	}
	path := filepath.Join(dir, d.Segment)
	cut := buf[d.Offset : d.Offset+d.Bytes]
	broken, err := saveBroken(fs, dir, d.Segment, cut)
	if err != nil {
		return "", err
	}
	f, err := fs.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	clear(cut)
	if _, err := f.WriteAt(cut, d.Offset); err != nil {
		f.Close()
		return "", fmt.Errorf("walfile: zero torn tail of %s: %w", d.Segment, err)
	}
	if err := f.Datasync(); err != nil {
		f.Close()
		return "", fmt.Errorf("walfile: zero torn tail of %s: %w", d.Segment, err)
	}
	return broken, f.Close()
}

// brokenName returns a name, not yet used in dir, for bytes taken from seg.
func brokenName(fs vfs.FS, dir, seg string) string {
	name := seg + brokenExt
	for i := 1; ; i++ {
		if _, _, err := fs.Stat(filepath.Join(dir, name)); err != nil {
			return name
		}
		name = fmt.Sprintf("%s%s.%d", seg, brokenExt, i)
	}
}

// saveBroken writes data to a new .broken file for seg and makes it durable.
func saveBroken(fs vfs.FS, dir, seg string, data []byte) (string, error) {
	name := brokenName(fs, dir, seg)
	f, err := fs.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return name, fs.SyncDir(dir)
}

// RepairResult says what Repair found and did.
type RepairResult struct {
	// Damage is what was found; nil when the log was whole.
	Damage *Damage `json:"damage,omitempty"`
	// Broken names the files now holding what was cut or moved aside.
	Broken []string `json:"broken,omitempty"`
	// LastSeq is the last sequence of the log after the repair.
	LastSeq uint64 `json:"last_seq"`
}

// Repair checks the whole log in dir and cuts a torn tail, as Open would.
// Corruption is returned as an ErrCorrupt error, changing nothing, unless
// force is set: then the log is cut at the first bad spot; the cut bytes are
// kept in a .broken file and every later segment is renamed to
// <name>.broken. Records after the bad spot are no longer part of the log;
// force is for an operator who has decided to lose them.
func Repair(dir string, opts Options, force bool) (*RepairResult, error) {
	opts, err := opts.EnsureDefaults()
	if err != nil {
		return nil, err
	}
	fs := opts.FS
	lock, err := acquireLock(fs, dir)
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	r, buf, release, err := scanLog(fs, dir, true)
	defer release()
	if err != nil {
		return nil, err
	}
	res := &RepairResult{Damage: r.Damage, LastSeq: r.LastSeq}
	d := r.Damage
	if d == nil {
		return res, nil
	}
	if !d.Torn && !force {
		return res, d.Err
	}
	segs := r.Segments
	next := d.segIndex
	if !d.wholeSeg {
		broken, err := cutTail(fs, dir, d, buf)
		if err != nil {
			return res, err
		}
		if broken != "" {
			res.Broken = append(res.Broken, broken)
		}
		next++
	}
	for _, s := range segs[next:] {
		name := brokenName(fs, dir, s.Name)
		if err := fs.Rename(filepath.Join(dir, s.Name), filepath.Join(dir, name)); err != nil {
			return res, err
		}
		res.Broken = append(res.Broken, name)
	}
	if next < len(segs) {
		if err := fs.SyncDir(dir); err != nil {
			return res, err
		}
	}
	return res, nil
}

// Inspect reads the whole log in dir without changing it and reports its
// segments, records and any damage. The error is for files that cannot be
// read; damage is in the report.
func Inspect(dir string, opts Options) (*Report, error) {
	opts, err := opts.EnsureDefaults()
	if err != nil {
		return nil, err
	}
	r, _, release, err := scanLog(opts.FS, dir, true)
	release()
	return r, err
}

// Verify reads the whole log in dir without changing it. It returns nil
// when the log is whole, an error wrapping ErrTornTail when it ends in a
// torn tail, and one wrapping ErrCorrupt when it is corrupt.
func Verify(dir string, opts Options) error {
	r, err := Inspect(dir, opts)
	if err != nil {
		return err
	}
	if d := r.Damage; d != nil {
		if d.Torn {
			return fmt.Errorf("%w: segment %s offset %d: %s (%d bytes)", ErrTornTail, d.Segment, d.Offset, d.Reason, d.Bytes)
		}
		return d.Err
	}
	return nil
}

// Restart moves the log in dir aside, to the directory aside, and leaves in
// dir an empty log whose first record will have sequence first. It holds
// the log's lock throughout, so it fails while a Log has dir open, and it
// refuses when aside exists. Nothing is deleted: the old segments, their
// recycle pool and any .broken files move with the directory.
//
// It is for the one case where a log must start over at a later sequence:
// after a forced repair cut it below the newest snapshot, whose state
// already holds every record the log still has (the caller checks that).
func Restart(dir, aside string, first uint64, opts Options) error {
	if first == 0 {
		return fmt.Errorf("%w: first sequence 0", ErrSequence)
	}
	opts, err := opts.EnsureDefaults()
	if err != nil {
		return err
	}
	fs := opts.FS
	if _, _, err := fs.Stat(aside); err == nil {
		return fmt.Errorf("walfile: restart: %s already exists", aside)
	}
	lock, err := acquireLock(fs, dir)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := fs.Rename(dir, aside); err != nil {
		return err
	}
	if err := fs.SyncDir(filepath.Dir(dir)); err != nil {
		return err
	}
	opts.FirstSeq = first
	l, err := Open(dir, opts)
	if err != nil {
		return err
	}
	return l.Close()
}
