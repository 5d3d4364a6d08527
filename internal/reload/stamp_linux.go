package reload

import (
	"os"
	"syscall"
)

// fileID returns what tells two versions of a path apart beyond size and
// mtime: device and inode (a rename-replace) and ctime (an in-place write
// that reset mtime, as cp -p or rsync -t do).
func fileID(fi os.FileInfo) (dev, ino uint64, ctime int64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Dev, st.Ino, st.Ctim.Nano()
	}
	return 0, 0, 0
}
