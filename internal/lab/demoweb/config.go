package demoweb

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// The configuration file (a dpkg conffile of pp-demo-web) holds
// "key = value" lines; '#' starts a comment. Flags given on the command line
// win over it. A missing file means the defaults: an administrator may
// remove a conffile.

// Configuration keys.
const (
	keyLoad        = "load"         // synthetic requests per second
	keyIdleTimeout = "idle_timeout" // how long an idle kept-alive connection stays open
)

// fileConfig is what a configuration file set; nil fields were not set.
type fileConfig struct {
	Load        *int
	IdleTimeout *time.Duration
}

// readConfigFile reads path; a missing file is an empty configuration.
func readConfigFile(path string) (fileConfig, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileConfig{}, nil
	}
	if err != nil {
		return fileConfig{}, err
	}
	defer f.Close()
	return parseConfig(f, path)
}

// parseConfig reads "key = value" lines; errors name the file and line.
func parseConfig(r io.Reader, name string) (fileConfig, error) {
	var c fileConfig
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return c, fmt.Errorf("%s:%d: %q: want key = value", name, n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case keyLoad:
			i, err := strconv.Atoi(v)
			if err != nil || i < 0 {
				return c, fmt.Errorf("%s:%d: %s = %q: want a whole number of requests per second, 0 or more", name, n, k, v)
			}
			c.Load = &i
		case keyIdleTimeout:
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return c, fmt.Errorf("%s:%d: %s = %q: want a duration such as 5m (0 keeps idle connections open)", name, n, k, v)
			}
			c.IdleTimeout = &d
		default:
			return c, fmt.Errorf("%s:%d: unknown key %q (want %s or %s)", name, n, k, keyLoad, keyIdleTimeout)
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("%s: %v", name, err)
	}
	return c, nil
}
