package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
)

// Timeout bounds one delivery: connecting, the dialogue and the data.
const Timeout = 2 * time.Minute

// Dialer opens the TCP connection to the server; tests replace it.
type Dialer func(ctx context.Context, network, addr string) (net.Conn, error)

// send delivers one message to the recipients over SMTP: greeting, EHLO,
// STARTTLS as configured, AUTH when a username is set, MAIL FROM, RCPT TO
// for each recipient, DATA, QUIT. Every failure is a
// *patchpilot.DeliveryError: 4xx answers and network failures may be
// retried, 5xx answers and refused configurations may not.
func (c Config) send(ctx context.Context, dial Dialer, rcpts []*mail.Address, msg []byte) error {
	if dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second}
		dial = d.DialContext
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return &patchpilot.DeliveryError{Service: Type, Message: fmt.Sprintf("could not connect to %s: %v", addr, unwrapOp(err)), Retryable: true}
	}
	defer conn.Close()
	deadline := time.Now().Add(Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		return c.smtpError(ctx, "greeting", err)
	}
	defer cl.Close()
	secure := false
	if c.StartTLS != StartTLSNone {
		ok, _ := cl.Extension("STARTTLS")
		switch {
		case ok:
			if err := cl.StartTLS(c.tlsConfig()); err != nil {
				return c.smtpError(ctx, "STARTTLS", err)
			}
			secure = true
		case c.StartTLS == StartTLSRequired:
			return &patchpilot.DeliveryError{Service: Type, Message: fmt.Sprintf("%s does not offer STARTTLS and starttls is required; check host and port (587 is the submission port)", addr)}
		}
	}
	if c.Username != "" {
		if !secure && !Loopback(c.Host) {
			return &patchpilot.DeliveryError{Service: Type, Message: fmt.Sprintf("refusing to send the password to %s without TLS: the server did not offer STARTTLS", addr)}
		}
		auth, err := c.auth(cl)
		if err != nil {
			return err
		}
		if err := cl.Auth(auth); err != nil {
			return c.smtpError(ctx, "AUTH", err)
		}
	}
	if err := cl.Mail(c.From.Address); err != nil {
		return c.smtpError(ctx, "MAIL FROM <"+c.From.Address+">", err)
	}
	for _, r := range rcpts {
		if err := cl.Rcpt(r.Address); err != nil {
			return c.smtpError(ctx, "RCPT TO <"+r.Address+">", err)
		}
	}
	w, err := cl.Data()
	if err != nil {
		return c.smtpError(ctx, "DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return c.smtpError(ctx, "DATA", err)
	}
	if err := w.Close(); err != nil {
		return c.smtpError(ctx, "the end of DATA", err)
	}
	_ = cl.Quit() // the message was accepted: a failed QUIT loses nothing
	return nil
}

// auth picks PLAIN, else LOGIN, among the mechanisms the server offers.
func (c Config) auth(cl *smtp.Client) (smtp.Auth, error) {
	ok, mechs := cl.Extension("AUTH")
	if !ok {
		return nil, &patchpilot.DeliveryError{Service: Type, Message: "the server offers no AUTH, and username is set; remove username and password, or check host and port"}
	}
	offered := strings.Fields(strings.ToUpper(mechs))
	for _, m := range offered {
		if m == "PLAIN" {
			return smtp.PlainAuth("", c.Username, c.Password, c.Host), nil
		}
	}
	for _, m := range offered {
		if m == "LOGIN" {
			return &loginAuth{user: c.Username, pass: c.Password, host: c.Host}, nil
		}
	}
	return nil, &patchpilot.DeliveryError{Service: Type, Message: fmt.Sprintf("the server offers AUTH %s; patchpilot speaks PLAIN and LOGIN", mechs)}
}

// loginAuth is the LOGIN mechanism, for servers that offer no PLAIN. Like
// smtp.PlainAuth it refuses a connection without TLS to another machine.
type loginAuth struct {
	user, pass, host string
	step             int
}

func (a *loginAuth) Start(s *smtp.ServerInfo) (string, []byte, error) {
	if !s.TLS && !Loopback(s.Name) {
		return "", nil, errors.New("unencrypted connection")
	}
	if s.Name != a.host {
		return "", nil, errors.New("wrong host name")
	}
	a.step = 0
	return "LOGIN", nil, nil
}

func (a *loginAuth) Next(challenge []byte, more bool) ([]byte, error) {
	if !more {
		return nil, nil
	}
	a.step++
	p := strings.ToLower(string(challenge))
	switch {
	case strings.Contains(p, "username") || (a.step == 1 && !strings.Contains(p, "password")):
		return []byte(a.user), nil
	case strings.Contains(p, "password") || a.step == 2:
		return []byte(a.pass), nil
	}
	return nil, errors.New("unexpected LOGIN challenge")
}

// smtpError maps a failure at one step of the dialogue.
func (c Config) smtpError(ctx context.Context, step string, err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		text := fmt.Sprintf("%d %s", tp.Code, oneLine(tp.Msg))
		switch {
		case step == "AUTH" && (tp.Code == 535 || tp.Code == 534 || tp.Code == 530):
			return &patchpilot.DeliveryError{Service: Type, Message: fmt.Sprintf("the mail server refused the credentials (%s); check username %q and the password from %s", text, c.Username, c.PasswordFrom)}
		case tp.Code >= 400 && tp.Code < 500:
			return &patchpilot.DeliveryError{Service: Type, Message: fmt.Sprintf("the mail server deferred %s (%s); sending again later may succeed", step, text), Retryable: true}
		default:
			return &patchpilot.DeliveryError{Service: Type, Message: fmt.Sprintf("the mail server refused %s (%s)", step, text)}
		}
	}
	if ctx.Err() != nil {
		return &patchpilot.DeliveryError{Service: Type, Message: step + ": " + ctx.Err().Error(), Retryable: true}
	}
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
	)
	if errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) {
		return &patchpilot.DeliveryError{Service: Type, Message: fmt.Sprintf("%s: the server's certificate is not trusted: %v; check host, or name the server's CA in ca_file", step, err)}
	}
	if step == "AUTH" && (strings.Contains(err.Error(), "unencrypted connection") || strings.Contains(err.Error(), "wrong host name")) {
		return &patchpilot.DeliveryError{Service: Type, Message: "AUTH: " + err.Error() + "; the password is sent only over TLS or to loopback"}
	}
	return &patchpilot.DeliveryError{Service: Type, Message: fmt.Sprintf("%s: %v", step, unwrapOp(err)), Retryable: true}
}

func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op
	}
	return err
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
