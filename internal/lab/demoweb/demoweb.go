// Package demoweb is the lab's demo HTTP service, packaged as pp-demo-web in
// the lab's apt repository. One source serves every packaged version: the
// package's systemd unit selects the behaviour with --mode, so a good and a
// bad version differ only in their packaging, as real regressions often do.
//
// The service answers /health and /metrics (Prometheus text format, written
// by hand so the binary needs nothing beyond the standard library) while it
// serves a steady synthetic load of its own, so its metrics move even when
// nobody calls it. With --backend the same binary is a client instead
// (see client.go), packaged as pp-demo-client.
package demoweb

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Modes select the behaviour of a packaged version.
const (
	ModeGood   = "good"   // healthy
	ModeCrash  = "crash"  // exits 1 at start
	ModeErrors = "errors" // healthy at first, then /health fails and errors climb
	ModeSlow   = "slow"   // requests take about three times as long
)

// Defaults of the command-line flags.
const (
	DefaultListen      = "127.0.0.1:8080"
	DefaultLoad        = 20 // synthetic requests per second
	DefaultErrorsAfter = 30 * time.Second
	// baseLatency is the typical time a request takes in good mode.
	baseLatency = 10 * time.Millisecond
	slowFactor  = 3
	// errorRate is the share of requests that fail once errors have begun.
	errorRate = 0.5
)

// Config is what the flags set.
type Config struct {
	Listen      string
	Mode        string
	Version     string
	Load        int
	ErrorsAfter time.Duration
	// IdleTimeout closes kept-alive connections idle that long; 0 keeps
	// them open.
	IdleTimeout time.Duration
}

// Main runs the service, or with --backend the client, until it is
// interrupted and returns the exit status.
func Main(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("pp-demo-web", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c Config
	var cc ClientConfig
	var configFile string
	var client bool
	fs.StringVar(&c.Listen, "listen", DefaultListen, "address and port to listen on")
	fs.StringVar(&c.Mode, "mode", ModeGood, "behaviour: good, crash, errors or slow")
	fs.StringVar(&c.Version, "version", "0.0.0", "version reported in pp_demo_build_info")
	fs.IntVar(&c.Load, "load", DefaultLoad, "synthetic requests per second (0 turns the load off)")
	fs.DurationVar(&c.ErrorsAfter, "errors-after", DefaultErrorsAfter, "in errors mode, when errors begin")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 0, "close kept-alive connections idle this long (0 keeps them open)")
	fs.StringVar(&configFile, "config", "", "configuration file of key = value lines (load, idle_timeout); flags win over it")
	fs.BoolVar(&client, "client", false, "client mode (implied by --backend): call --backend instead of serving")
	fs.StringVar(&cc.Backend, "backend", "", "client mode: call this service (http://HOST:PORT) instead of serving")
	fs.StringVar(&cc.LocalAddress, "local-address", "", "client mode: the IP address to connect from")
	fs.DurationVar(&cc.Interval, "interval", DefaultInterval, "client mode: time between calls")
	fs.StringVar(&cc.Path, "path", "/", "client mode: the path to request")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "pp-demo-web: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if client || cc.Backend != "" {
		cc.Version = c.Version
		if err := runClient(ctx, cc, stderr); err != nil {
			fmt.Fprintf(stderr, "pp-demo-client: %v\n", err)
			return 1
		}
		return 0
	}
	if configFile != "" {
		fc, err := readConfigFile(configFile)
		if err != nil {
			fmt.Fprintf(stderr, "pp-demo-web: %v\n", err)
			return 1
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if fc.Load != nil && !set["load"] {
			c.Load = *fc.Load
		}
		if fc.IdleTimeout != nil && !set["idle-timeout"] {
			c.IdleTimeout = *fc.IdleTimeout
		}
	}
	if err := Run(ctx, c, stderr); err != nil {
		fmt.Fprintf(stderr, "pp-demo-web: %v\n", err)
		return 1
	}
	return 0
}

// Run serves until ctx is done.
func Run(ctx context.Context, c Config, log io.Writer) error {
	switch c.Mode {
	case ModeGood, ModeErrors, ModeSlow:
	case ModeCrash:
		return errors.New("refusing to start: this build is broken on purpose (mode crash)")
	default:
		return fmt.Errorf("unknown mode %q (want good, crash, errors or slow)", c.Mode)
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return err
	}
	return Serve(ctx, ln, c, log)
}

// Serve serves on ln until ctx is done.
func Serve(ctx context.Context, ln net.Listener, c Config, log io.Writer) error {
	s := NewServer(c, time.Now)
	// No ReadTimeout: an IdleTimeout of 0 keeps idle connections open.
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: c.IdleTimeout}
	fmt.Fprintf(log, "pp-demo-web %s listening on %s in mode %s (load %d/s)\n", c.Version, ln.Addr(), c.Mode, c.Load)
	go s.load(ctx, c.Load)
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Server is the service's HTTP handler.
type Server struct {
	cfg     Config
	now     func() time.Time
	started time.Time
	sleep   func(time.Duration)
	m       *metrics
	mux     *http.ServeMux
}

// NewServer builds the handler; now is the clock (injected for tests).
func NewServer(c Config, now func() time.Time) *Server {
	s := &Server{cfg: c, now: now, started: now(), sleep: time.Sleep, m: newMetrics(), mux: http.NewServeMux()}
	s.mux.HandleFunc("/health", s.health)
	s.mux.HandleFunc("/metrics", s.metrics)
	s.mux.HandleFunc("/", s.work)
	return s
}

// failing reports whether the service is in its failing phase.
func (s *Server) failing() bool {
	return s.cfg.Mode == ModeErrors && s.now().Sub(s.started) >= s.cfg.ErrorsAfter
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	if s.failing() {
		http.Error(w, "unhealthy: error rate too high\n", http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "ok %s\n", s.cfg.Version)
}

func (s *Server) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.m.write(w, s.cfg)
}

// work is the service's "business" endpoint, instrumented like a real one.
func (s *Server) work(w http.ResponseWriter, _ *http.Request) {
	start := s.now()
	d := baseLatency/2 + time.Duration(rand.Int64N(int64(baseLatency)))
	if s.cfg.Mode == ModeSlow {
		d *= slowFactor
	}
	s.sleep(d)
	failed := s.failing() && rand.Float64() < errorRate
	if failed {
		http.Error(w, "internal error\n", http.StatusInternalServerError)
	} else {
		io.WriteString(w, "done\n")
	}
	s.m.observe(s.now().Sub(start), failed)
}

// load sends rate requests per second through the handler, as if clients
// called it, until ctx is done.
func (s *Server) load(ctx context.Context, rate int) {
	if rate <= 0 {
		return
	}
	t := time.NewTicker(time.Second / time.Duration(rate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			go s.work(discard{}, nil)
		}
	}
}

// discard is a ResponseWriter that drops what the synthetic load produces.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}
