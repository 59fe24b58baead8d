package demoweb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Client mode: the same binary, installed as pp-demo-client, calls another
// host's pp-demo-web about once a second over one kept-alive connection, so
// that the connection is there to be seen (ss, /proc/net/tcp) whenever a
// collection looks. It dials from the host's own address, so the
// connection's source is the host and not 127.0.0.1, and it reconnects on
// its own when the backend goes away and comes back.

// DefaultInterval is how often the client calls its backend.
const DefaultInterval = time.Second

// ClientConfig is what the client-mode flags set.
type ClientConfig struct {
	// Backend is the base URL of the service to call (http://HOST:PORT).
	Backend string
	// LocalAddress is the IP address connections are made from; empty
	// lets the kernel choose.
	LocalAddress string
	// Interval is the time between calls.
	Interval time.Duration
	// Path is what is requested on the backend.
	Path    string
	Version string
}

// parseBackend checks a backend URL: http, a host and a port.
func parseBackend(s string) (*url.URL, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("--backend is empty: name the service to call (http://HOST:PORT)")
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme != "http" || u.Host == "" || u.Port() == "" {
		return nil, fmt.Errorf("--backend %q: want http://HOST:PORT", s)
	}
	return u, nil
}

// Client calls a backend at an interval and counts what happened.
type Client struct {
	cfg     ClientConfig
	base    *url.URL
	http    *http.Client
	log     io.Writer
	ok      atomic.Uint64
	failed  atomic.Uint64
	healthy bool // the last call succeeded; only the Run loop touches it
}

// NewClient checks the configuration and builds a client whose connections
// come from cfg.LocalAddress and are kept alive between calls.
func NewClient(cfg ClientConfig, log io.Writer) (*Client, error) {
	base, err := parseBackend(cfg.Backend)
	if err != nil {
		return nil, err
	}
	if cfg.Interval <= 0 {
		return nil, fmt.Errorf("--interval %s: want a positive duration", cfg.Interval)
	}
	if cfg.Path == "" {
		cfg.Path = "/"
	}
	d := &net.Dialer{Timeout: 3 * time.Second, KeepAlive: 15 * time.Second}
	if cfg.LocalAddress != "" {
		ip := net.ParseIP(cfg.LocalAddress)
		if ip == nil {
			return nil, fmt.Errorf("--local-address %q: want an IP address", cfg.LocalAddress)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		// Longer than any interval the lab uses: the connection stays
		// open between calls.
		IdleConnTimeout:       10 * time.Minute,
		ResponseHeaderTimeout: 5 * time.Second,
	}
	return &Client{cfg: cfg, base: base, log: log, http: &http.Client{Transport: tr, Timeout: 10 * time.Second}}, nil
}

// Counts returns how many calls succeeded and failed.
func (c *Client) Counts() (ok, failed uint64) { return c.ok.Load(), c.failed.Load() }

// Call makes one request to the backend and reads the whole answer, so the
// connection can be used again.
func (c *Client) Call(ctx context.Context) error {
	u := *c.base
	u.Path = c.cfg.Path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "pp-demo-client/"+c.cfg.Version)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode >= 500 {
		return fmt.Errorf("%s: %s", u.String(), resp.Status)
	}
	return nil
}

// Run calls the backend every interval until ctx is done. It logs when the
// backend becomes reachable or unreachable, not every call.
func (c *Client) Run(ctx context.Context) error {
	fmt.Fprintf(c.log, "pp-demo-client %s calling %s every %s from %s\n", c.cfg.Version, c.base, c.cfg.Interval, orAny(c.cfg.LocalAddress))
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	defer c.http.CloseIdleConnections()
	first := true
	for {
		err := c.Call(ctx)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err == nil:
			c.ok.Add(1)
			if !c.healthy {
				fmt.Fprintf(c.log, "pp-demo-client: %s answers\n", c.base)
			}
			c.healthy = true
		default:
			c.failed.Add(1)
			if c.healthy || first {
				fmt.Fprintf(c.log, "pp-demo-client: %s does not answer: %v (retrying every %s)\n", c.base, err, c.cfg.Interval)
			}
			c.healthy = false
			// A broken connection is not reused.
			c.http.CloseIdleConnections()
		}
		first = false
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func orAny(addr string) string {
	if addr == "" {
		return "any address"
	}
	return addr
}

// runClient is Main in client mode.
func runClient(ctx context.Context, cfg ClientConfig, log io.Writer) error {
	c, err := NewClient(cfg, log)
	if err != nil {
		return err
	}
	if err := c.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	ok, failed := c.Counts()
	fmt.Fprintf(log, "pp-demo-client: stopping after %d calls answered and %d failed\n", ok, failed)
	return nil
}
