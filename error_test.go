package patchpilot_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"github.com/patchpilot/patchpilot"
)

func TestErrorMessages(t *testing.T) {
	cause := fs.ErrNotExist
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"errorf with cause", patchpilot.Errorf(patchpilot.EINVALID, "read config: %w", cause), "read config: file does not exist"},
		{"struct with cause", &patchpilot.Error{Code: patchpilot.EINVALID, Message: "read config", Err: cause}, "read config: file does not exist"},
		{"op", &patchpilot.Error{Code: patchpilot.ENOTFOUND, Op: "store.host", Message: "host web1 not found"}, "store.host: host web1 not found"},
		{"cause only", &patchpilot.Error{Code: patchpilot.EINTERNAL, Err: cause}, "file does not exist"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%s: Error() = %q, want %q", tt.name, got, tt.want)
		}
	}
	if err := patchpilot.Errorf(patchpilot.EINVALID, "x: %w", cause); !errors.Is(err, fs.ErrNotExist) {
		t.Error("Errorf does not wrap its cause")
	}
}

func TestErrorCodesMapToExit(t *testing.T) {
	tests := []struct {
		err  error
		code patchpilot.Code
		exit int
	}{
		{nil, "", 0},
		{patchpilot.Errorf(patchpilot.EINVALID, "bad"), patchpilot.EINVALID, patchpilot.ExitUsage},
		{fmt.Errorf("wrapped: %w", patchpilot.Errorf(patchpilot.ENOTFOUND, "no host")), patchpilot.ENOTFOUND, patchpilot.ExitNotFound},
		{patchpilot.Errorf(patchpilot.EPARTIAL, "2 of 5 hosts failed"), patchpilot.EPARTIAL, patchpilot.ExitPartial},
		{context.Canceled, patchpilot.ECANCELED, patchpilot.ExitCanceled},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), patchpilot.ETIMEOUT, patchpilot.ExitFailure},
		{errors.New("boom"), patchpilot.EINTERNAL, patchpilot.ExitFailure},
	}
	for _, tt := range tests {
		if got := patchpilot.ErrorCode(tt.err); got != tt.code {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.code)
		}
		if got := patchpilot.ExitCode(tt.err); got != tt.exit {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.exit)
		}
	}
}

func TestErrorHint(t *testing.T) {
	inner := patchpilot.Errorf(patchpilot.EHOSTKEY, "unknown host key").WithHint("re-run with --accept-new-host-keys")
	outer := fmt.Errorf("collect web1: %w", inner)
	if got, want := patchpilot.ErrorHint(outer), "re-run with --accept-new-host-keys"; got != want {
		t.Errorf("ErrorHint = %q, want %q", got, want)
	}
	if got := patchpilot.ErrorHint(errors.New("plain")); got != "" {
		t.Errorf("ErrorHint(plain) = %q, want empty", got)
	}
}

func TestEcosystem(t *testing.T) {
	tests := []struct {
		f    patchpilot.Facts
		want string
	}{
		{patchpilot.Facts{OSName: "debian", OSVersion: "12"}, "Debian:12"},
		{patchpilot.Facts{OSName: "ubuntu", OSVersion: "22.04"}, "Ubuntu:22.04:LTS"},
		{patchpilot.Facts{OSName: "ubuntu", OSVersion: "23.10"}, "Ubuntu:23.10"},
		{patchpilot.Facts{OSName: "almalinux", OSVersion: "9.4"}, "AlmaLinux:9"},
		{patchpilot.Facts{OSName: "rocky", OSVersion: "8.10"}, "Rocky Linux:8"},
		{patchpilot.Facts{OSName: "sles", OSVersion: "15.5", OSPretty: "SUSE Linux Enterprise Server 15 SP5"}, "SUSE:SUSE Linux Enterprise Server 15 SP5"},
		{patchpilot.Facts{OSName: "plan9"}, ""},
	}
	for _, tt := range tests {
		if got := tt.f.Ecosystem(); got != tt.want {
			t.Errorf("Ecosystem(%s %s) = %q, want %q", tt.f.OSName, tt.f.OSVersion, got, tt.want)
		}
	}
}
