package hostcheck

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Status grades one check.
type Status string

// The statuses, from best to least known.
const (
	// OK: the setting suits a low-latency, durable deployment.
	OK Status = "ok"
	// Info: a fact worth knowing that needs no change by itself.
	Info Status = "info"
	// Warn: the setting costs latency or durability; Advice says what to set.
	Warn Status = "warn"
	// Unknown: the value could not be read; Value says why.
	Unknown Status = "unknown"
)

// Check is the result of one inspection.
type Check struct {
	ID     string `json:"id"`
	Title  string `json:"title"`
	Status Status `json:"status"`
	Value  string `json:"value"`
	Why    string `json:"why"`
	Advice string `json:"advice,omitempty"`
}

// Report is the result of Run.
type Report struct {
	Root    string  `json:"root"`
	DataDir string  `json:"data_dir"`
	Checks  []Check `json:"checks"`
}

// Count returns how many checks have status s.
func (r Report) Count(s Status) int {
	n := 0
	for _, c := range r.Checks {
		if c.Status == s {
			n++
		}
	}
	return n
}

// Find returns the check with the given id.
func (r Report) Find(id string) (Check, bool) {
	for _, c := range r.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// Options says what to inspect. The zero value inspects the running host
// with the data directory "./data".
type Options struct {
	// Root is where /proc and /sys are read from; "" means "/".
	Root string
	// DataDir is the directory whose filesystem, device and O_DIRECT
	// alignment are checked; "" means "./data". It is a path on the
	// running host (statx needs the real file), and need not exist yet:
	// its nearest existing parent is checked then.
	DataDir string

	// sys answers the syscall-based questions; nil means the real host.
	sys prober
}

// EnsureDefaults fills in the documented defaults.
func (o *Options) EnsureDefaults() {
	if o.Root == "" {
		o.Root = "/"
	}
	if o.DataDir == "" {
		o.DataDir = "./data"
	}
	if o.sys == nil {
		o.sys = hostProber{}
	}
}

// prober answers what only syscalls can tell.
type prober interface {
	// rlimit returns the soft limit of a resource (unix.RLIMIT_*).
	rlimit(resource int) (uint64, error)
	// capIPCLock says whether the process may lock unlimited memory.
	capIPCLock() bool
	// dev returns the device number of the filesystem holding path.
	dev(path string) (major, minor uint32, err error)
	// dioAlign returns the O_DIRECT memory and offset alignment of a
	// regular file in dir; ok is false when the kernel does not say.
	dioAlign(dir string) (mem, off uint32, ok bool, err error)
	// counters says whether hardware counters work, and if not why.
	counters() (ok bool, reason string)
}

// Run inspects the host. It never fails: what cannot be read is reported
// as Unknown.
func Run(o Options) Report {
	o.EnsureDefaults()
	h := &host{o: o}
	r := Report{Root: o.Root, DataDir: o.DataDir}
	for _, check := range []func() Check{
		h.thpEnabled, h.thpDefrag, h.overcommit, h.swap,
		h.governor, h.isolation, h.numa, h.clocksource,
		h.dataFilesystem, h.writeCache, h.directIO,
		h.memlock, h.core,
		h.perfParanoid, h.hwCounters,
	} {
		r.Checks = append(r.Checks, check())
	}
	return r
}

type host struct {
	o Options
}

// path maps an absolute host path under Root.
func (h *host) path(p string) string { return filepath.Join(h.o.Root, p) }

// read returns the trimmed contents of a file under Root.
func (h *host) read(p string) (string, error) {
	b, err := os.ReadFile(h.path(p))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// unknown builds the Unknown check for a file that could not be read.
func unknown(id, title, why string, err error) Check {
	reason := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			reason = "cannot read " + pe.Path + ": no such file (kernel without this feature, or not Linux)"
		case errors.Is(err, fs.ErrPermission):
			reason = "cannot read " + pe.Path + ": permission denied"
		}
	}
	return Check{ID: id, Title: title, Status: Unknown, Value: reason, Why: why}
}

// bracketed returns the selected word of a sysfs choice list such as
// "always [madvise] never".
func bracketed(s string) (string, bool) {
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return "", false
	}
	return s[i+1 : j], true
}

// WriteText prints the report for a person: one block per check.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cowbook doctor: host check for low-latency, durable operation (data dir %s)\n\n", r.DataDir)
	for _, c := range r.Checks {
		wrap(&b, fmt.Sprintf("%-7s ", strings.ToUpper(string(c.Status))), c.Title+": ", c.Value)
		wrap(&b, "", "why: ", c.Why)
		if c.Advice != "" {
			wrap(&b, "", "set: ", c.Advice)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%d ok, %d info, %d warn, %d unknown\n", r.Count(OK), r.Count(Info), r.Count(Warn), r.Count(Unknown))
	_, err := io.WriteString(w, b.String())
	return err
}

// wrap writes lead (or the indent under the status column), prefix and
// text folded at about 100 columns, continuation lines aligned after
// prefix (at most 12 columns of it).
func wrap(b *strings.Builder, lead, prefix, text string) {
	const indent, width = "        ", 100
	if lead == "" {
		lead = indent
	}
	hang := indent + strings.Repeat(" ", min(len(prefix), 5))
	line := lead + prefix
	start := len(line)
	for _, w := range strings.Fields(text) {
		switch {
		case len(line) > start && len(line)+1+len(w) > width:
			b.WriteString(line + "\n")
			line, start = hang+w, len(hang)
			continue
		case len(line) > start:
			line += " "
		}
		line += w
	}
	b.WriteString(line + "\n")
}
