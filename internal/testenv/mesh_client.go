package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// Clients as a pod's app would be: they dial peers' pod IPs from inside the
// pod's namespace, with no proxy settings; init-net's rules do the rest.

const meshClientTimeout = 5 * time.Second

// HTTPReply is an HTTP response as a client in a pod received it.
type HTTPReply struct {
	Status int
	Header http.Header
	Body   string
}

// HTTP sends one HTTP/1.1 request from inside the pod to addr on a new
// connection (Connection: close) and reads the reply. The target goes on the
// wire exactly as given ("//x", "/a/../b"), unlike with net/http's client.
func (p *MeshPod) HTTP(method, addr, target, body string) (*HTTPReply, error) {
	c, err := p.Dial("tcp", addr, meshClientTimeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(meshClientTimeout))
	req := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		method, target, addr, len(body), body)
	if _, err := io.WriteString(c, req); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return &HTTPReply{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}, err
}

// HTTP2 sends one HTTP/2 request with prior knowledge (h2c, no upgrade)
// from inside the pod to addr, on a connection of its own.
func (p *MeshPod) HTTP2(method, addr, target, body string) (*HTTPReply, error) {
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protocols, DialContext: p.dialContext}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(method, "http://"+addr+target, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Transport: tr, Timeout: meshClientTimeout}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return &HTTPReply{Status: resp.StatusCode, Header: resp.Header, Body: string(b)}, err
}

// RoundTrip dials addr from inside the pod, sends payload, half-closes and
// returns everything the server sent back before closing.
func (p *MeshPod) RoundTrip(addr string, payload []byte) ([]byte, error) {
	c, err := p.Dial("tcp", addr, meshClientTimeout)
	if err != nil {
		return nil, err
	}
	return roundTripOn(c, payload, meshClientTimeout)
}

// IsReset reports whether err is a connection reset: how hopseal refuses a
// connection, unlike a clean close (io.EOF).
func IsReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// IsRefused reports whether err is a refused connection attempt.
func IsRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// dialContext dials from inside the pod, for an http.Transport.
func (p *MeshPod) dialContext(_ context.Context, network, addr string) (net.Conn, error) {
	return p.Dial(network, addr, meshClientTimeout)
}
