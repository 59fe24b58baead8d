package main

import (
	"fmt"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/app"
	"github.com/patchpilot/patchpilot/internal/server"
)

// DefaultListen is where 'patchpilot server' listens by default: this
// machine only.
const defaultListen = "127.0.0.1:8080"

func (c *cli) serverCommand() *cobra.Command {
	var (
		listen, cert, key string
		drainTimeout      time.Duration
		ef                engineFlags
		schedules         bool
	)
	cmd := &cobra.Command{
		Use:   "server [--listen ADDR] [--tls-cert FILE --tls-key FILE]",
		Short: "Serve the JSON API, live events and metrics; drive the rollouts started through it",
		Long: `Serve patchpilot's JSON API under /api/v1 (hosts, updates, assessments,
plans, rollouts, history, policies, schedules, tokens, the audit log), live events as
server-sent events at /api/v1/events, Prometheus metrics at /metrics, and
/healthz and /readyz. Every API call needs 'Authorization: Bearer TOKEN'
with an API token an admin made; the token's role decides what it may do. docs/api.md describes the API; /api/v1/openapi.json is its OpenAPI
document.

Rollouts started through the API run inside the server, each claimed with
its lease in the database. At start-up the server carries on every rollout
left running by a controller that is no longer alive, as 'rollout resume'
does. On SIGTERM or SIGINT it stops taking requests and new work, lets each host
in flight finish the step it is in (an apply or a reboot is not cut off;
a bake is), stores it, releases the leases and exits 0; steps still
running after --drain-timeout are cut off, and the next start examines
those hosts before it carries on.

The server runs the schedules of patchpilot.yaml (docs/scheduling.md):
a patch schedule's plan starts by itself when the policy lets it, and
otherwise is saved for a person to start. Servers sharing a database run
the schedules one at a time, the one holding the scheduler lease in the
database; --schedules=false keeps this one out of it. A rollout
waiting for an approval that the policy gives after a delay is carried
on when the delay has passed, also when it passed while no server ran.

The server tells the integrations of patchpilot.yaml (docs/integrations.md)
the events of the database, each from where it was left, one server at a
time per database (the delivery lease); 'patchpilot integrations status'
shows how far each is and what was given up.

With --tls-cert and --tls-key (both or neither) it serves HTTPS, TLS 1.2 or
later.`,
		Example: `  patchpilot server
  patchpilot server --listen 0.0.0.0:8443 --tls-cert /etc/patchpilot/cert.pem --tls-key /etc/patchpilot/key.pem`,
		Args: exactArgs(0, "no arguments"),
		PreRunE: func(*cobra.Command, []string) error {
			if (cert == "") != (key == "") {
				return patchpilot.Errorf(patchpilot.EINVALID, "--tls-cert and --tls-key go together: give both or neither")
			}
			if err := checkListen(listen); err != nil {
				return err
			}
			if drainTimeout <= 0 {
				return patchpilot.Errorf(patchpilot.EINVALID, "--drain-timeout %s: expected a positive duration", drainTimeout)
			}
			return ef.validate()
		},
		RunE: c.withApp(func(cmd *cobra.Command, _ []string, a *app.App) error {
			dialer, err := a.SSHDialer()
			if err != nil {
				return err
			}
			o := server.Options{App: a, People: a, Plans: a,
				NewController: func(o app.EngineOptions) server.Controller {
					o.Dialer, o.LeaseTTL, o.CheckInterval = dialer, ef.leaseTTL, ef.checkInterval
					return server.AppController{C: a.Controller(o)}
				}}
			if schedules {
				o.Schedules = &app.SchedulerOptions{Dialer: dialer}
			}
			srv, err := server.New(o)
			if err != nil {
				return err
			}
			err = srv.Serve(cmd.Context(), server.ServeOptions{Listen: listen, TLSCert: cert, TLSKey: key, DrainTimeout: drainTimeout,
				Ready: func(addr string) {
					scheme := "http"
					if cert != "" {
						scheme = "https"
					}
					fmt.Fprintf(c.stderr, "serving on %s://%s\n", scheme, addr)
				}})
			if err == nil && cmd.Context().Err() != nil {
				// A stop asked for (Ctrl-C, systemctl stop) ends with 0;
				// say so, and what becomes of the rollouts it drove.
				fmt.Fprintln(c.stderr, "stopped: asked to stop; the rollouts it was driving carry on when a server starts again")
			}
			return err
		}),
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", defaultListen, "address to listen on, host:port")
	f.StringVar(&cert, "tls-cert", "", "PEM certificate (chain) for HTTPS; needs --tls-key")
	f.StringVar(&key, "tls-key", "", "PEM private key of --tls-cert")
	f.DurationVar(&drainTimeout, "drain-timeout", server.DefaultDrainTimeout, "on SIGTERM, how long to wait for host steps in flight to finish before cutting them off")
	f.DurationVar(&ef.leaseTTL, "lease-ttl", app.DefaultLeaseTTL, "how long the server's claim on a rollout lasts without renewal")
	f.DurationVar(&ef.checkInterval, "check-interval", app.DefaultCheckInterval, "time between health checks during a bake")
	f.BoolVar(&schedules, "schedules", true, "run the configured schedules, while this server holds the database's scheduler lease")
	c.addSSHFlags(f)
	return cmd
}

// checkListen refuses a --listen address that can never be bound (no
// port, a port out of range) before the server opens the database, so
// that it is a usage error rather than a failure to listen.
func checkListen(addr string) error { return checkAddress("--listen", addr) }

// checkAddress is checkListen for the flag named flag.
func checkAddress(flag, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINVALID, "%s %q: expected host:port (for example 127.0.0.1:8080 or :8443)", flag, addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil || port == "" {
		return patchpilot.Errorf(patchpilot.EINVALID, "%s %q: port %q is not a port number from 0 to 65535", flag, addr, port)
	}
	return nil
}
