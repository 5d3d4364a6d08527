package sniff

import "golang.org/x/sys/unix"

// peerClosed reports whether the peer has shut down its sending side, even
// while bytes it sent are still unread.
func peerClosed(fd uintptr) bool {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
	n, err := unix.Poll(fds, 0)
	return err == nil && n == 1 && fds[0].Revents&(unix.POLLRDHUP|unix.POLLHUP) != 0
}
