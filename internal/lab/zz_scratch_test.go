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
