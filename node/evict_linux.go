package node

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// evictFiles drops the page cache of every file in dir (clean pages only;
// the files are durable), as if they had not been read since they were
// written: what a log written with O_DIRECT is like after kill -9.
func evictFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		err = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
