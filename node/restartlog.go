package node

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/cowbook/cowbook/walfile"
)

// LogRestart is what RestartLogAfterSnapshot did.
type LogRestart struct {
	Snapshot    string `json:"snapshot"`      // the snapshot the node will start from
	SnapshotSeq uint64 `json:"snapshot_seq"`  // its sequence
	OldFirstSeq uint64 `json:"old_first_seq"` // the old log's records (none when last < first)
	OldLastSeq  uint64 `json:"old_last_seq"`
	Aside       string `json:"aside"`     // where the old log went
	FirstSeq    uint64 `json:"first_seq"` // the first sequence of the new log
}

// RestartLogAfterSnapshot lets a node start again whose log ends before its
// newest snapshot, as a forced log repair leaves it (the node refuses to
// start then: the snapshot holds records the log no longer has). Every
// record still in the log is then already in the snapshot's state, so
// nothing the log holds is lost by starting a new, empty log right after
// the snapshot; the old log directory is kept beside it, renamed. It
// refuses, changing nothing, when the log is damaged, when it reaches the
// snapshot's sequence (the node starts as it is), and when there is no
// snapshot. It fails while a node has dir open. Of opts only FS, Snap and
// Log are used, as Open uses them.
func RestartLogAfterSnapshot(dir string, opts Options) (LogRestart, error) {
	var res LogRestart
	if opts.FS == nil {
		opts.FS = vfs.OS
	}
	sopts, lopts := opts.Snap, opts.Log
	if sopts.FS == nil {
		sopts.FS = opts.FS
	}
	if lopts.FS == nil {
		lopts.FS = opts.FS
	}
	man, err := readManifest(opts.FS, dir)
	if err != nil {
		return res, err
	}
	if man == nil {
		return res, fmt.Errorf("node: %s holds no %s: not a node's data directory", dir, ManifestName)
	}
	info, _, err := mmapsnap.Newest(filepath.Join(dir, "snap"), sopts)
	if err != nil {
		if errors.Is(err, mmapsnap.ErrNotFound) {
			return res, fmt.Errorf("node: no snapshot in %s verifies: the log is all there is, keep it", dir)
		}
		return res, err
	}
	res.Snapshot, res.SnapshotSeq = info.Path, info.Seq
	walDir := filepath.Join(dir, "wal")
	rep, err := walfile.Inspect(walDir, lopts)
	if err != nil {
		return res, err
	}
	res.OldFirstSeq, res.OldLastSeq = rep.FirstSeq, rep.LastSeq
	if d := rep.Damage; d != nil {
		return res, fmt.Errorf("node: the log is damaged (%s); repair it first (cowbook wal repair)", d.Reason)
	}
	switch {
	case rep.Records > 0 && rep.FirstSeq > info.Seq+1:
		return res, fmt.Errorf("node: the log starts at seq %d, after the snapshot's %d: records %d..%d are missing, and a new log would drop %d..%d; restore the missing segments",
			rep.FirstSeq, info.Seq, info.Seq+1, rep.FirstSeq-1, rep.FirstSeq, rep.LastSeq)
	case rep.Records > 0 && rep.LastSeq >= info.Seq:
		return res, fmt.Errorf("node: the log reaches seq %d, the snapshot's is %d: the node starts from them as they are", rep.LastSeq, info.Seq)
	case rep.Records == 0 && len(rep.Segments) > 0 && rep.FirstSeq == info.Seq+1:
		return res, fmt.Errorf("node: the log already starts right after the snapshot (seq %d)", info.Seq+1)
	}
	res.FirstSeq = info.Seq + 1
	res.Aside = fmt.Sprintf("%s.before-%d", walDir, res.FirstSeq)
	if err := walfile.Restart(walDir, res.Aside, res.FirstSeq, lopts); err != nil {
		return res, err
	}
	return res, nil
}
