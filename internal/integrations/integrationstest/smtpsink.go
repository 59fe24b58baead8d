package integrationstest

import (
	"net"
	"net/textproto"
	"strings"
	"testing"
)

// SMTPSink is a mail relay on the loopback, without TLS, that takes every
// message and answers RCPT TO with rcpt ("250 ok", "550 5.1.1 no such
// user"); it returns its port and the messages' DATA, one string each.
// It stops when the test ends.
func SMTPSink(t *testing.T, rcpt string) (int, <-chan string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	msgs := make(chan string, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				tp := textproto.NewConn(c)
				_ = tp.PrintfLine("220 sink")
				for {
					line, err := tp.ReadLine()
					if err != nil {
						return
					}
					switch verb, _, _ := strings.Cut(strings.ToUpper(line), " "); verb {
					case "RCPT":
						_ = tp.PrintfLine("%s", rcpt)
					case "DATA":
						_ = tp.PrintfLine("354 go on")
						lines, err := tp.ReadDotLines()
						if err != nil {
							return
						}
						msgs <- strings.Join(lines, "\n")
						_ = tp.PrintfLine("250 queued")
					case "QUIT":
						_ = tp.PrintfLine("221 bye")
						return
					default:
						_ = tp.PrintfLine("250 ok")
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, msgs
}
