package node

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/cowbook/cowbook/walfile"
)

// ReplayOptions configures Replay.
type ReplayOptions struct {
	// FS is the filesystem. Zero: vfs.OS.
	FS vfs.FS
	// ToSeq is the sequence to stop after. Zero: the end of the log.
	ToSeq uint64
	// OnCommand, when set, receives each replayed command and its events
	// (valid only during the call).
	OnCommand func(seq uint64, cmd *engine.Command, clientID, reqID uint64, events []engine.Event)
}

// ReplayResult says where a Replay started and ended.
type ReplayResult struct {
	// FromSnapshot is the snapshot file it started from ("" = genesis).
	FromSnapshot string `json:"from_snapshot,omitempty"`
	SnapshotSeq  uint64 `json:"snapshot_seq"`
	Replayed     uint64 `json:"replayed"`
}

// Replay rebuilds, read-only, the state of the node in dir right after
// opts.ToSeq: from the newest snapshot at or before it that loads (else
// from an empty arena) plus the log. The caller closes the engine and
// frees its arena with engine.FreeArena. It works beside a running node.
func Replay(dir string, opts ReplayOptions) (*engine.Engine, ReplayResult, error) {
	var res ReplayResult
	if opts.FS == nil {
		opts.FS = vfs.OS
	}
	man, err := readManifest(opts.FS, dir)
	if err != nil {
		return nil, res, err
	}
	if man == nil {
		return nil, res, fmt.Errorf("node: %s holds no %s: not a data directory", dir, ManifestName)
	}
	cfg, err := man.engineConfig()
	if err != nil {
		return nil, res, err
	}
	size, err := engine.ArenaSize(cfg)
	if err != nil {
		return nil, res, err
	}
	mem, err := engine.AllocArena(size)
	if err != nil {
		return nil, res, err
	}
	var e *engine.Engine
	sopts := mmapsnap.Options{FS: opts.FS}
	list, _ := mmapsnap.List(filepath.Join(dir, "snap"), sopts)
	for _, in := range list {
		if in.Err != nil || (opts.ToSeq != 0 && in.Seq > opts.ToSeq) {
			continue
		}
		if _, err := mmapsnap.Load(in.Path, mem, sopts); err != nil {
			continue
		}
		if a, err := engine.Attach(mem); err == nil {
			e, res.FromSnapshot, res.SnapshotSeq = a, in.Path, in.Seq
			break
		}
	}
	if e == nil {
		clear(mem)
		cfg.Symbols = nil
		// Format the arena as New would, in memory we own.
		fresh, err := engine.New(cfg)
		if err != nil {
			engine.FreeArena(mem)
			return nil, res, err
		}
		copy(mem, fresh.Arena())
		fresh.Close()
		if e, err = engine.Attach(mem); err != nil {
			engine.FreeArena(mem)
			return nil, res, err
		}
	}
	fail := func(err error) (*engine.Engine, ReplayResult, error) {
		e.Close()
		engine.FreeArena(mem)
		return nil, res, err
	}
	if opts.ToSeq != 0 && e.LastSeq() == opts.ToSeq {
		return e, res, nil
	}
	r, err := walfile.NewReader(filepath.Join(dir, "wal"), walfile.Options{FS: opts.FS}, e.LastSeq()+1)
	if err != nil {
		return fail(fmt.Errorf("node: the log cannot continue the state at seq %d: %w", e.LastSeq(), err))
	}
	defer r.Close()
	var events []engine.Event
	for opts.ToSeq == 0 || e.LastSeq() < opts.ToSeq {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(err)
		}
		cmd, cid, req, err := decodeRecord(rec.Type, rec.Payload)
		if err != nil {
			return fail(fmt.Errorf("seq %d: %w", rec.Seq, err))
		}
		if events, err = e.Apply(rec.Seq, &cmd, events[:0]); err != nil {
			return fail(fmt.Errorf("%w: seq %d: %v", ErrRecovery, rec.Seq, err))
		}
		res.Replayed++
		if opts.OnCommand != nil {
			opts.OnCommand(rec.Seq, &cmd, cid, req, events)
		}
	}
	if opts.ToSeq != 0 && e.LastSeq() < opts.ToSeq {
		return fail(fmt.Errorf("node: the log ends at seq %d, before %d", e.LastSeq(), opts.ToSeq))
	}
	return e, res, nil
}
