//go:build !linux

package proxy

import (
	"context"
	"errors"
	"net"
)

// Waker is Linux-only; elsewhere flows wait with a goroutine each.
type Waker struct{}

// ErrWakerClosed is Park's error once Run has ended.
var ErrWakerClosed = errors.New("proxy: waker closed")

var errNoWaker = errors.New("proxy: parking sockets needs Linux")

// NewWaker fails outside Linux.
func NewWaker() (*Waker, error) { return nil, errNoWaker }

// Park fails outside Linux.
func (w *Waker) Park(net.Conn, func()) (func() bool, error) { return nil, errNoWaker }

// Run returns at once outside Linux.
func (w *Waker) Run(context.Context) error { return nil }
