package reload

import (
	"fmt"
	"os"
)

// stamp identifies one version of a file without reading it.
type stamp struct {
	size, mtime, ctime int64
	dev, ino           uint64
}

func statFile(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, fmt.Errorf("reload: %w", err)
	}
	return stampOf(fi), nil
}

func stampOf(fi os.FileInfo) stamp {
	dev, ino, ctime := fileID(fi)
	return stamp{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ctime: ctime, dev: dev, ino: ino}
}
