package perf

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
)

// Profiles names the profile files a benchmark writes; an empty name
// writes nothing. The files are the standard Go formats: read them with
// `go tool pprof` and `go tool trace` (docs/profiling.md).
type Profiles struct {
	// CPU is the CPU profile, sampled at 100 Hz for the whole run.
	CPU string
	// Mem is the heap profile written when the run stops, after a GC;
	// it holds both in-use and allocated space (-sample_index=alloc_space).
	Mem string
	// Trace is the runtime execution trace (scheduler, GC, syscalls).
	Trace string
}

// StartProfiles starts the CPU profile and the execution trace that p asks
// for and returns stop, which ends them and writes the heap profile.
// On error nothing is left running.
func StartProfiles(p Profiles) (stop func() error, err error) {
	var closers []func() error
	cleanup := func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(errs...)
	}
	if p.CPU != "" {
		f, err := os.Create(p.CPU)
		if err != nil {
			return nil, fmt.Errorf("perf: cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("perf: cpu profile %s: %w", p.CPU, err)
		}
		closers = append(closers, func() error {
			pprof.StopCPUProfile()
			return closeFile(f, "cpu profile")
		})
	}
	if p.Trace != "" {
		f, err := os.Create(p.Trace)
		if err != nil {
			_ = cleanup()
			return nil, fmt.Errorf("perf: trace: %w", err)
		}
		if err := trace.Start(f); err != nil {
			_ = f.Close()
			_ = cleanup()
			return nil, fmt.Errorf("perf: trace %s: %w", p.Trace, err)
		}
		closers = append(closers, func() error {
			trace.Stop()
			return closeFile(f, "trace")
		})
	}
	if p.Mem != "" {
		// Create the file now so a bad path fails before the run, not after.
		f, err := os.Create(p.Mem)
		if err != nil {
			_ = cleanup()
			return nil, fmt.Errorf("perf: memory profile: %w", err)
		}
		closers = append(closers, func() error {
			runtime.GC() // make the in-use figures current
			if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
				_ = f.Close()
				return fmt.Errorf("perf: memory profile %s: %w", p.Mem, err)
			}
			return closeFile(f, "memory profile")
		})
	}
	done := false
	return func() error {
		if done {
			return nil
		}
		done = true
		return cleanup()
	}, nil
}

func closeFile(f *os.File, what string) error {
	if err := f.Close(); err != nil {
		return fmt.Errorf("perf: %s %s: %w", what, f.Name(), err)
	}
	return nil
}
