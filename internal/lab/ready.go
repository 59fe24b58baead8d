package lab

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// sshBanner reports whether an SSH server answers at addr with its banner.
func sshBanner(ctx context.Context, addr string, timeout time.Duration) bool {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "SSH-")
}

// listening reports whether something accepts connections at addr.
func listening(ctx context.Context, addr string, timeout time.Duration) bool {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// waitReady waits until the host's sshd, node_exporter and demo service
// all answer, or the context ends.
func waitReady(ctx context.Context, address string) error {
	ports := []int{22, NodeExporterPort, DemoWebPort}
	for {
		ok := true
		for _, p := range ports {
			addr := net.JoinHostPort(address, strconv.Itoa(p))
			up := false
			if p == 22 {
				up = sshBanner(ctx, addr, time.Second)
			} else {
				up = listening(ctx, addr, time.Second)
			}
			if !up {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return patchpilot.Errorf(patchpilot.ETIMEOUT, "%s did not answer on ports 22, %d and %d in time", address, NodeExporterPort, DemoWebPort)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
