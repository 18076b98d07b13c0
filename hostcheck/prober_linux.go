package hostcheck

import (
	"errors"

	"github.com/cowbook/cowbook/perf"
	"golang.org/x/sys/unix"
)

// hostProber asks the running kernel.
type hostProber struct{}

func (hostProber) rlimit(resource int) (uint64, error) {
	var l unix.Rlimit
	if err := unix.Getrlimit(resource, &l); err != nil {
		return 0, err
	}
	return l.Cur, nil
}

func (hostProber) capIPCLock() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_IPC_LOCK/32].Effective&(1<<(unix.CAP_IPC_LOCK%32)) != 0
}

func (hostProber) dev(path string) (uint32, uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, err
	}
	return unix.Major(st.Dev), unix.Minor(st.Dev), nil
}

// dioAlign asks statx about an unnamed temporary file in dir (O_TMPFILE
// leaves no trace), since filesystems report the alignment only for
// regular files; it falls back to dir itself.
func (hostProber) dioAlign(dir string) (mem, off uint32, ok bool, err error) {
	var st unix.Statx_t
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err == nil {
		defer unix.Close(fd)
		err = unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &st)
	} else {
		err = unix.Statx(unix.AT_FDCWD, dir, 0, unix.STATX_DIOALIGN, &st)
	}
	if errors.Is(err, unix.ENOSYS) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	if st.Mask&unix.STATX_DIOALIGN == 0 {
		return 0, 0, false, nil
	}
	return st.Dio_mem_align, st.Dio_offset_align, true, nil
}

func (hostProber) counters() (bool, string) {
	c, err := perf.StartCounters()
	r := c.Stop()
	if err != nil {
		return false, r.Reason
	}
	return r.Supported, r.Reason
}
