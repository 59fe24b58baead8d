// Package email sends notifications as e-mail over SMTP: a readable
// summary of the rollout (its stages, hosts succeeded, failed and rolled
// back, its incidents, a link to the dashboard) as plain text, optionally
// with an HTML alternative, and any other mail the app composes (the
// periodic KPI report).
//
// The connection is upgraded with STARTTLS (required by default); a
// password is never sent over a connection without TLS unless the server
// is on the loopback interface. Addresses are checked with net/mail when
// the configuration is read, and nothing from hosts or plans reaches a
// header unencoded, so no data can add a header or a recipient.
package email

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/mail"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/integrations"
)

// Type is the integration type written in patchpilot.yaml.
const Type = "email"

// DefaultPort is the mail submission port (RFC 6409).
const DefaultPort = 587

// The STARTTLS modes.
const (
	StartTLSRequired      = "required"      // refuse a server that does not offer it
	StartTLSOpportunistic = "opportunistic" // use it when offered
	StartTLSNone          = "none"          // never (a relay on loopback)
)

// DefaultTopics are the topics an e-mail integration is told about when
// its configuration lists none: a rollout's end (its summary), a stage
// waiting for approval, a halt, hosts rolled back or whose rollback
// failed, an incident, and a scheduled run that needs a person.
func DefaultTopics() []patchpilot.Topic {
	return []patchpilot.Topic{patchpilot.TopicRolloutFinished, patchpilot.TopicApprovalNeeded, patchpilot.TopicHalted,
		patchpilot.TopicRolledBack, patchpilot.TopicRollbackFailed, patchpilot.TopicIncident, patchpilot.TopicScheduleRun}
}

// Settings are the type's keys in patchpilot.yaml.
type Settings struct {
	Host     string              `yaml:"host"`
	Port     int                 `yaml:"port"`
	StartTLS string              `yaml:"starttls"`
	CAFile   string              `yaml:"ca_file"`
	Username string              `yaml:"username"`
	Password integrations.Secret `yaml:"password"`
	From     string              `yaml:"from"`
	To       []string            `yaml:"to"`
	// HTML adds an HTML alternative to the plain-text body.
	HTML bool `yaml:"html"`
	// KPIReport, when set, mails the KPI report on a schedule.
	KPIReport *KPIReportSettings `yaml:"kpi_report"`
}

// KPIReportSettings schedule the periodic KPI report: every a duration
// after the last one, or each weekday at a time of day (UTC).
type KPIReportSettings struct {
	Every   string   `yaml:"every"`   // "168h", "7d"
	Weekday string   `yaml:"weekday"` // "monday"
	At      string   `yaml:"at"`      // "08:00" UTC, with weekday
	Period  string   `yaml:"period"`  // covered; default every, or 7d
	To      []string `yaml:"to"`      // default the integration's to
}

// KPISchedule is a checked kpi_report setting.
type KPISchedule struct {
	Every   time.Duration // zero when Weekday is set
	Weekday time.Weekday
	At      time.Duration // time of day, with Weekday
	Weekly  bool          // Weekday and At are set
	Period  time.Duration
	To      []*mail.Address
}

// lastSlot is the last weekday at At (UTC) at or before now.
func (k KPISchedule) lastSlot(now time.Time) time.Time {
	now = now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	back := (int(now.Weekday()) - int(k.Weekday) + 7) % 7
	slot := day.AddDate(0, 0, -back).Add(k.At)
	if slot.After(now) {
		slot = slot.AddDate(0, 0, -7)
	}
	return slot
}

// Due reports whether a report is due at now, given when the last one was
// sent (zero: never; the first report goes out at once) and whether that
// attempt failed (a failed attempt is tried again an hour later, or after
// the interval when that is shorter).
func (k KPISchedule) Due(now, last time.Time, failed bool) bool {
	if last.IsZero() {
		return true
	}
	if failed {
		wait := time.Hour
		if k.Every > 0 && k.Every < wait {
			wait = k.Every
		}
		return !now.Before(last.Add(wait))
	}
	if k.Weekly {
		return last.Before(k.lastSlot(now))
	}
	return !now.Before(last.Add(k.Every))
}

// Window is the period the report due at now covers: Period up to the
// last weekly slot for a weekly report, else Period up to now (to the
// minute).
func (k KPISchedule) Window(now time.Time) (from, to time.Time) {
	to = now.UTC().Truncate(time.Minute)
	if k.Weekly {
		to = k.lastSlot(now)
	}
	return to.Add(-k.Period), to
}

// Lookback is how far back the last report must be looked for: a report
// sent longer ago than that is due whatever its time.
func (k KPISchedule) Lookback() time.Duration {
	return max(k.Every, 7*24*time.Hour) + 24*time.Hour
}

// String describes the schedule: "every 168h0m0s", "mondays at 08:00 UTC".
func (k KPISchedule) String() string {
	if k.Weekly {
		return fmt.Sprintf("%ss at %02d:%02d UTC", strings.ToLower(k.Weekday.String()), int(k.At/time.Hour), int(k.At%time.Hour/time.Minute))
	}
	return "every " + k.Every.String()
}

// Config is a checked e-mail integration.
type Config struct {
	Name     string
	Host     string
	Port     int
	StartTLS string
	// RootCAs verify the server's certificate; nil: the system's.
	RootCAs  *x509.CertPool
	Username string
	Password string
	// PasswordFrom names where the password was read, for messages.
	PasswordFrom string
	From         *mail.Address
	To           []*mail.Address
	HTML         bool
	Topics       []patchpilot.Topic
	KPI          *KPISchedule
}

// Check reads a spec's settings, resolves the password and checks every
// key; errors name the file and the key's line, never the password.
func Check(s integrations.Spec, getenv func(string) string) (Config, error) {
	var st Settings
	if err := integrations.DecodeSettings(s, &st); err != nil {
		return Config{}, err
	}
	bad := func(key, format string, args ...any) error {
		return patchpilot.Errorf(patchpilot.EINVALID, "%s:%d: integrations: %s: %s: %s", s.File, s.KeyLine(key), s.Name, key, fmt.Sprintf(format, args...))
	}
	c := Config{Name: s.Name, Host: st.Host, Port: st.Port, StartTLS: st.StartTLS, Username: st.Username, HTML: st.HTML, Topics: s.Topics}
	if len(c.Topics) == 0 {
		c.Topics = DefaultTopics()
	}
	if !validHost(c.Host) {
		return c, bad("host", "expected the mail server's host name or address, such as smtp.example.com, got %q", c.Host)
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Port < 1 || c.Port > 65535 {
		return c, bad("port", "expected a port number (587 for submission with STARTTLS, 25 for a relay), got %d", c.Port)
	}
	if c.StartTLS == "" {
		c.StartTLS = StartTLSRequired
	}
	if !slices.Contains([]string{StartTLSRequired, StartTLSOpportunistic, StartTLSNone}, c.StartTLS) {
		return c, bad("starttls", "expected required, opportunistic or none, got %q", c.StartTLS)
	}
	if st.CAFile != "" {
		pem, err := os.ReadFile(st.CAFile)
		if err != nil {
			return c, bad("ca_file", "%v", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return c, bad("ca_file", "%s holds no PEM certificate", st.CAFile)
		}
		if c.StartTLS == StartTLSNone {
			return c, bad("ca_file", "is of no use with starttls: none")
		}
	}
	if strings.ContainsAny(c.Username, "\r\n\x00") {
		return c, bad("username", "expected one line")
	}
	switch {
	case c.Username != "" && st.Password.IsZero():
		return c, bad("password", "missing; expected {env: VARIABLE} or {file: /path} with username set")
	case c.Username == "" && !st.Password.IsZero():
		return c, bad("username", "missing; a password is given")
	case c.Username != "":
		pw, err := st.Password.Resolve(fmt.Sprintf("%s:%d: integrations: %s: password", s.File, s.KeyLine("password"), s.Name), getenv)
		if err != nil {
			return c, err
		}
		if strings.ContainsAny(pw, "\r\n\x00") {
			return c, bad("password", "the secret from %s holds a line break", st.Password)
		}
		c.Password, c.PasswordFrom = pw, st.Password.String()
		if c.StartTLS == StartTLSNone && !Loopback(c.Host) {
			return c, bad("starttls", "none would send the password in clear to %s; use required (or none only for a relay on loopback)", c.Host)
		}
	}
	from, err := address(st.From)
	if err != nil {
		return c, bad("from", "%v", err)
	}
	c.From = from
	if len(st.To) == 0 {
		return c, bad("to", "missing; expected a list of addresses such as [ops@example.com]")
	}
	if c.To, err = addresses(st.To); err != nil {
		return c, bad("to", "%v", err)
	}
	if st.KPIReport != nil {
		k, key, err := checkKPI(*st.KPIReport, c.To)
		if err != nil {
			return c, bad("kpi_report: "+key, "%v", err)
		}
		c.KPI = &k
	}
	return c, nil
}

func checkKPI(st KPIReportSettings, to []*mail.Address) (KPISchedule, string, error) {
	var k KPISchedule
	switch {
	case st.Every != "" && st.Weekday != "":
		return k, "every", fmt.Errorf("give every or weekday, not both")
	case st.Every != "":
		d, err := duration(st.Every)
		if err != nil || d < time.Hour {
			return k, "every", fmt.Errorf("expected a duration of an hour or more such as 24h or 7d, got %q", st.Every)
		}
		if st.At != "" {
			return k, "at", fmt.Errorf("goes with weekday, not every")
		}
		k.Every, k.Period = d, d
	case st.Weekday != "":
		wd, ok := weekdays[strings.ToLower(st.Weekday)]
		if !ok {
			return k, "weekday", fmt.Errorf("expected a day such as monday, got %q", st.Weekday)
		}
		k.Weekday, k.Weekly, k.Period = wd, true, 7*24*time.Hour
		at := st.At
		if at == "" {
			at = "08:00"
		}
		t, err := time.Parse("15:04", at)
		if err != nil {
			return k, "at", fmt.Errorf("expected a time of day HH:MM (UTC) such as 08:00, got %q", st.At)
		}
		k.At = time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	default:
		return k, "every", fmt.Errorf("missing; expected every: 168h, or weekday: monday with at: \"08:00\"")
	}
	if st.Period != "" {
		d, err := duration(st.Period)
		if err != nil || d < time.Hour {
			return k, "period", fmt.Errorf("expected a duration of an hour or more such as 7d, got %q", st.Period)
		}
		k.Period = d
	}
	k.To = to
	if len(st.To) > 0 {
		var err error
		if k.To, err = addresses(st.To); err != nil {
			return k, "to", err
		}
	}
	return k, "", nil
}

var weekdays = map[string]time.Weekday{
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// duration reads a Go duration or a number of days ("7d").
func duration(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("bad days")
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// address parses one address ("ops@example.com" or "Ops <ops@example.com>").
func address(s string) (*mail.Address, error) {
	if s == "" {
		return nil, fmt.Errorf("missing; expected an address such as \"patchpilot <patchpilot@example.com>\"")
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		return nil, fmt.Errorf("expected one address on one line")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("expected an address such as ops@example.com, got %q (%v)", s, err)
	}
	local, domain, ok := strings.Cut(a.Address, "@")
	if !ok || local == "" || !validHost(strings.Trim(domain, "[]")) {
		return nil, fmt.Errorf("expected an address with a domain such as ops@example.com, got %q", s)
	}
	if strings.ContainsAny(a.Address, "<>\r\n ") {
		return nil, fmt.Errorf("expected a plain address, got %q", s)
	}
	return a, nil
}

func addresses(list []string) ([]*mail.Address, error) {
	var out []*mail.Address
	seen := map[string]bool{}
	for _, s := range list {
		a, err := address(s)
		if err != nil {
			return nil, err
		}
		if seen[strings.ToLower(a.Address)] {
			return nil, fmt.Errorf("%s is listed twice", a.Address)
		}
		seen[strings.ToLower(a.Address)] = true
		out = append(out, a)
	}
	return out, nil
}

// validHost accepts a DNS name or an IP address.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// Loopback reports whether host is this machine's loopback interface.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// tlsConfig is the configuration STARTTLS verifies the server with.
func (c Config) tlsConfig() *tls.Config {
	return &tls.Config{ServerName: c.Host, RootCAs: c.RootCAs, MinVersion: tls.VersionTLS12}
}
