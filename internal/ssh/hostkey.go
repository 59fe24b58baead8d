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
	"syscall"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/patchpilot/patchpilot"
)

// Hints shown with host key refusals.
const (
	hintUnknownHostKey = "verify the fingerprint, then re-run with --accept-new-host-keys or add it to known_hosts; if another known_hosts file holds it, name that file with --known-hosts (or known_hosts: in patchpilot.yaml)"
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
		unknown, err := db.verify(hostname, remote, key)
		if !unknown || !db.accept {
			return err
		}
		return db.record(hostname, remote, key)
	}
}

// verify checks key against the file. It reports whether the file knows
// nothing of hostname, in which case err is the refusal of an unknown key.
// The caller holds db.mu.
func (db *hostKeyDB) verify(hostname string, remote net.Addr, key xssh.PublicKey) (unknown bool, err error) {
	check, err := db.load()
	if err != nil {
		return false, err
	}
	err = check(hostname, remote, key)
	if err == nil {
		return false, nil
	}
	fp := xssh.FingerprintSHA256(key)
	var keyErr *knownhosts.KeyError
	var revoked *knownhosts.RevokedError
	switch {
	case errors.As(err, &revoked):
		return false, patchpilot.Errorf(patchpilot.EHOSTKEY, "host key of %s (%s %s) is revoked at %s:%d",
			hostname, key.Type(), fp, revoked.Revoked.Filename, revoked.Revoked.Line)
	case errors.As(err, &keyErr) && len(keyErr.Want) > 0:
		old := keyErr.Want[0]
		return false, patchpilot.Errorf(patchpilot.EHOSTKEY,
			"host key of %s has changed: the host offered %s %s, but %s:%d records %s %s",
			hostname, key.Type(), fp, old.Filename, old.Line, old.Key.Type(), xssh.FingerprintSHA256(old.Key)).
			WithHint(hintChangedHostKey)
	case errors.As(err, &keyErr):
		return true, patchpilot.Errorf(patchpilot.EHOSTKEY,
			"host key of %s is unknown: %s key fingerprint is %s (not in %s)",
			hostname, key.Type(), fp, db.file).WithHint(hintUnknownHostKey)
	default:
		return false, patchpilot.Errorf(patchpilot.EHOSTKEY, "checking host key of %s: %w", hostname, err)
	}
}

// record appends key for hostname to the file. The caller holds db.mu,
// which orders the dials of this process; an exclusive flock on the file
// orders them with other processes (another patchpilot, or a second
// controller on the same file). Under that lock the file is read again:
// a key another process has just recorded is trusted if it is this one,
// and makes this one a changed key if it is not.
func (db *hostKeyDB) record(hostname string, remote net.Addr, key xssh.PublicKey) error {
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
	defer f.Close() // also releases the lock
	if err := flock(f); err != nil {
		return fail(err)
	}
	db.check = nil
	if unknown, err := db.verify(hostname, remote, key); !unknown {
		return err
	}
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
	db.log.Warn("recorded new host key", "host", hostname, "type", key.Type(),
		"fingerprint", xssh.FingerprintSHA256(key), "file", db.file)
	return nil
}

// flock takes an exclusive advisory lock on f, waiting for it. Closing f
// releases it.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
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
