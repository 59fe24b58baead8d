package email

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/patchpilot/patchpilot/internal/integrations"
)

// Mail is one message to compose: its subject and bodies, and the ids
// that name it (for duplicates) and thread it with its rollout's others.
type Mail struct {
	Subject string
	Text    string
	// HTML is an alternative body; empty for plain text only.
	HTML string
	// ID is the Message-ID's left part, made of letters, digits and
	// ".-_"; empty for a random one. The same ID for the same
	// notification lets mail clients drop a copy sent twice.
	ID string
	// Thread, when set, is the left part of the Message-ID every mail of
	// the thread refers to (References), so that clients thread them.
	Thread string
	// Headers are extra headers (X-Patchpilot-*); their values are
	// encoded like the subject.
	Headers [][2]string
}

// maxSubject caps the subject (in bytes, before encoding).
const maxSubject = 200

// Compose builds the message: headers (From, To, Subject, Date,
// Message-ID, MIME-Version, Content-Type, ...), then the body as
// quoted-printable UTF-8 text, or multipart/alternative with the HTML.
// Header values from data are cleaned of control characters and encoded
// (RFC 2047) when not ASCII, so nothing can add a header.
func Compose(from *mail.Address, to []*mail.Address, m Mail, date time.Time) []byte {
	var b bytes.Buffer
	domain := "patchpilot.invalid"
	if _, d, ok := strings.Cut(from.Address, "@"); ok {
		domain = d
	}
	header := func(k, v string) {
		b.WriteString(k + ": " + v + "\r\n")
	}
	header("From", from.String())
	var tos []string
	for _, a := range to {
		tos = append(tos, a.String())
	}
	header("To", strings.Join(tos, ",\r\n "))
	header("Subject", encodeHeader(integrations.Clip(integrations.OneLine(m.Subject), maxSubject)))
	header("Date", date.Format(time.RFC1123Z))
	id := safeID(m.ID)
	if id == "" {
		id = "patchpilot." + randomHex(12)
	}
	header("Message-ID", "<"+id+"@"+domain+">")
	if t := safeID(m.Thread); t != "" {
		header("References", "<"+t+"@"+domain+">")
	}
	header("Auto-Submitted", "auto-generated")
	for _, h := range m.Headers {
		header(h[0], encodeHeader(integrations.Clip(integrations.OneLine(h[1]), maxSubject)))
	}
	header("MIME-Version", "1.0")
	if m.HTML == "" {
		header("Content-Type", "text/plain; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		writeQP(&b, m.Text)
		return b.Bytes()
	}
	boundary := "=_patchpilot_" + randomHex(16)
	header("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\nThis is a message in MIME format.\r\n")
	for _, part := range []struct{ ctype, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		b.WriteString("\r\n--" + boundary + "\r\n")
		header("Content-Type", part.ctype+"; charset=utf-8")
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		writeQP(&b, part.body)
	}
	b.WriteString("\r\n--" + boundary + "--\r\n")
	return b.Bytes()
}

// writeQP writes s with CRLF line ends as quoted-printable.
func writeQP(b *bytes.Buffer, s string) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	if !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	w := quotedprintable.NewWriter(b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
}

// encodeHeader encodes a header value as RFC 2047 words when it is not
// printable ASCII.
func encodeHeader(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

// safeID keeps the characters a Message-ID's left part may hold.
func safeID(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return -1
	}, s)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
