package lab

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/patchpilot/patchpilot"
)

// keyPair is an ed25519 key in OpenSSH formats.
type keyPair struct {
	private    []byte // OpenSSH private key file
	authorized string // "ssh-ed25519 AAAA..." without a newline
}

// newKeyPair generates a key. The lab generates host keys on the controller
// so that its known_hosts is exact before any host boots.
func newKeyPair(comment string) (keyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return keyPair{}, patchpilot.Errorf(patchpilot.EINTERNAL, "generate key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return keyPair{}, patchpilot.Errorf(patchpilot.EINTERNAL, "encode key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return keyPair{}, patchpilot.Errorf(patchpilot.EINTERNAL, "encode key: %w", err)
	}
	return keyPair{
		private:    pem.EncodeToMemory(block),
		authorized: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))),
	}, nil
}

// randomHex returns n random bytes as hex (machine ids, lab ids).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	const digits = "0123456789abcdef"
	out := make([]byte, 2*n)
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}
