package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/urfave/cli/v2"
)

// snapshotCommand groups the snapshot file tools. Snapshots live in
// <data>/snap.
func snapshotCommand() *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "list, inspect and verify snapshot files",
		Subcommands: []*cli.Command{
			snapshotLsCommand(),
			snapshotInspectCommand(),
			snapshotVerifyCommand(),
			snapshotNowCommand(),
			snapshotDumpCommand(),
		},
	}
}

func snapDir(c *cli.Context) string { return filepath.Join(c.String(dataFlag.Name), "snap") }

// snapshotJSON is one snapshot in --json output.
type snapshotJSON struct {
	mmapsnap.Info
	Ratio float64 `json:"ratio"`
	Whole *bool   `json:"whole,omitempty"`
	Error string  `json:"error,omitempty"`
}

func toJSON(in mmapsnap.Info, err error) snapshotJSON {
	j := snapshotJSON{Info: in, Ratio: in.Ratio()}
	if err == nil {
		err = in.Err
	}
	if err != nil {
		j.Error = err.Error()
	}
	return j
}

func snapshotLsCommand() *cli.Command {
	return &cli.Command{
		Name:  "ls",
		Usage: "list snapshots newest first (header, index and footer checked; blocks not read)",
		Flags: []cli.Flag{dataFlag, jsonFlag},
		Action: func(c *cli.Context) error {
			dir := snapDir(c)
			list, err := mmapsnap.List(dir, mmapsnap.Options{})
			if err != nil {
				return err
			}
			if c.Bool(jsonFlag.Name) {
				out := struct {
					Dir       string         `json:"dir"`
					Snapshots []snapshotJSON `json:"snapshots"`
				}{Dir: dir, Snapshots: []snapshotJSON{}}
				for _, in := range list {
					out.Snapshots = append(out.Snapshots, toJSON(in, nil))
				}
				return writeJSON(c.App.Writer, out)
			}
			if len(list) == 0 {
				fmt.Fprintf(c.App.Writer, "no snapshots in %s\n", dir)
				return nil
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "SEQ\tARENA BYTES\tFILE BYTES\tRATIO\tBLOCKS\t FILE\t")
			for _, in := range list {
				if in.Err != nil {
					fmt.Fprintf(tw, "%d\t-\t%d\t-\t-\t %s (%v)\t\n", in.Seq, in.FileBytes, filepath.Base(in.Path), in.Err)
					continue
				}
				fmt.Fprintf(tw, "%d\t%d\t%d\t%.2f\t%d\t %s\t\n", in.Seq, in.ArenaSize, in.FileBytes, in.Ratio(), in.Blocks, filepath.Base(in.Path))
			}
			return tw.Flush()
		},
	}
}

func snapshotInspectCommand() *cli.Command {
	blocksFlag := &cli.BoolFlag{Name: "blocks", Usage: "list every block (always in --json)"}
	return &cli.Command{
		Name:      "inspect",
		Usage:     "describe a snapshot file: header, sequence, sizes, ratio, blocks (blocks are not decompressed)",
		ArgsUsage: "FILE",
		Flags:     []cli.Flag{jsonFlag, blocksFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("snapshot inspect: want one FILE, got %d arguments", c.NArg())
			}
			in, blocks, err := mmapsnap.Inspect(c.Args().First(), mmapsnap.Options{})
			if err != nil {
				return err
			}
			if c.Bool(jsonFlag.Name) {
				return writeJSON(c.App.Writer, struct {
					snapshotJSON
					BlockList []mmapsnap.Block `json:"block_list"`
				}{toJSON(in, nil), blocks})
			}
			w := c.App.Writer
			fmt.Fprintf(w, "file            %s\n", in.Path)
			fmt.Fprintf(w, "format          version %d, %s, blocks of %d bytes\n", in.FormatVersion, in.Compression, in.BlockSize)
			fmt.Fprintf(w, "seq             %d\n", in.Seq)
			fmt.Fprintf(w, "layout version  %d\n", in.LayoutVersion)
			fmt.Fprintf(w, "state checksum  %016x\n", in.StateChecksum)
			fmt.Fprintf(w, "arena bytes     %d\n", in.ArenaSize)
			fmt.Fprintf(w, "file bytes      %d (ratio %.2f)\n", in.FileBytes, in.Ratio())
			fmt.Fprintf(w, "blocks          %d (%d stored raw)\n", in.Blocks, in.RawBlocks)
			fmt.Fprintf(w, "footer crc      %08x\n", in.FooterCRC)
			if c.Bool(blocksFlag.Name) {
				printBlocks(w, blocks)
			}
			return nil
		},
	}
}

func printBlocks(w io.Writer, blocks []mmapsnap.Block) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "BLOCK\tOFFSET\tSTORED\tRAW\tKIND\tSTORED CRC32C\tRAW CHECKSUM\t")
	for i, b := range blocks {
		kind := "lz4"
		if b.Raw {
			kind = "raw"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%08x\t%x\t\n", i, b.Offset, b.StoredBytes, b.RawBytes, kind, b.StoredCRC, b.RawCRC)
	}
	tw.Flush()
}

// errNotWhole is the exit status 2 answer of `snapshot verify`.
var errNotWhole = errors.New("not every snapshot is whole")

func snapshotVerifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "decompress and check every block of FILE, or of every snapshot in --data DIR",
		Description: "Exit status 0 only if every snapshot checked is whole; 2 if one is not (or DIR holds none);\n" +
			"1 for any other error.",
		ArgsUsage: "FILE | --data DIR",
		Flags:     []cli.Flag{dataFlag, jsonFlag},
		Action: func(c *cli.Context) error {
			var paths []string
			switch {
			case c.NArg() == 1 && !c.IsSet(dataFlag.Name):
				paths = []string{c.Args().First()}
			case c.NArg() == 0:
				list, err := mmapsnap.List(snapDir(c), mmapsnap.Options{})
				if err != nil {
					return err
				}
				for _, in := range list {
					paths = append(paths, in.Path)
				}
			default:
				return fmt.Errorf("snapshot verify: give one FILE or --data DIR")
			}
			results := []snapshotJSON{}
			bad := 0
			for _, p := range paths {
				in, err := mmapsnap.Verify(p, mmapsnap.Options{})
				if err != nil {
					in.Path = p
					if !mmapsnap.IsCorrupt(err) {
						return err // an I/O error answers nothing
					}
					bad++
				}
				whole := err == nil
				j := toJSON(in, err)
				j.Whole = &whole
				results = append(results, j)
			}
			if c.Bool(jsonFlag.Name) {
				if err := writeJSON(c.App.Writer, struct {
					Snapshots []snapshotJSON `json:"snapshots"`
					Whole     bool           `json:"whole"`
				}{results, bad == 0 && len(results) > 0}); err != nil {
					return err
				}
			} else {
				for _, r := range results {
					if *r.Whole {
						fmt.Fprintf(c.App.Writer, "ok       %s (seq %d, %d blocks)\n", r.Path, r.Seq, r.Blocks)
					} else {
						fmt.Fprintf(c.App.Writer, "CORRUPT  %s: %s\n", r.Path, r.Error)
					}
				}
			}
			switch {
			case len(results) == 0:
				return &exitError{code: 2, err: fmt.Errorf("no snapshot in %s", snapDir(c))}
			case bad > 0:
				return &exitError{code: 2, err: fmt.Errorf("%w: %d of %d corrupt", errNotWhole, bad, len(results))}
			}
			return nil
		},
	}
}
