// Package netns runs Go code inside a network namespace, for the test
// harnesses and the benchmark that build pods as namespaces.
package netns

import (
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs fn on an OS thread moved into the network namespace at path (such
// as /run/netns/NAME), then moves the thread back. Sockets fn opens stay in
// the namespace; goroutines it starts do not.
func Do(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		err := errors.New("netns: function exited without returning (t.Fatal or runtime.Goexit inside netns.Do): return an error instead")
		defer func() { errc <- err }()
		runtime.LockOSThread()
		restore, serr := enter(path)
		if serr != nil {
			runtime.UnlockOSThread()
			err = fmt.Errorf("netns: enter %s: %w", path, serr)
			return
		}
		defer func() {
			if rerr := restore(); rerr != nil {
				// The thread stays locked: Go ends it with this goroutine.
				err = errors.Join(err, fmt.Errorf("netns: leave %s: %w", path, rerr))
				return
			}
			runtime.UnlockOSThread()
		}()
		err = fn()
	}()
	return <-errc
}

// enter moves the calling (locked) thread into the namespace at path and
// returns how to move it back.
func enter(path string) (restore func() error, err error) {
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return nil, err
	}
	target, err := os.Open(path)
	if err != nil {
		orig.Close()
		return nil, err
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		orig.Close()
		return nil, err
	}
	return func() error {
		defer orig.Close()
		return unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET)
	}, nil
}
