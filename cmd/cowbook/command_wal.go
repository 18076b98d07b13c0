package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/cowbook/cowbook/node"
	"github.com/cowbook/cowbook/walfile"
)

// Exit statuses of `wal verify`.
const (
	exitTornTail = 2 // the log ends in a torn tail (Open cuts it)
	exitCorrupt  = 3 // the log is corrupt (repair --force, or restore)
)

// walCommand groups the tools that read and repair the write-ahead log in
// <data>/wal.
func walCommand() *cli.Command {
	return &cli.Command{
		Name:  "wal",
		Usage: "inspect, verify, dump and repair the write-ahead log in DIR/wal",
		Subcommands: []*cli.Command{
			walLsCommand(),
			walInspectCommand(),
			walVerifyCommand(),
			walDumpCommand(),
			walRepairCommand(),
			walRestartCommand(),
		},
	}
}

func walDir(c *cli.Context) string { return filepath.Join(c.String(dataFlag.Name), "wal") }

func walLsCommand() *cli.Command {
	return &cli.Command{
		Name:  "ls",
		Usage: "list the segments (from their names; nothing is read)",
		Flags: []cli.Flag{dataFlag, jsonFlag},
		Action: func(c *cli.Context) error {
			segs, err := walfile.List(walDir(c), walfile.Options{})
			if err != nil {
				return err
			}
			w := c.App.Writer
			if c.Bool(jsonFlag.Name) {
				return writeJSON(w, struct {
					Segments []walfile.SegmentInfo `json:"segments"`
				}{segs})
			}
			for _, s := range segs {
				fmt.Fprintf(w, "%s  first %d  %d bytes\n", s.Name, s.FirstSeq, s.Size)
			}
			return nil
		},
	}
}

func walInspectCommand() *cli.Command {
	return &cli.Command{
		Name:  "inspect",
		Usage: "read every segment: sequences, records, torn tail or corruption",
		Flags: []cli.Flag{dataFlag, jsonFlag},
		Action: func(c *cli.Context) error {
			r, err := walfile.Inspect(walDir(c), walfile.Options{})
			if err != nil {
				return err
			}
			w := c.App.Writer
			if c.Bool(jsonFlag.Name) {
				return writeJSON(w, r)
			}
			for _, s := range r.Segments {
				if !s.Scanned {
					fmt.Fprintf(w, "%s  first %d  not read (after the damage)\n", s.Name, s.FirstSeq)
					continue
				}
				fmt.Fprintf(w, "%s  seq %d..%d  %d records  data ends at %d of %d bytes\n",
					s.Name, s.FirstSeq, s.LastSeq, s.Records, s.End, s.Size)
			}
			fmt.Fprintf(w, "log: %d segments, seq %d..%d, %d records\n", len(r.Segments), r.FirstSeq, r.LastSeq, r.Records)
			printDamage(w, r.Damage)
			return nil
		},
	}
}

func printDamage(w io.Writer, d *walfile.Damage) {
	switch {
	case d == nil:
		fmt.Fprintln(w, "whole: no torn tail, no corruption")
	case d.Torn:
		fmt.Fprintf(w, "torn tail: segment %s offset %d, %d bytes from sequence %d on (%s); opening the log cuts it\n",
			d.Segment, d.Offset, d.Bytes, d.Seq, d.Reason)
	default:
		fmt.Fprintf(w, "CORRUPT: %s\n", d.Reason)
	}
}

func walVerifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "check every record; exit 0 only if the log is whole (2: torn tail, 3: corrupt)",
		Flags: []cli.Flag{dataFlag},
		Action: func(c *cli.Context) error {
			err := walfile.Verify(walDir(c), walfile.Options{})
			switch {
			case err == nil:
				fmt.Fprintln(c.App.Writer, "whole")
				return nil
			case errors.Is(err, walfile.ErrTornTail):
				return &exitError{code: exitTornTail, err: err}
			case errors.Is(err, walfile.ErrCorrupt):
				return &exitError{code: exitCorrupt, err: err}
			}
			return err
		},
	}
}

// dumpRecord is one line of `wal dump --json`.
type dumpRecord struct {
	Seq        uint64 `json:"seq"`
	Type       uint8  `json:"type"`
	Len        int    `json:"len"`
	PayloadHex string `json:"payload_hex"`
}

func walDumpCommand() *cli.Command {
	return &cli.Command{
		Name:  "dump",
		Usage: "print records FROM..TO (payload as hex); --json prints one object per line",
		Flags: []cli.Flag{dataFlag, jsonFlag,
			&cli.Uint64Flag{Name: "from", Usage: "first sequence (0: the first on disk)"},
			&cli.Uint64Flag{Name: "to", Usage: "last sequence (0: the last on disk)"},
		},
		Action: func(c *cli.Context) error {
			from, to := c.Uint64("from"), c.Uint64("to")
			if to != 0 && to < from {
				return fmt.Errorf("--to %d is before --from %d", to, from)
			}
			r, err := walfile.NewReader(walDir(c), walfile.Options{}, from)
			if err != nil {
				return err
			}
			defer r.Close()
			w := c.App.Writer
			enc := json.NewEncoder(w)
			asJSON := c.Bool(jsonFlag.Name)
			for {
				rec, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					return err
				}
				if to != 0 && rec.Seq > to {
					break
				}
				if asJSON {
					if err := enc.Encode(dumpRecord{rec.Seq, rec.Type, len(rec.Payload), hex.EncodeToString(rec.Payload)}); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(w, "%d\ttype %d\t%d bytes\t%x\n", rec.Seq, rec.Type, len(rec.Payload), rec.Payload)
				}
			}
			if d := r.TornTail(); d != nil {
				fmt.Fprintf(c.App.ErrWriter, "note: the log ends in a torn tail at segment %s offset %d (%d bytes)\n", d.Segment, d.Offset, d.Bytes)
			}
			return nil
		},
	}
}

func walRepairCommand() *cli.Command {
	return &cli.Command{
		Name:  "repair",
		Usage: "cut a torn tail; with --force also cut the log at the first corruption (later records are lost, kept in .broken files)",
		Flags: []cli.Flag{dataFlag, jsonFlag,
			&cli.BoolFlag{Name: "force", Usage: "cut at corruption too, losing every record after it"},
		},
		Action: func(c *cli.Context) error {
			res, err := walfile.Repair(walDir(c), walfile.Options{}, c.Bool("force"))
			if err != nil {
				if errors.Is(err, walfile.ErrCorrupt) {
					return &exitError{code: exitCorrupt, err: fmt.Errorf("%w (nothing changed; --force cuts the log there)", err)}
				}
				return err
			}
			w := c.App.Writer
			if c.Bool(jsonFlag.Name) {
				return writeJSON(w, res)
			}
			if res.Damage == nil {
				fmt.Fprintln(w, "whole: nothing to repair")
				return nil
			}
			printDamage(w, res.Damage)
			for _, b := range res.Broken {
				fmt.Fprintf(w, "kept in %s\n", b)
			}
			fmt.Fprintf(w, "the log now ends at sequence %d\n", res.LastSeq)
			return nil
		},
	}
}

func walRestartCommand() *cli.Command {
	return &cli.Command{
		Name: "restart",
		Usage: "when the log ends before the newest snapshot (after a forced repair, the node refuses to start), " +
			"move it aside to DIR/wal.before-N and start an empty log right after the snapshot",
		Flags: []cli.Flag{dataFlag, jsonFlag},
		Action: func(c *cli.Context) error {
			res, err := node.RestartLogAfterSnapshot(c.String(dataFlag.Name), node.Options{})
			if err != nil {
				return err
			}
			w := c.App.Writer
			if c.Bool(jsonFlag.Name) {
				return writeJSON(w, res)
			}
			fmt.Fprintf(w, "snapshot %s holds the state through sequence %d\n", res.Snapshot, res.SnapshotSeq)
			fmt.Fprintf(w, "the old log (sequences %d..%d, all in that state) is now %s\n", res.OldFirstSeq, res.OldLastSeq, res.Aside)
			fmt.Fprintf(w, "a new, empty log starts at sequence %d: the node starts from the snapshot\n", res.FirstSeq)
			return nil
		},
	}
}
