package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

// The app behind every path is this program run with -serve-app, as its own
// process (inside the server pod in the transparent topology). It speaks
// HTTP/1.1, answering every request with a fixed 1 KiB body, so hopseal's
// transparent mode sees HTTP and takes its L7 path. A connection whose
// first byte is modeBulk is a bulk stream instead: the app counts what it
// receives until the client half-closes and replies with the count. The
// byte is not an HTTP token character, so protocol detection decides at once.
const (
	modeBulk = 0x01
	respSize = 1024
)

var (
	// httpRequest is what the load generator sends: a small keep-alive GET.
	httpRequest = []byte("GET /bench/item?id=1 HTTP/1.1\r\nHost: app\r\nUser-Agent: hopseal-bench\r\nAccept: */*\r\n\r\n")
	// httpClose asks for a new connection per request (handshake rate).
	httpClose = []byte("GET /bench/item?id=1 HTTP/1.1\r\nHost: app\r\nUser-Agent: hopseal-bench\r\nConnection: close\r\n\r\n")
	respBody  = bytes.Repeat([]byte("x"), respSize)
)

func response(close bool) []byte {
	h := "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n"
	if close {
		h += "Connection: close\r\n"
	}
	return append([]byte(h+"\r\n"), respBody...)
}

// serveApp listens on args[0], prints "app listening <addr>" and serves
// until SIGTERM or SIGINT; given a certificate and key file after the
// address, it serves over TLS (appListener, for the gateway topology).
func serveApp(args []string) error {
	ln, err := appListener(args)
	if err != nil {
		return err
	}
	fmt.Printf("app listening %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	context.AfterFunc(ctx, func() { ln.Close() })
	keep, closing := response(false), response(true)
	var wg sync.WaitGroup
	for {
		c, err := ln.Accept()
		if err != nil {
			wg.Wait()
			return nil
		}
		wg.Go(func() {
			defer c.Close()
			serveConn(c, keep, closing)
		})
	}
}

func serveConn(c net.Conn, keep, closing []byte) {
	br := bufio.NewReaderSize(c, 4096)
	first, err := br.Peek(1)
	if err != nil {
		return
	}
	if first[0] == modeBulk {
		br.Discard(1)
		countBulk(c, br)
		return
	}
	for {
		close, err := readHead(br)
		if err != nil {
			return
		}
		resp := keep
		if close {
			resp = closing
		}
		if _, err := c.Write(resp); err != nil || close {
			return
		}
	}
}

// countBulk acknowledges the mode, then counts until EOF.
func countBulk(c net.Conn, br *bufio.Reader) {
	if _, err := c.Write([]byte{modeBulk}); err != nil {
		return
	}
	n, _ := io.Copy(io.Discard, br)
	c.Write(binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// readHead reads a request head (requests carry no body) and reports
// whether it asks to close the connection.
func readHead(br *bufio.Reader) (close bool, err error) {
	for first := true; ; first = false {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return false, err
		}
		if len(line) <= 2 {
			if first {
				continue // a stray CRLF between requests
			}
			return close, nil
		}
		if k, v, ok := strings.Cut(string(line), ":"); ok && strings.EqualFold(k, "connection") {
			close = strings.EqualFold(strings.TrimSpace(v), "close")
		}
	}
}

// httpConn is the load generator's side of a keep-alive HTTP connection.
type httpConn struct {
	net.Conn
	br *bufio.Reader
}

func newHTTPConn(c net.Conn) *httpConn { return &httpConn{Conn: c, br: bufio.NewReaderSize(c, 4096)} }

// roundTrip sends req and reads the whole response, which must be a 200
// with the app's body (proxies may rewrite the head).
func (h *httpConn) roundTrip(req []byte) error {
	if _, err := h.Write(req); err != nil {
		return err
	}
	status, err := h.br.ReadSlice('\n')
	if err != nil {
		return fmt.Errorf("read the response: %w", err)
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("response %q; want HTTP/1.1 200", bytes.TrimSpace(status))
	}
	length := -1
	for {
		line, err := h.br.ReadSlice('\n')
		if err != nil {
			return fmt.Errorf("read the response head: %w", err)
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := strings.Cut(string(line), ":"); ok && strings.EqualFold(k, "content-length") {
			fmt.Sscan(strings.TrimSpace(v), &length)
		}
	}
	if length != respSize {
		return fmt.Errorf("response body of %d bytes; want %d", length, respSize)
	}
	_, err = h.br.Discard(length)
	return err
}
