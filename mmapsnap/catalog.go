package mmapsnap

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// List returns the snapshots published in dir (files named FileName(seq)),
// newest (highest sequence) first, each described by Inspect. A file whose
// header, index or footer is not valid is still listed, with Err set and
// only Path, Seq (from its name) and FileBytes filled in. Temporary files
// and other names are ignored. A missing dir is an empty list.
func List(dir string, opts Options) ([]Info, error) {
	opts.EnsureDefaults()
	names, err := opts.FS.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("mmapsnap: %w", err)
	}
	var out []Info
	for _, name := range names {
		seq, ok := ParseFileName(name)
		if !ok {
			continue
		}
		path := filepath.Join(dir, name)
		in, _, err := Inspect(path, opts)
		if err != nil {
			size, _, _ := opts.FS.Stat(path)
			in = Info{Path: path, Meta: Meta{Seq: seq}, FileBytes: size, Err: err}
		} else if in.Seq != seq {
			in = Info{Path: path, Meta: Meta{Seq: seq}, FileBytes: in.FileBytes,
				Err: fmt.Errorf("%w: %s: header holds seq %d, name says %d", ErrInvalid, path, in.Seq, seq)}
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq > out[j].Seq })
	return out, nil
}

// Skipped names a snapshot that Newest or LoadNewest passed over, and why.
type Skipped struct {
	Path string
	Err  error
}

// Newest returns the newest snapshot in dir that verifies whole (Verify),
// and the newer ones it skipped, with the reason for each. It returns an
// error wrapping ErrNotFound when none verifies.
func Newest(dir string, opts Options) (Info, []Skipped, error) {
	return newest(dir, opts, func(path string) (Info, error) { return Verify(path, opts) })
}

// LoadNewest loads the newest snapshot in dir that loads whole into dst
// (see Load), trying older ones in turn, and returns it with the newer ones
// it skipped and why. It returns an error wrapping ErrNotFound when none
// loads; dst then holds partial data. Recovery uses it rather than Newest
// followed by Load, which would decompress the snapshot twice.
func LoadNewest(dir string, dst []byte, opts Options) (Info, []Skipped, error) {
	return newest(dir, opts, func(path string) (Info, error) {
		info, err := Load(path, dst, opts)
		if err != nil {
			opts.ZeroedDst = false // dst holds what the failed Load wrote
		}
		return info, err
	})
}

func newest(dir string, opts Options, try func(path string) (Info, error)) (Info, []Skipped, error) {
	list, err := List(dir, opts)
	if err != nil {
		return Info{}, nil, err
	}
	var skipped []Skipped
	for _, in := range list {
		if in.Err != nil {
			skipped = append(skipped, Skipped{Path: in.Path, Err: in.Err})
			continue
		}
		got, err := try(in.Path)
		if err != nil {
			skipped = append(skipped, Skipped{Path: in.Path, Err: err})
			continue
		}
		return got, skipped, nil
	}
	return Info{}, skipped, fmt.Errorf("%w in %s (%d skipped)", ErrNotFound, dir, len(skipped))
}

// Retain keeps the newest keep snapshots in dir whose header, index and
// footer are valid (Inspect; a full Verify of each would decompress them
// all), and removes every snapshot older than the oldest of those, valid or
// not, and every temporary file a crashed writer left at or below the newest
// valid sequence. Nothing newer than a kept snapshot is removed, and with
// fewer than keep valid snapshots no snapshot is removed. It syncs dir after
// removing and returns the removed paths.
//
// Call it only once the newest snapshot is durable (after Write returned
// nil), and not while a Write into dir for the same or an older sequence
// is running.
func Retain(dir string, keep int, opts Options) ([]string, error) {
	opts.EnsureDefaults()
	if keep < 1 {
		return nil, fmt.Errorf("mmapsnap: retain %d snapshots: must keep at least one", keep)
	}
	list, err := List(dir, opts)
	if err != nil {
		return nil, err
	}
	var valid []Info
	for _, in := range list {
		if in.Err == nil {
			valid = append(valid, in)
		} else if !IsCorrupt(in.Err) {
			// An I/O error says nothing about the file: decide nothing.
			return nil, in.Err
		}
	}
	if len(valid) == 0 {
		return nil, nil
	}
	var victims []string
	if len(valid) >= keep {
		oldestKept := valid[keep-1].Seq
		for _, in := range list {
			if in.Seq < oldestKept {
				victims = append(victims, in.Path)
			}
		}
	}
	names, err := opts.FS.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("mmapsnap: %w", err)
	}
	for _, name := range names {
		if seq, ok := parseTmpName(name); ok && seq <= valid[0].Seq {
			victims = append(victims, filepath.Join(dir, name))
		}
	}
	if len(victims) == 0 {
		return nil, nil
	}
	var removed []string
	var firstErr error
	for _, p := range victims {
		if err := opts.FS.Remove(p); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		removed = append(removed, p)
	}
	if err := opts.FS.SyncDir(dir); err != nil && firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		return removed, fmt.Errorf("mmapsnap: retain in %s: %w", dir, firstErr)
	}
	return removed, nil
}
