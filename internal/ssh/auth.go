package ssh

import (
	"bytes"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/capped"
)

// keyFile is a private key file, parsed once. signer is nil for a key that
// needs a passphrase; pub is then its public half when the file carries it,
// so that the agent can stand in for it.
type keyFile struct {
	path   string
	signer xssh.Signer
	pub    xssh.PublicKey
}

// DefaultKeyFiles returns the private keys, relative to the home
// directory, offered to a host when neither the host nor the options name a
// key file: the ones OpenSSH's ssh tries by default, in its order (DSA is
// left out: OpenSSH no longer accepts it).
func DefaultKeyFiles() []string {
	return []string{".ssh/id_ed25519", ".ssh/id_ecdsa", ".ssh/id_rsa"}
}

// authenticator gathers the signers offered to hosts: the host's own key
// file, the configured key files (or, when there are none, the default
// ones found in the home directory), then the agent's keys.
type authenticator struct {
	opts        Options
	keyFiles    []keyFile
	defaultKeys []keyFile // offered only when no key file is named
	agent       string    // socket path; "" means no agent
	log         *slog.Logger

	mu    sync.Mutex
	cache map[string]keyFile // host key files by path
}

func newAuthenticator(o Options) (*authenticator, error) {
	a := &authenticator{opts: o, log: o.Logger, cache: map[string]keyFile{}}
	if o.UseAgent {
		a.agent = o.AgentSocket
	}
	for _, p := range o.KeyFiles {
		k, err := loadKeyFile(p)
		if err != nil {
			return nil, err
		}
		a.keyFiles = append(a.keyFiles, k)
	}
	if len(o.KeyFiles) == 0 {
		a.defaultKeys = loadDefaultKeys(o.HomeDir, a.log)
	}
	return a, nil
}

// loadDefaultKeys reads the DefaultKeyFiles that exist under home. Like
// OpenSSH, it skips a default key that is missing or cannot be read rather
// than failing: nobody asked for it by name.
func loadDefaultKeys(home string, log *slog.Logger) []keyFile {
	if home == "" {
		return nil
	}
	var keys []keyFile
	for _, rel := range DefaultKeyFiles() {
		path := filepath.Join(home, rel)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		k, err := loadKeyFile(path)
		if err != nil {
			log.Warn("skipping default key file", "file", path, "error", err)
			continue
		}
		keys = append(keys, k)
	}
	return keys
}

// MaxKeyFileBytes bounds a private key file (docs/cli.md, Input size caps);
// the largest keys (RSA 16384) are about 13 KiB.
const MaxKeyFileBytes = 1 << 20

// loadKeyFile reads and parses a private key. Errors name the file but
// never quote its contents.
func loadKeyFile(path string) (keyFile, error) {
	data, err := capped.ReadFile(path, "key file", MaxKeyFileBytes)
	if errors.Is(err, capped.ErrTooLarge) {
		return keyFile{}, err
	}
	if err != nil {
		return keyFile{}, patchpilot.Errorf(patchpilot.EINVALID, "key file %s: %w", path, err)
	}
	signer, err := xssh.ParsePrivateKey(data)
	var missing *xssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		return keyFile{path: path, pub: missing.PublicKey}, nil
	case err != nil:
		return keyFile{}, patchpilot.Errorf(patchpilot.EINVALID,
			"key file %s: not a private key that patchpilot can read (OpenSSH, PEM or PKCS#8 RSA, ECDSA or Ed25519)", path)
	}
	return keyFile{path: path, signer: signer, pub: signer.PublicKey()}, nil
}

// hostKeyFile returns the parsed host key file, reading each path once.
func (a *authenticator) hostKeyFile(path string) (keyFile, error) {
	path = a.opts.expand(path)
	a.mu.Lock()
	defer a.mu.Unlock()
	if k, ok := a.cache[path]; ok {
		return k, nil
	}
	k, err := loadKeyFile(path)
	if err != nil {
		return keyFile{}, err
	}
	a.cache[path] = k
	return k, nil
}

// method returns the publickey auth method for a host whose own key file is
// hostKey ("" for none), and a function that releases the agent connection
// once the handshake is over. All signers go into one method because the
// client library tries each method name only once.
func (a *authenticator) method(hostKey string) (xssh.AuthMethod, func(), error) {
	files := a.keyFiles
	if hostKey != "" {
		k, err := a.hostKeyFile(hostKey)
		if err != nil {
			return nil, nil, err
		}
		files = append([]keyFile{k}, files...)
	}
	if len(files) == 0 {
		files = a.defaultKeys
	}
	var agentSigners []xssh.Signer
	release := func() {}
	if a.agent != "" {
		conn, err := net.Dial("unix", a.agent)
		if err != nil {
			a.log.Warn("ssh-agent unavailable, using key files only", "socket", a.agent, "error", err)
		} else {
			release = func() { conn.Close() }
			agentSigners, err = agent.NewClient(conn).Signers()
			if err != nil {
				a.log.Warn("ssh-agent listed no keys", "socket", a.agent, "error", err)
			}
		}
	}
	var signers []xssh.Signer
	add := func(s xssh.Signer) {
		// Offering a key twice wastes one of the server's few allowed tries
		// (OpenSSH's MaxAuthTries defaults to 6).
		for _, have := range signers {
			if bytes.Equal(have.PublicKey().Marshal(), s.PublicKey().Marshal()) {
				return
			}
		}
		signers = append(signers, s)
	}
	for _, k := range files {
		if k.signer != nil {
			add(k.signer)
			continue
		}
		if !agentHas(agentSigners, k.pub) {
			a.log.Warn("skipping passphrase-protected key that the agent does not hold", "file", k.path)
		}
	}
	for _, s := range agentSigners {
		add(s)
	}
	if len(signers) == 0 {
		release()
		return nil, nil, patchpilot.Errorf(patchpilot.EINVALID, "no usable private key").
			WithHint("set the host's key_file, pass --key FILE, put a key at ~/.ssh/id_ed25519 (or id_ecdsa, id_rsa), or load the key into ssh-agent")
	}
	return xssh.PublicKeys(signers...), release, nil
}

func agentHas(signers []xssh.Signer, pub xssh.PublicKey) bool {
	if pub == nil {
		return false
	}
	for _, s := range signers {
		if bytes.Equal(s.PublicKey().Marshal(), pub.Marshal()) {
			return true
		}
	}
	return false
}
