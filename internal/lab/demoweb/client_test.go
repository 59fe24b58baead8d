package demoweb

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingListener records the peers of the connections it accepts.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	peers []string
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.peers = append(l.peers, c.RemoteAddr().String())
		l.mu.Unlock()
	}
	return c, err
}

func (l *countingListener) accepted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.peers...)
}

// backend serves the demo service on addr until stop is called.
func backend(t *testing.T, addr string) (ln *countingListener, stop func()) {
	t.Helper()
	var l net.Listener
	var err error
	for range 50 { // the port of a backend just stopped may linger briefly
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ln = &countingListener{Listener: l}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Config{Mode: ModeGood, Version: "1.0.0"}, io.Discard) }()
	return ln, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("backend: %v", err)
		}
	}
}

// waitUntil polls cond until it holds; it fails the test after a long
// deadline that only a broken client reaches.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClientKeepsOneConnectionAndReconnects checks that the client calls
// its backend over one kept-alive connection from the local address it was
// given, and that it reconnects after the backend went away and came back.
func TestClientKeepsOneConnectionAndReconnects(t *testing.T) {
	ln, stop := backend(t, "127.0.0.1:0")
	addr := ln.Addr().String()
	var log strings.Builder
	var logMu sync.Mutex
	c, err := NewClient(ClientConfig{Backend: "http://" + addr, LocalAddress: "127.0.0.2", Interval: 10 * time.Millisecond, Version: "1.0.0"},
		writerFunc(func(b []byte) (int, error) { logMu.Lock(); defer logMu.Unlock(); return log.Write(b) }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	waitUntil(t, "five answered calls", func() bool { ok, _ := c.Counts(); return ok >= 5 })
	peers := ln.accepted()
	if len(peers) != 1 {
		t.Errorf("the backend accepted %d connections for 5 calls (%v); want one kept-alive connection", len(peers), peers)
	}
	if host, _, _ := net.SplitHostPort(peers[0]); host != "127.0.0.2" {
		t.Errorf("the connection came from %s; want the local address 127.0.0.2", peers[0])
	}

	stop()
	_, failedBefore := c.Counts()
	waitUntil(t, "a failed call while the backend is down", func() bool { _, f := c.Counts(); return f > failedBefore })
	ln2, stop2 := backend(t, addr)
	defer stop2()
	okBefore, _ := c.Counts()
	waitUntil(t, "a call answered by the new backend", func() bool { ok, _ := c.Counts(); return ok > okBefore+2 })
	if n := len(ln2.accepted()); n != 1 {
		t.Errorf("the new backend accepted %d connections; want one", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	logMu.Lock()
	defer logMu.Unlock()
	for _, want := range []string{"calling http://" + addr + " every 10ms from 127.0.0.2", "does not answer", "answers"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the client's log lacks %q:\n%s", want, log.String())
		}
	}
	if strings.Count(log.String(), "does not answer") > 1 {
		t.Errorf("the client logs every failed call, not the change:\n%s", log.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func TestClientConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		cfg  ClientConfig
		want string
	}{
		{ClientConfig{Backend: "127.0.0.1:8080", Interval: time.Second}, "want http://HOST:PORT"},
		{ClientConfig{Backend: "http://127.0.0.1", Interval: time.Second}, "want http://HOST:PORT"},
		{ClientConfig{Backend: "http://127.0.0.1:8080", Interval: 0}, "--interval"},
		{ClientConfig{Backend: "http://127.0.0.1:8080", Interval: time.Second, LocalAddress: "lab01"}, `--local-address "lab01"`},
	} {
		if _, err := NewClient(tt.cfg, io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want one saying %q", tt.cfg, err, tt.want)
		}
	}
	var empty strings.Builder
	if code := Main([]string{"--client", "--backend="}, &empty); code != 1 || !strings.Contains(empty.String(), "--backend is empty") {
		t.Errorf("Main in client mode without a backend: exit %d, stderr %q; want 1, not a server", code, empty.String())
	}
	var stderr strings.Builder
	if code := Main([]string{"--backend", "ftp://x:1"}, &stderr); code != 1 || !strings.Contains(stderr.String(), "want http://HOST:PORT") {
		t.Errorf("Main with a bad backend: exit %d, stderr %q; want 1 naming the expected form", code, stderr.String())
	}
}
