package lab

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/patchpilot/patchpilot"
)

// DemoClientUnit is the unit of the lab's demo client (package
// pp-demo-client, installed on every host, idle until started here).
const DemoClientUnit = "pp-demo-client.service"

// Exec runs a command inside a running host, as its root and in its
// namespaces (as its init sees them), and returns its standard output. A
// failure carries the end of the command's output.
func (l *Lab) Exec(ctx context.Context, host string, args ...string) ([]byte, error) {
	if len(args) == 0 {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "exec on %s: no command", host)
	}
	s, h, unlock, err := l.hostOp(host)
	if err != nil {
		return nil, err
	}
	// The lab's lock guards the state, not the host: commands run without it.
	unlock()
	return inHost(ctx, s, h, args...)
}

// StartDemoClient makes host's pp-demo-client call backend's pp-demo-web
// (on DemoWebPort) about once a second over one kept-alive connection from
// host's own address: it writes DemoClientBackendFile on host and
// (re)starts the unit. backend is a host of the lab.
func (l *Lab) StartDemoClient(ctx context.Context, host, backend string) error {
	_, b, unlock, err := l.hostOp(backend)
	if err != nil {
		return err
	}
	unlock()
	url := "http://" + net.JoinHostPort(b.Address, strconv.Itoa(DemoWebPort))
	script := fmt.Sprintf("set -e; mkdir -p /etc/pp-lab; printf 'PP_DEMO_BACKEND=%%s\\n' %s > %s.tmp; mv %s.tmp %s; systemctl restart %s; systemctl is-active --quiet %s",
		shellQuote(url), DemoClientBackendFile, DemoClientBackendFile, DemoClientBackendFile, DemoClientUnit, DemoClientUnit)
	if _, err := l.Exec(ctx, host, "/bin/sh", "-c", script); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "start %s on %s calling %s: %w", DemoClientUnit, host, url, err)
	}
	l.logger.Info("demo client started", "host", host, "backend", url)
	return nil
}

// StopDemoClient stops host's pp-demo-client and removes its backend, so
// that it stays idle over a reboot too. Stopping an idle client changes
// nothing.
func (l *Lab) StopDemoClient(ctx context.Context, host string) error {
	script := fmt.Sprintf("set -e; rm -f %s; systemctl stop %s", DemoClientBackendFile, DemoClientUnit)
	if _, err := l.Exec(ctx, host, "/bin/sh", "-c", script); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "stop %s on %s: %w", DemoClientUnit, host, err)
	}
	l.logger.Info("demo client stopped", "host", host)
	return nil
}
