package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/cowbook/cowbook/cow"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/node"
	"github.com/urfave/cli/v2"
)

// pidFileName is where serve records its process id in the data
// directory, for `cowbook snapshot now`.
const pidFileName = "serve.pid"

// defaultEngineSpin is how long serve's idle engine thread polls before it
// parks. Parked, it pays a thread wake-up (tens of µs on a VM) for every
// request that finds it asleep, which at a moderate rate is most of them;
// polling costs at most one CPU while traffic flows and nothing once it
// stops. See BENCHMARKS.md (## node).
const defaultEngineSpin = 200 * time.Microsecond

var addrFlag = &cli.StringFlag{Name: "addr", Value: gateway.DefaultAddr, Usage: "node `ADDR`ess"}

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run a durable node: recover DIR, then accept orders on ADDR",
		Flags: append([]cli.Flag{
			dataFlag,
			&cli.StringFlag{Name: "listen", Value: gateway.DefaultAddr, Usage: "gateway `ADDR`ess"},
			&cli.StringFlag{Name: "metrics", Usage: "serve Prometheus metrics and /status.json on loopback `ADDR` (off by default)"},
			&cli.Uint64Flag{Name: "snapshot-every", Value: node.DefaultSnapshotEvery, Usage: "snapshot after `N` commands"},
			&cli.DurationFlag{Name: "engine-spin", Value: defaultEngineSpin, Usage: "let the idle engine thread poll for requests this long before it parks: no thread wake-up on a request while traffic flows, at the cost of up to one CPU then (none when idle); 0 on a machine whose CPUs other work needs"},
			&cli.DurationFlag{Name: "snapshot-interval", Value: node.DefaultSnapshotInterval, Usage: "snapshot at least this often when commands arrived"},
			&cli.IntFlag{Name: "snapshots-kept", Value: node.DefaultSnapshotsKept, Usage: "snapshots kept on disk"},
			&cli.BoolFlag{Name: "buffered", Usage: "log without O_DIRECT (filesystems that lack it, such as tmpfs); still fdatasync'd"},
			&cli.StringFlag{Name: "snapshot-mode", Value: "fork", Usage: "`fork` (copy-on-write through a helper process), stw (stop the world, same helper) or inprocess (copy, write in this process)"},
		}, placementFlags()...),
		Action: func(c *cli.Context) error {
			place, err := placementOptions(c)
			if err != nil {
				return err
			}
			if err := place.LockIfRequested(); err != nil {
				return err
			}
			dir := c.String(dataFlag.Name)
			if addr := c.String("metrics"); addr != "" {
				if err := checkLoopback(addr); err != nil {
					return err
				}
			}
			logger := log.New(c.App.ErrWriter, "", log.LstdFlags|log.Lmicroseconds)
			l, err := net.Listen("tcp", c.String("listen"))
			if err != nil {
				return err
			}
			opts := node.Options{
				SnapshotEvery:    c.Uint64("snapshot-every"),
				EngineSpin:       c.Duration("engine-spin"),
				SnapshotInterval: c.Duration("snapshot-interval"),
				SnapshotsKept:    c.Int("snapshots-kept"),
				Listener:         l,
				Placement:        place,
				Logf:             logger.Printf,
			}
			opts.Log.Buffered = c.Bool("buffered")
			switch mode := c.String("snapshot-mode"); mode {
			case "fork", "stw":
				co := cow.Options{
					HelperArgs:       cowHelperArgs(filepath.Join(dir, "snap"), opts.SnapshotsKept, "mmapsnap", place.Mlock),
					HelperStderr:     c.App.ErrWriter,
					RestoreHugePages: mode == "fork",
					PinHelper:        place.PinWriter,
					HelperCPU:        place.WriterCPU,
				}
				if mode == "stw" {
					co.Mode = cow.ModeStopTheWorld
				}
				snaps, err := node.NewCowSnapshotter(co)
				if err != nil {
					l.Close()
					return fmt.Errorf("starting the snapshot helper: %w", err)
				}
				opts.Snapshotter = snaps
			case "inprocess":
			default:
				l.Close()
				return fmt.Errorf("--snapshot-mode %q: want fork, stw or inprocess", mode)
			}
			opts.Gateway.Logf = logger.Printf
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			logger.Printf("cowbook: recovering %s, listening on %s", dir, l.Addr())
			n, err := node.Open(dir, opts)
			if err != nil {
				l.Close()
				return err
			}
			pidFile := filepath.Join(dir, pidFileName)
			_ = os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
			defer os.Remove(pidFile)
			if addr := c.String("metrics"); addr != "" {
				stop, err := serveMetrics(addr, n)
				if err != nil {
					n.Close()
					return err
				}
				defer stop()
			}
			logger.Printf("cowbook: ready at seq %d on %s", n.Status().Seq, l.Addr())

			ctx, cancel := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer cancel()
			usr1 := make(chan os.Signal, 1)
			signal.Notify(usr1, syscall.SIGUSR1)
			defer signal.Stop(usr1)
			go func() {
				for {
					select {
					case <-usr1:
						if err := n.Snapshot(ctx); err != nil {
							logger.Printf("cowbook: snapshot on request: %v", err)
						}
					case <-ctx.Done():
						return
					}
				}
			}()
			err = n.Run(ctx)
			if err != nil {
				logger.Printf("cowbook: stopped: %v", err)
				return &exitError{code: 2, err: err}
			}
			logger.Printf("cowbook: clean shutdown at seq %d", n.Status().Seq)
			return nil
		},
	}
}

// serveMetrics serves /metrics (Prometheus text) and /status.json on a
// loopback address.
func serveMetrics(addr string, n *node.Node) (stop func(), err error) {
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_ = n.WriteMetrics(w)
	})
	mux.HandleFunc("/status.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(n.Figures())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("cowbook: metrics: %v", err)
		}
	}()
	return func() { _ = srv.Close() }, nil
}

// checkLoopback refuses a metrics address that is not on loopback: the
// endpoint has no authentication.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--metrics %s: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--metrics %s: only loopback addresses are allowed", addr)
	}
	return nil
}
