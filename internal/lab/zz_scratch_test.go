package lab

import (
	"context"
	"log/slog"
	"os"
	"testing"
)

func TestScratchUp(t *testing.T) {
	if os.Getenv("SCRATCH") == "" {
		t.Skip()
	}
	ctx := context.Background()
	lg := slog.New(slog.NewTextHandler(os.Stderr, nil))
	l, err := Up(ctx, Options{Dir: "/tmp/labexp/lab", Hosts: 3, Logger: lg, Prometheus: os.Getenv("PROM") != ""})
	if err != nil {
		t.Fatal(err)
	}
	st, err := l.Status(ctx)
	t.Logf("%+v %v", st, err)
}

func TestScratchDown(t *testing.T) {
	if os.Getenv("SCRATCH") == "" {
		t.Skip()
	}
	lg := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := Down(context.Background(), "/tmp/labexp/lab", lg); err != nil {
		t.Fatal(err)
	}
}

func TestScratchFault(t *testing.T) {
	if os.Getenv("SCRATCH") == "" {
		t.Skip()
	}
	l, err := Open("/tmp/labexp/lab")
	if err != nil {
		t.Fatal(err)
	}
	h, kind := os.Getenv("HOST"), os.Getenv("KIND")
	if kind == "heal" {
		err = l.Heal(context.Background(), h)
	} else if kind == "reboot" {
		err = l.Reboot(context.Background(), h)
	} else {
		err = l.Fault(context.Background(), h, kind)
	}
	if err != nil {
		t.Fatal(err)
	}
}
