package ssh

import (
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/patchpilot/patchpilot"
)

// Hints shown with host key refusals.
const (
	hintUnknownHostKey = "verify the fingerprint, then re-run with --accept-new-host-keys or add it to known_hosts"
	hintChangedHostKey = "the host may have been reinstalled, or someone may be intercepting the connection: " +
		"verify the new fingerprint out of band, then remove the old line (ssh-keygen -R HOST -f FILE)"
)

// hostKeyDB checks host keys against one known_hosts file and, when allowed,
// records keys of hosts it has never seen. One mutex serialises reading and
// appending, so that concurrent dials neither write interleaved lines nor
// miss a key that another dial has just recorded.
type hostKeyDB struct {
	file   string
	accept bool
	log    *slog.Logger

	// probe is a key that no host has; checking it against the file lists
	// the keys known for a host (see knownAlgorithms).
	probe xssh.PublicKey

	mu    sync.Mutex
	check xssh.HostKeyCallback // parsed file; nil when it must be re-read
	stamp fileStamp
}

// fileStamp identifies a version of the file, so that it is re-parsed only
// when it changed.
type fileStamp struct {
	size    int64
	modTime time.Time
}

func newHostKeyDB(file string, accept bool, log *slog.Logger) (*hostKeyDB, error) {
	probe, err := xssh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)).Public())
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINTERNAL, "host key probe: %w", err)
	}
	return &hostKeyDB{file: file, accept: accept, log: log, probe: probe}, nil
}

// load returns the parsed file, re-reading it if it changed. A missing file
// is an empty database. The caller holds db.mu.
func (db *hostKeyDB) load() (xssh.HostKeyCallback, error) {
	var stamp fileStamp
	fi, err := os.Stat(db.file)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "known_hosts file %s: %w", db.file, err)
	default:
		stamp = fileStamp{size: fi.Size(), modTime: fi.ModTime()}
	}
	if db.check != nil && stamp == db.stamp {
		return db.check, nil
	}
	var check xssh.HostKeyCallback
	if stamp == (fileStamp{}) {
		check, err = knownhosts.New()
	} else {
		check, err = knownhosts.New(db.file)
	}
	if err != nil {
		return nil, patchpilot.Errorf(patchpilot.EINVALID, "known_hosts file %s: %w", db.file, err).
			WithHint("fix or remove the broken lines of the known_hosts file")
	}
	db.check, db.stamp = check, stamp
	return check, nil
}

// callback returns the HostKeyCallback for dialling addr ("host:port").
func (db *hostKeyDB) callback() xssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key xssh.PublicKey) error {
		db.mu.Lock()
		defer db.mu.Unlock()
		check, err := db.load()
		if err != nil {
			return err
		}
		err = check(hostname, remote, key)
		if err == nil {
			return nil
		}
		fp := xssh.FingerprintSHA256(key)
		var keyErr *knownhosts.KeyError
		var revoked *knownhosts.RevokedError
		switch {
		case errors.As(err, &revoked):
			return patchpilot.Errorf(patchpilot.EHOSTKEY, "host key of %s (%s %s) is revoked at %s:%d",
				hostname, key.Type(), fp, revoked.Revoked.Filename, revoked.Revoked.Line)
		case errors.As(err, &keyErr) && len(keyErr.Want) > 0:
			old := keyErr.Want[0]
			return patchpilot.Errorf(patchpilot.EHOSTKEY,
				"host key of %s has changed: the host offered %s %s, but %s:%d records %s %s",
				hostname, key.Type(), fp, old.Filename, old.Line, old.Key.Type(), xssh.FingerprintSHA256(old.Key)).
				WithHint(hintChangedHostKey)
		case errors.As(err, &keyErr):
			if !db.accept {
				return patchpilot.Errorf(patchpilot.EHOSTKEY,
					"host key of %s is unknown: %s key fingerprint is %s (not in %s)",
					hostname, key.Type(), fp, db.file).WithHint(hintUnknownHostKey)
			}
			if err := db.record(hostname, key); err != nil {
				return err
			}
			db.log.Warn("recorded new host key", "host", hostname, "type", key.Type(),
				"fingerprint", fp, "file", db.file)
			return nil
		default:
			return patchpilot.Errorf(patchpilot.EHOSTKEY, "checking host key of %s: %w", hostname, err)
		}
	}
}

// record appends key for hostname to the file. The caller holds db.mu.
func (db *hostKeyDB) record(hostname string, key xssh.PublicKey) error {
	fail := func(err error) error {
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "recording host key of %s in %s: %w", hostname, db.file, err)
	}
	if err := os.MkdirAll(filepath.Dir(db.file), 0o700); err != nil {
		return fail(err)
	}
	f, err := os.OpenFile(db.file, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	line := knownhosts.Line([]string{knownhosts.Normalize(hostname)}, key) + "\n"
	// A file whose last line lacks its newline would otherwise have the new
	// line glued to it, corrupting both.
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err != nil && err != io.EOF {
			return fail(err)
		}
		if last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	db.check = nil // re-read, so that this run trusts the key from now on
	return nil
}

// knownAlgorithms returns the host key algorithms to offer when dialling
// addr: first those of the key types the file records for it, then every
// other supported one. Without this preference a host with both an
// ed25519 and an RSA key could present the type that is not in the file,
// and its known key would look changed.
func (db *hostKeyDB) knownAlgorithms(addr string) []string {
	db.mu.Lock()
	check, err := db.load()
	db.mu.Unlock()
	if err != nil {
		return nil // the dial reports the broken file
	}
	var keyErr *knownhosts.KeyError
	if err := check(addr, &net.TCPAddr{IP: net.IPv4zero, Port: 22}, db.probe); !errors.As(err, &keyErr) || len(keyErr.Want) == 0 {
		return nil
	}
	var algos []string
	for _, k := range keyErr.Want {
		for _, a := range algorithmsForKeyType(k.Key.Type()) {
			if !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	for _, a := range xssh.SupportedAlgorithms().HostKeys {
		if !slices.Contains(algos, a) {
			algos = append(algos, a)
		}
	}
	return algos
}

// algorithmsForKeyType maps a key type to the signature algorithms that
// prove possession of such a key: RSA keys sign with SHA-2 first.
func algorithmsForKeyType(t string) []string {
	if t == xssh.KeyAlgoRSA {
		return []string{xssh.KeyAlgoRSASHA512, xssh.KeyAlgoRSASHA256, xssh.KeyAlgoRSA}
	}
	return []string{t}
}
