package seed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/sqlite"
)

// CacheDir is where Cached keeps seeded databases: a folder of os.TempDir.
// Deleting it clears the cache.
func CacheDir() string { return filepath.Join(os.TempDir(), "patchpilot-seed") }

// cacheName is the file name of a config's database: the seed format's
// version and every parameter, so that a changed config or format never
// reads an old file.
func cacheName(c Config) string {
	c = c.withDefaults()
	return fmt.Sprintf("v%d-h%d-r%d-e%d-s%d-n%d-d%d-%s.db", Version, c.Hosts, c.Rollouts, c.Events, c.Seed,
		c.Snapshots, c.Days, c.End.UTC().Format("20060102T150405"))
}

// Cached returns the path of an SQLite database seeded with c, and its
// summary, seeding it first when the cache has none. The file is the
// cache's: a caller that writes (tokens, audit entries) works on a Copy.
// The database is seeded with commits that do not wait for the disk
// (sqlite.WithNoSync) into a temporary file that is renamed into place when
// complete, so that an interrupted seed leaves no file that looks whole.
func Cached(ctx context.Context, c Config) (string, Summary, error) {
	c = c.withDefaults()
	if err := c.validate(); err != nil {
		return "", Summary{}, err
	}
	dir := CacheDir()
	path := filepath.Join(dir, cacheName(c))
	if sum, err := readSummary(path); err == nil {
		if _, err := os.Stat(path); err == nil {
			return path, sum, nil
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", Summary{}, fmt.Errorf("seed cache %s: %w", dir, err)
	}
	tmp, err := os.MkdirTemp(dir, "seeding-")
	if err != nil {
		return "", Summary{}, fmt.Errorf("seed cache %s: %w", dir, err)
	}
	defer os.RemoveAll(tmp)
	tmpPath := filepath.Join(tmp, "seed.db")
	db, err := sqlite.Open(ctx, tmpPath, sqlite.WithNoSync(), sqlite.WithClock(func() time.Time { return c.End }))
	if err != nil {
		return "", Summary{}, err
	}
	sum, err := Fill(ctx, db, c)
	// Closing the last connection checkpoints the log into the file and
	// removes it, so that the file alone is the database.
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", Summary{}, err
	}
	if _, err := os.Stat(tmpPath + "-wal"); err == nil {
		return "", Summary{}, patchpilot.Errorf(patchpilot.EINTERNAL, "seed %s: the write-ahead log is still there after close", tmpPath)
	}
	data, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		return "", Summary{}, err
	}
	if err := os.WriteFile(tmpPath+".json", data, 0o600); err != nil {
		return "", Summary{}, err
	}
	if err := os.Rename(tmpPath, path); err != nil {
		return "", Summary{}, err
	}
	if err := os.Rename(tmpPath+".json", path+".json"); err != nil {
		return "", Summary{}, err
	}
	return path, sum, nil
}

// readSummary reads the summary written beside a cached database.
func readSummary(path string) (Summary, error) {
	data, err := os.ReadFile(path + ".json")
	if err != nil {
		return Summary{}, err
	}
	var sum Summary
	if err := json.Unmarshal(data, &sum); err != nil {
		return Summary{}, err
	}
	if sum.Config.Hosts == 0 {
		return Summary{}, errors.New("empty summary")
	}
	return sum, nil
}

// Copy copies a cached database to dst, for a caller that writes to it.
func Copy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ScaleEnv names the environment variable that shrinks (or grows) the
// benchmarks' seeded store: "hosts=1000,rollouts=100,events=100000".
const ScaleEnv = "PATCHPILOT_BENCH_SCALE"

// FromEnv is Scale with the sizes that ScaleEnv names, for benchmarks.
func FromEnv() (Config, error) {
	c := Scale
	v := os.Getenv(ScaleEnv)
	if v == "" {
		return c, nil
	}
	for _, kv := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(kv), "=")
		n, err := strconv.Atoi(val)
		if err != nil {
			return c, fmt.Errorf("%s: %q: want key=number", ScaleEnv, kv)
		}
		switch k {
		case "hosts":
			c.Hosts = n
		case "rollouts":
			c.Rollouts = n
		case "events":
			c.Events = n
		case "seed":
			c.Seed = int64(n)
		default:
			return c, fmt.Errorf("%s: unknown key %q: want hosts, rollouts, events or seed", ScaleEnv, k)
		}
	}
	return c, nil
}
