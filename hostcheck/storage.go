package hostcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	whyFS = "The log and the snapshots live here. Durability rests on fdatasync reaching stable storage and on " +
		"rename + directory fsync being atomic, which ext4 and xfs with default options provide."
	whyCache = "A volatile write cache holds acknowledged writes in device RAM. cowbook's fdatasync makes the kernel send a " +
		"cache flush, so every group commit includes the flush; that is safe as long as the flush reaches the media " +
		"(barriers on; in a VM, a host that honours flushes). A rotating disk adds a rotation to every commit."
	whyDIO = "The log writes with O_DIRECT from 4 KiB-aligned buffers at 4 KiB-aligned offsets; statx(STATX_DIOALIGN) " +
		"tells what this filesystem and device actually require."
)

// mount is one line of /proc/self/mountinfo.
type mount struct {
	major, minor uint32
	point        string
	opts         string // per-mount options
	fstype       string
	source       string
	superOpts    string // filesystem-wide options
}

func (m mount) options() []string {
	return append(strings.Split(m.opts, ","), strings.Split(m.superOpts, ",")...)
}

// parseMountinfo parses the format of proc(5), skipping malformed lines.
func parseMountinfo(s string) []mount {
	var out []mount
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+3 > len(f) {
			continue
		}
		maj, min, ok := strings.Cut(f[2], ":")
		a, err1 := strconv.ParseUint(maj, 10, 32)
		b, err2 := strconv.ParseUint(min, 10, 32)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		m := mount{major: uint32(a), minor: uint32(b), point: unescapeOctal(f[4]), opts: f[5],
			fstype: f[sep+1], source: unescapeOctal(f[sep+2])}
		if sep+3 < len(f) {
			m.superOpts = f[sep+3]
		}
		out = append(out, m)
	}
	return out
}

// unescapeOctal undoes the \040-style escapes of mountinfo.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// dataPath resolves the data directory: its absolute, symlink-free path,
// and the nearest existing directory at or above it.
func (h *host) dataPath() (abs, existing string, err error) {
	abs, err = filepath.Abs(h.o.DataDir)
	if err != nil {
		return "", "", err
	}
	existing = abs
	var rest []string
	for {
		if st, err := os.Stat(existing); err == nil && st.IsDir() {
			break
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			return abs, "", fmt.Errorf("no existing parent of %s", abs)
		}
		rest = append([]string{filepath.Base(existing)}, rest...)
		existing = parent
	}
	if real, err := filepath.EvalSymlinks(existing); err == nil {
		existing = real
	}
	return filepath.Join(append([]string{existing}, rest...)...), existing, nil
}

// dataMount finds the mount holding the data directory: among the mounts
// whose mount point is a prefix of its path, the longest (and the last
// listed, which over-mounts earlier ones), preferring one whose device
// matches the directory's.
func (h *host) dataMount() (mount, string, error) {
	abs, existing, err := h.dataPath()
	if err != nil {
		return mount{}, "", err
	}
	s, err := h.read("/proc/self/mountinfo")
	if err != nil {
		return mount{}, "", err
	}
	major, minor, devErr := h.o.sys.dev(existing)
	best, bestDev := -1, -1
	mounts := parseMountinfo(s)
	for i, m := range mounts {
		if !under(abs, m.point) {
			continue
		}
		if best < 0 || len(m.point) >= len(mounts[best].point) {
			best = i
		}
		if devErr == nil && m.major == major && m.minor == minor &&
			(bestDev < 0 || len(m.point) >= len(mounts[bestDev].point)) {
			bestDev = i
		}
	}
	if bestDev >= 0 {
		best = bestDev
	}
	if best < 0 {
		return mount{}, "", fmt.Errorf("no mount in /proc/self/mountinfo holds %s", abs)
	}
	note := abs
	if existing != abs {
		note = fmt.Sprintf("%s (not created yet; checked %s)", abs, existing)
	}
	return mounts[best], note, nil
}

func under(path, point string) bool {
	return point == "/" || path == point || strings.HasPrefix(path, point+"/")
}

func (h *host) dataFilesystem() Check {
	const id, title = "data_filesystem", "Data directory filesystem"
	m, where, err := h.dataMount()
	if err != nil {
		return unknown(id, title, whyFS, err)
	}
	c := Check{ID: id, Title: title, Why: whyFS, Status: OK,
		Value: fmt.Sprintf("%s on %s at %s, options %s; data dir %s", m.fstype, m.source, m.point, strings.Join(nonEmpty(m.options()), ","), where)}
	var warns, advice []string
	switch {
	case m.fstype == "ext4" || m.fstype == "xfs":
	case m.fstype == "tmpfs" || m.fstype == "ramfs":
		warns = append(warns, m.fstype+" is memory: everything, acknowledged orders included, is gone after a reboot")
		advice = append(advice, "put --data on ext4 or xfs on a local SSD")
	case m.fstype == "btrfs":
		warns = append(warns, "btrfs copies on write: the preallocated log is rewritten out of place and fragments, and O_DIRECT with data checksums has sharp edges")
		advice = append(advice, "use ext4 or xfs, or at least chattr +C on the empty data directory (nodatacow)")
	case m.fstype == "zfs":
		warns = append(warns, "zfs: O_DIRECT is emulated before OpenZFS 2.3 and fdatasync goes through the ZIL")
		advice = append(advice, "use ext4 or xfs for the log, or a fast SLOG device")
	case m.fstype == "overlay" || strings.HasPrefix(m.fstype, "fuse") || strings.HasPrefix(m.fstype, "nfs") ||
		m.fstype == "cifs" || m.fstype == "9p" || m.fstype == "virtiofs":
		warns = append(warns, m.fstype+": fsync, rename and O_DIRECT semantics depend on what lies beneath; durability is not what a local filesystem gives")
		advice = append(advice, "put --data on a local ext4 or xfs mount (in a container: a bind-mounted host volume)")
	default:
		warns = append(warns, m.fstype+" is not a filesystem cowbook is tested on")
		advice = append(advice, "use ext4 or xfs")
	}
	for _, o := range m.options() {
		switch {
		case o == "nobarrier" || o == "barrier=0":
			warns = append(warns, o+": cache flushes are off, so fdatasync can return while the data sits in the volatile write cache; a power cut loses acknowledged orders")
			advice = append(advice, "remove "+o+" (only a device with power-loss protection makes it safe)")
		case o == "data=writeback":
			warns = append(warns, "data=writeback: after a crash a file may show blocks that were never written (cowbook's checksums catch it, but it is a weaker base)")
			advice = append(advice, "use data=ordered (the default)")
		case o == "sync" || o == "dirsync":
			warns = append(warns, o+": every write is synchronous, which defeats group commit")
			advice = append(advice, "remove "+o+"; cowbook syncs exactly when it must")
		case o == "discard":
			warns = append(warns, "discard: deleting old segments issues synchronous TRIMs that can stall the device the log is writing to")
			advice = append(advice, "drop discard and run fstrim.timer weekly")
		case o == "ro":
			warns = append(warns, "mounted read-only")
			advice = append(advice, "mount it rw")
		case o == "errors=continue":
			warns = append(warns, "errors=continue: ext4 carries on after metadata corruption")
			advice = append(advice, "errors=remount-ro")
		}
	}
	if len(warns) > 0 {
		c.Status = Warn
		c.Value += "; " + strings.Join(warns, "; ")
		c.Advice = strings.Join(advice, "; ")
	}
	return c
}

func nonEmpty(xs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range xs {
		if x != "" && !seen[x] {
			out = append(out, x)
			seen[x] = true
		}
	}
	return out
}

func (h *host) writeCache() Check {
	const id, title = "write_cache", "Device write cache"
	m, _, err := h.dataMount()
	if err != nil {
		return unknown(id, title, whyCache, err)
	}
	if m.major == 0 {
		return Check{ID: id, Title: title, Status: Info, Why: whyCache,
			Value: fmt.Sprintf("%s has no block device (%s)", m.point, m.fstype)}
	}
	dir := h.path(fmt.Sprintf("/sys/dev/block/%d:%d", m.major, m.minor))
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return unknown(id, title, whyCache, err)
	}
	if _, err := os.Stat(filepath.Join(real, "partition")); err == nil {
		real = filepath.Dir(real) // the queue belongs to the whole disk
	}
	name := filepath.Base(real)
	wc, err := os.ReadFile(filepath.Join(real, "queue", "write_cache"))
	if err != nil {
		return unknown(id, title, whyCache, err)
	}
	mode := strings.TrimSpace(string(wc))
	c := Check{ID: id, Title: title, Why: whyCache, Status: OK}
	switch mode {
	case "write back":
		c.Value = name + ": write back (volatile cache; every fdatasync flushes it)"
	case "write through":
		c.Value = name + ": write through (no volatile cache, or one declared power-loss protected)"
	default:
		c.Value, c.Status = name+": "+mode, Unknown
	}
	if fua, err := os.ReadFile(filepath.Join(real, "queue", "fua")); err == nil && strings.TrimSpace(string(fua)) == "1" {
		c.Value += ", FUA supported"
	}
	virtual := strings.Contains(real, "/virtio") || strings.Contains(real, "/xen")
	if virtual {
		c.Value += ", virtual disk (the cache mode and rotational flag describe the guest's view; what the host does with a flush decides durability)"
	}
	if rot, err := os.ReadFile(filepath.Join(real, "queue", "rotational")); err == nil && strings.TrimSpace(string(rot)) == "1" {
		c.Value += ", rotational"
		if !virtual {
			c.Status = Warn
			c.Advice = "put the log on an SSD or NVMe device: a rotating disk costs milliseconds per commit"
		}
	}
	for _, o := range m.options() {
		if mode == "write back" && (o == "nobarrier" || o == "barrier=0") {
			c.Status = Warn
			c.Value += ", and flushes are disabled by " + o
			c.Advice = "remove " + o + " from the mount options"
		}
	}
	return c
}

func (h *host) directIO() Check {
	const id, title = "direct_io", "O_DIRECT alignment"
	_, existing, err := h.dataPath()
	if err != nil {
		return unknown(id, title, whyDIO, err)
	}
	mem, off, ok, err := h.o.sys.dioAlign(existing)
	if err != nil {
		return unknown(id, title, whyDIO, fmt.Errorf("statx(STATX_DIOALIGN) in %s: %w", existing, err))
	}
	c := Check{ID: id, Title: title, Why: whyDIO}
	switch {
	case !ok:
		c.Status = Unknown
		c.Value = "statx does not report STATX_DIOALIGN here (kernel before 6.1, or a filesystem that does not say)"
	case mem == 0 || off == 0:
		c.Status = Warn
		c.Value = "O_DIRECT is not supported on this filesystem"
		c.Advice = "put --data on ext4 or xfs"
	case off > 4096 || mem > 4096:
		c.Status = Warn
		c.Value = fmt.Sprintf("memory %d B, offset %d B: larger than the log's 4 KiB unit", mem, off)
		c.Advice = "use a device with 512 B or 4 KiB logical blocks"
	default:
		c.Status = OK
		c.Value = fmt.Sprintf("memory %d B, offset %d B (the log's 4 KiB buffers and blocks satisfy it)", mem, off)
	}
	return c
}
