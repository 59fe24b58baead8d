package email

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA makes a CA and a server certificate it signs for
// mail.example.com, localhost and 127.0.0.1; it writes the CA to a PEM
// file (for ca_file) and returns the server's TLS configuration.
func testCA(t *testing.T) (caFile string, server *tls.Config) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "patchpilot test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "mail.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"mail.example.com", "localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// session is what the server saw of one SMTP session.
type session struct {
	TLS      bool
	AuthMech string
	AuthUser string
	AuthPass string
	AuthTLS  bool // AUTH came after STARTTLS
	MailFrom string
	Rcpts    []string
	Data     string
	Commands []string
}

// smtpServer is an SMTP server on loopback, written from RFC 5321, 3207
// (STARTTLS) and 4954 (AUTH): it offers STARTTLS when tlsConf is set and
// AUTH PLAIN LOGIN (after TLS when tlsConf is set), checks the
// credentials, and answers a command with reply[VERB] when set (to play a
// refusing or failing server).
type smtpServer struct {
	t        *testing.T
	ln       net.Listener
	tlsConf  *tls.Config
	user     string
	pass     string
	mechs    string
	greeting string
	reply    map[string]string
	sessions chan session
}

// newSMTPServer starts the server; setup changes it before it serves.
func newSMTPServer(t *testing.T, tlsConf *tls.Config, setup ...func(*smtpServer)) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{t: t, ln: ln, tlsConf: tlsConf, user: "pp", pass: "s3cret-pw", mechs: "PLAIN LOGIN",
		greeting: "220 mail.example.com ESMTP test", reply: map[string]string{}, sessions: make(chan session, 4)}
	for _, f := range setup {
		f(s)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// dial connects to the server whatever address is asked, so that the
// client can be configured with the certificate's host name.
func (s *smtpServer) dial() Dialer {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", s.ln.Addr().String())
	}
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	var ses session
	defer func() { s.sessions <- ses }()
	tp := textproto.NewConn(c)
	say := func(line string) { tp.PrintfLine("%s", line) }
	say(s.greeting)
	if !strings.HasPrefix(s.greeting, "220") {
		return
	}
	authed := false
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		ses.Commands = append(ses.Commands, verb)
		if r, ok := s.reply[verb]; ok {
			say(r)
			if strings.HasPrefix(r, "421") {
				return
			}
			continue
		}
		switch verb {
		case "EHLO", "HELO":
			lines := []string{"250-mail.example.com"}
			if s.tlsConf != nil && !ses.TLS {
				lines = append(lines, "250-STARTTLS")
			}
			if s.mechs != "" && (s.tlsConf == nil || ses.TLS) {
				lines = append(lines, "250-AUTH "+s.mechs)
			}
			lines = append(lines, "250 8BITMIME")
			for _, l := range lines {
				say(l)
			}
		case "STARTTLS":
			if s.tlsConf == nil || ses.TLS {
				say("502 5.5.1 not offered")
				continue
			}
			say("220 2.0.0 ready to start TLS")
			tc := tls.Server(c, s.tlsConf)
			if err := tc.Handshake(); err != nil {
				return
			}
			ses.TLS = true
			c = tc
			tp = textproto.NewConn(tc)
			say = func(line string) { tp.PrintfLine("%s", line) }
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			ses.AuthMech, ses.AuthTLS = mech, ses.TLS
			switch strings.ToUpper(mech) {
			case "PLAIN":
				if initial == "" {
					say("334 ")
					initial, _ = tp.ReadLine()
				}
				raw, _ := base64.StdEncoding.DecodeString(initial)
				parts := strings.Split(string(raw), "\x00")
				if len(parts) == 3 {
					ses.AuthUser, ses.AuthPass = parts[1], parts[2]
				}
			case "LOGIN":
				say("334 " + base64.StdEncoding.EncodeToString([]byte("Username:")))
				u, _ := tp.ReadLine()
				say("334 " + base64.StdEncoding.EncodeToString([]byte("Password:")))
				p, _ := tp.ReadLine()
				ub, _ := base64.StdEncoding.DecodeString(u)
				pb, _ := base64.StdEncoding.DecodeString(p)
				ses.AuthUser, ses.AuthPass = string(ub), string(pb)
			default:
				say("504 5.5.4 unrecognized mechanism")
				continue
			}
			if ses.AuthUser == s.user && ses.AuthPass == s.pass {
				authed = true
				say("235 2.7.0 authentication successful")
			} else {
				say("535 5.7.8 authentication credentials invalid")
			}
		case "MAIL":
			if s.user != "" && !authed {
				say("530 5.7.0 authentication required")
				continue
			}
			ses.MailFrom = strings.TrimPrefix(arg, "FROM:")
			say("250 2.1.0 ok")
		case "RCPT":
			ses.Rcpts = append(ses.Rcpts, strings.TrimPrefix(arg, "TO:"))
			say("250 2.1.5 ok")
		case "DATA":
			say("354 end data with <CR><LF>.<CR><LF>")
			lines, err := tp.ReadDotLines()
			if err != nil {
				return
			}
			ses.Data = strings.Join(lines, "\r\n")
			if r, ok := s.reply["DATA-END"]; ok {
				say(r)
				continue
			}
			say("250 2.0.0 queued as 1")
		case "RSET", "NOOP":
			say("250 2.0.0 ok")
		case "QUIT":
			say("221 2.0.0 bye")
			return
		default:
			say("500 5.5.2 unknown command")
		}
	}
}
