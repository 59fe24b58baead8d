package health

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseUnitList(t *testing.T) {
	got := parseUnitList(readTestdata(t, "systemctl-list-units-service.txt"))
	if len(got) != 14 {
		t.Errorf("got %d units, want 14: %v", len(got), got)
	}
	for _, want := range []string{"pp-demo-web.service", "ssh.service", "systemd-journald.service"} {
		if !contains(got, want) {
			t.Errorf("%s missing from %v", want, got)
		}
	}
	if got := parseUnitList(readTestdata(t, "systemctl-list-units-failed-one.txt")); !reflect.DeepEqual(got, []string{"pp-capture-fail.service"}) {
		t.Errorf("failed units = %v", got)
	}
	if got := parseUnitList([]byte("● nginx.service loaded failed failed nginx\n")); !reflect.DeepEqual(got, []string{"nginx.service"}) {
		t.Errorf("bulleted = %v", got)
	}
	if got := parseUnitList(nil); got != nil {
		t.Errorf("empty = %v", got)
	}
}

func TestParseUnitShow(t *testing.T) {
	got, err := parseUnitShow(readTestdata(t, "systemctl-show.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := []unitState{
		{ID: "pp-demo-web.service", LoadState: "loaded", ActiveState: "active", SubState: "running"},
		{ID: "ssh.service", LoadState: "loaded", ActiveState: "active", SubState: "running"},
		{ID: "nosuch.service", LoadState: "not-found", ActiveState: "inactive", SubState: "dead"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if _, err := parseUnitShow([]byte("garbage\n")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestHostListeners(t *testing.T) {
	ls, err := parseListeners(readTestdata(t, "ss-Htln.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 25 {
		t.Errorf("got %d listeners, want 25", len(ls))
	}
	// The lab's hosts share one network namespace: only the host's own
	// address and wildcards are its sockets.
	got := hostListeners(ls, "127.0.5.1")
	want := []string{"0.0.0.0:2024", "127.0.5.1:22", "127.0.5.1:8080", "127.0.5.1:9100"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("lab host: got %v, want %v", got, want)
	}
	more, err := parseListeners([]byte("LISTEN 0 4096 127.0.0.53%lo:53 0.0.0.0:*\nLISTEN 0 128 [::]:22 [::]:*\nLISTEN 0 511 *:80 *:*\nLISTEN 0 80 10.0.0.9:3306 0.0.0.0:*\nLISTEN 0 80 10.0.0.5:443 0.0.0.0:*\n"))
	if err != nil {
		t.Fatal(err)
	}
	got = hostListeners(more, "10.0.0.5")
	want = []string{"*:80", "10.0.0.5:443", "127.0.0.53:53", "[::]:22"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("real host: got %v, want %v", got, want)
	}
	if got := hostListeners(more, "web01.example.com"); len(got) != 5 {
		t.Errorf("named host keeps every socket: %v", got)
	}
	if _, err := parseListeners([]byte("LISTEN 0 128 nonsense\n")); err == nil {
		t.Error("short line parsed")
	}
}

func TestJournal(t *testing.T) {
	entries, err := parseJournal(readTestdata(t, "journalctl-err.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("got %d entries, want 3", len(entries))
	}
	e := entries[2]
	if e.Identifier != "pp-capture" || e.Message != "capture: disk quota exceeded" || e.Priority != 3 {
		t.Errorf("entry = %+v", e)
	}
	// The two sshd entries come from the controller's own logins.
	r := judgeJournal(entries, entries[0].Time)
	if r.outcome != "breach" || *r.value != 1 || r.evidence.(journalEvidence).Ignored != 2 {
		t.Errorf("outcome %s value %v evidence %+v", r.outcome, *r.value, r.evidence)
	}
	if !strings.Contains(r.reason, "disk quota exceeded") {
		t.Errorf("reason %q does not quote the message", r.reason)
	}
	// Entries before the apply time are not counted, even within the
	// same second that --since rounds to.
	if r := judgeJournal(entries, e.Time.Add(time.Microsecond)); r.outcome != "pass" {
		t.Errorf("after the last entry: %s %s", r.outcome, r.reason)
	}
	// MESSAGE as an array of bytes (not UTF-8).
	bin := []byte(`{"__REALTIME_TIMESTAMP":"1795680923600915","PRIORITY":"2","MESSAGE":[104,105,255],"_COMM":"x"}` + "\n")
	got, err := parseJournal(bin)
	if err != nil || len(got) != 1 || got[0].Message != "hi\uFFFD" || got[0].Identifier != "x" {
		t.Errorf("binary message: %+v %v", got, err)
	}
	if _, err := parseJournal([]byte("{not json\n")); err == nil {
		t.Error("bad JSON parsed")
	}
	if _, err := parseJournal([]byte(`{"MESSAGE":"x"}` + "\n")); err == nil {
		t.Error("entry without a time parsed")
	}
}

func TestStartupTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{string(readTestdata(t, "systemd-analyze.txt")), 246 * time.Millisecond},
		{"Startup finished in 2.113s (kernel) + 5.301s (userspace) = 7.414s\ngraphical.target reached after 5.2s in userspace\n", 7414 * time.Millisecond},
		{"Startup finished in 3.5s (firmware) + 1.2s (loader) + 1min 2.5s (kernel) + 30s (userspace) = 1min 37.7s\n", 97700 * time.Millisecond},
	}
	for _, tt := range tests {
		got, err := parseStartupTime([]byte(tt.in))
		if err != nil || got != tt.want {
			t.Errorf("%q: got %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := parseStartupTime([]byte("Bootup is not yet finished (org.freedesktop.systemd1.Manager.FinishTimestampMonotonic=0).\n")); err == nil {
		t.Error("unfinished boot parsed")
	}
}

func TestBootAge(t *testing.T) {
	// lab01: PID 1 started at tick 111952, the machine has been up
	// 1122.20 s: the container is 2.68 s old.
	got, err := bootAge(readTestdata(t, "proc-uptime.txt"), readTestdata(t, "proc-1-stat.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if want := 2680 * time.Millisecond; got < want-time.Millisecond || got > want+time.Millisecond {
		t.Errorf("age = %v, want %v", got, want)
	}
	if _, err := bootAge([]byte("1.0 1.0"), readTestdata(t, "proc-1-stat.txt")); err == nil {
		t.Error("negative age accepted")
	}
	if n, err := parseStartTicks([]byte("1 (sys tem) (d)) S 0 1 1 0 -1 4194560 2577 10414 0 2 5 2 6 2 20 0 1 0 4242 20152320")); err != nil || n != 4242 {
		t.Errorf("command with spaces and parentheses: %d, %v", n, err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
