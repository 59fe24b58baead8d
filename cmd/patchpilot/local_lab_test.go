package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/patchpilot/patchpilot"
	"github.com/patchpilot/patchpilot/internal/lab"
)

// The single-machine test has its own lab subnet and Prometheus port so
// that it can boot beside the other labs.
const (
	localLabSubnet     = "127.0.13"
	localLabPrometheus = "127.0.0.1:9213"
	// inHostBinary and inHostDir are where the test puts patchpilot and
	// its database inside the lab host: nothing runs on the test machine.
	inHostBinary = "/usr/local/bin/patchpilot"
	inHostDir    = "/root/pp"
	inHostDB     = inHostDir + "/patchpilot/patchpilot.db"
)

// inHost runs the patchpilot binary inside one lab host, on that host's
// own database, and keeps a transcript of every command and its output.
type inHost struct {
	t          *testing.T
	rl         *rolloutLab
	host       string
	transcript strings.Builder
}

// pp runs 'patchpilot ARGS' in the host, on the host's database, and
// returns its result.
func (h *inHost) pp(args ...string) result {
	h.t.Helper()
	r, err := h.ppMayDie(args...)
	if err != nil {
		h.t.Fatalf("patchpilot %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// ppMayDie is pp for a command that may not come back: one that reboots
// the host it runs on.
func (h *inHost) ppMayDie(args ...string) (result, error) {
	ctx := context.Background()
	r, err := h.rl.dialer.Dial(ctx, h.rl.hosts[h.host])
	if err != nil {
		return result{}, err
	}
	defer r.Close()
	// The database goes to its default place under XDG_DATA_HOME, in the
	// host: inHostDB.
	full := append([]string{"env", "XDG_DATA_HOME=" + inHostDir, inHostBinary}, args...)
	res, err := r.Run(ctx, patchpilot.Command{Args: full, Timeout: 5 * time.Minute})
	fmt.Fprintf(&h.transcript, "# patchpilot %s\n", strings.Join(args, " "))
	h.transcript.Write(res.Stdout)
	h.transcript.Write(res.Stderr)
	if err != nil {
		fmt.Fprintf(&h.transcript, "[connection lost: %v]\n\n", err)
		return result{}, err
	}
	fmt.Fprintf(&h.transcript, "[exit %d]\n\n", res.ExitCode)
	return result{stdout: string(res.Stdout), stderr: string(res.Stderr), code: res.ExitCode}, nil
}

// bootID reads the host's boot id over SSH; "" while it cannot be reached.
func (h *inHost) bootID() string {
	ctx := context.Background()
	r, err := h.rl.dialer.Dial(ctx, h.rl.hosts[h.host])
	if err != nil {
		return ""
	}
	defer r.Close()
	res, err := r.Run(ctx, patchpilot.Command{Args: []string{"cat", "/proc/sys/kernel/random/boot_id"}, Timeout: 5 * time.Second})
	if err != nil || res.ExitCode != 0 {
		return ""
	}
	return strings.TrimSpace(string(res.Stdout))
}

// mustPP runs patchpilot in the host and fails unless it exits with want.
func (h *inHost) mustPP(want int, args ...string) result {
	h.t.Helper()
	r := h.pp(args...)
	if r.code != want {
		h.t.Fatalf("patchpilot %s in %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), h.host, r.code, want, r.stdout, r.stderr)
	}
	return r
}

// install copies the freshly built binary into the host.
func (h *inHost) install() {
	h.t.Helper()
	data, err := os.ReadFile(binary)
	if err != nil {
		h.t.Fatal(err)
	}
	ctx := context.Background()
	r, err := h.rl.dialer.Dial(ctx, h.rl.hosts[h.host])
	if err != nil {
		h.t.Fatalf("dial %s: %v", h.host, err)
	}
	defer r.Close()
	for _, cmd := range []patchpilot.Command{
		{Args: []string{"dd", "of=" + inHostBinary, "bs=1M", "status=none"}, Stdin: data, Timeout: 2 * time.Minute},
		{Args: []string{"chmod", "0755", inHostBinary}},
		{Args: []string{"mkdir", "-p", inHostDir}},
	} {
		res, err := r.Run(ctx, cmd)
		if err != nil || res.ExitCode != 0 {
			h.t.Fatalf("%s in %s: %v, exit %d: %s", strings.Join(cmd.Args, " "), h.host, err, res.ExitCode, res.Stderr)
		}
	}
}

// TestSingleMachineLab runs the whole loop on one machine, as the README's
// quick start does: patchpilot is copied into a lab host and, there, with
// --local and a database of its own, collects, assesses, plans, dry-runs,
// rolls out a pending update of pp-demo-web and rolls it back, without
// SSH, a key or known_hosts: every step goes through the local runner.
func TestSingleMachineLab(t *testing.T) {
	rl := bootLab(t, lab.Options{Hosts: 1, Subnet: localLabSubnet, PrometheusAddress: localLabPrometheus})
	var name string
	for n := range rl.hosts {
		name = n
	}
	h := &inHost{t: t, rl: rl, host: name}
	h.install()
	defer func() {
		t.Logf("transcript:\n%s", h.transcript.String())
		if path := os.Getenv("PP_LOCAL_TRANSCRIPT"); path != "" {
			if err := os.WriteFile(path, []byte(h.transcript.String()), 0o644); err != nil {
				t.Errorf("write transcript: %v", err)
			}
		}
	}()
	if v := rl.version(name, "pp-demo-web"); v != "1.0.0" {
		t.Fatalf("pp-demo-web is %s before the test, want 1.0.0", v)
	}

	h.mustPP(0, "inventory", "collect", "--local")
	if out := rl.sh(name, "ls", inHostDB); strings.TrimSpace(out) != inHostDB {
		t.Fatalf("no database at %s in the host: %q", inHostDB, out)
	}
	var hosts []struct {
		Name    string `json:"name"`
		Address string `json:"address"`
	}
	if err := json.Unmarshal([]byte(h.mustPP(0, "hosts", "-o", "json").stdout), &hosts); err != nil || len(hosts) != 1 {
		t.Fatalf("hosts -o json: %v, %+v", err, hosts)
	}
	if hosts[0].Name != name || hosts[0].Address != "localhost" {
		t.Fatalf("stored host %+v, want %s collected locally", hosts[0], name)
	}
	var updates []struct {
		Package   string `json:"package"`
		Candidate string `json:"candidate_version"`
	}
	if err := json.Unmarshal([]byte(h.mustPP(0, "updates", "-o", "json").stdout), &updates); err != nil {
		t.Fatalf("updates -o json: %v", err)
	}
	pending := false
	for _, u := range updates {
		pending = pending || u.Package == "pp-demo-web"
	}
	if !pending {
		t.Fatalf("no pending update of pp-demo-web among %+v", updates)
	}
	if r := h.mustPP(0, "assess"); !strings.Contains(r.stdout, "pp-demo-web") {
		t.Errorf("assess does not mention pp-demo-web:\n%s", r.stdout)
	}

	// 1.1.0 is the lab's good update of pp-demo-web (the candidate, 1.1.4,
	// fails its postinst on purpose).
	const plan = inHostDir + "/plan.yaml"
	h.mustPP(0, "plan", "--patch", "pp-demo-web=1.1.0", "--out", plan)
	h.reviewPlan(plan)

	dry := h.mustPP(0, "rollout", "start", plan, "--dry-run")
	if !strings.Contains(dry.stdout, "would install pp-demo-web 1.0.0→1.1.0") {
		t.Errorf("dry run does not say what it would install:\n%s", dry.stdout)
	}
	if v := rl.version(name, "pp-demo-web"); v != "1.0.0" {
		t.Fatalf("the dry run changed pp-demo-web to %s", v)
	}

	start := h.mustPP(0, "rollout", "start", plan, "--check-interval", "2s")
	id := strings.TrimPrefix(strings.SplitN(start.stdout, "\n", 2)[0], "rollout ")
	if v := rl.version(name, "pp-demo-web"); v != "1.1.0" {
		t.Fatalf("after the rollout pp-demo-web is %s, want 1.1.0", v)
	}
	if !rl.healthy(name) {
		t.Errorf("the demo service is not healthy after the rollout")
	}

	back := h.mustPP(int(patchpilot.ExitRolledBack), "rollout", "rollback", id, "--check-interval", "2s")
	if v := rl.version(name, "pp-demo-web"); v != "1.0.0" {
		t.Fatalf("after the rollback pp-demo-web is %s, want 1.0.0", v)
	}
	if !rl.healthy(name) {
		t.Errorf("the demo service is not healthy after the rollback")
	}
	for _, out := range []string{dry.stdout + dry.stderr, start.stdout + start.stderr, back.stdout + back.stderr} {
		for _, ssh := range []string{"private key", "known_hosts", "connect:"} {
			if strings.Contains(out, ssh) {
				t.Errorf("the local rollout tried SSH (%q):\n%s", ssh, out)
			}
		}
	}
	// A rollout with no host left changed sends nobody to 'rollback'.
	if hint := patchpilotHint(back.stderr); strings.Contains(hint, "rollout rollback") {
		t.Errorf("after the rollback the hint still offers a rollback: %s", hint)
	}
	h.mustPP(0, "history")

	h.rebootAndResume()
}

// rebootAndResume rolls out the lab's kernel update, whose reboot takes
// the controller down with the machine; once the machine is back,
// 'rollout resume' reads the new boot id and finishes the host.
func (h *inHost) rebootAndResume() {
	t := h.t
	const plan = inHostDir + "/kernel.yaml"
	h.mustPP(0, "plan", "--patch", "pp-kernel-demo=1.1.0", "--out", plan)
	h.reviewPlan(plan)
	before := h.bootID()
	if before == "" {
		t.Fatal("no boot id before the kernel update")
	}
	// The command dies with the machine, or (if the connection outlives
	// it briefly) ends however the shutdown leaves it.
	_, _ = h.ppMayDie("rollout", "start", plan, "--check-interval", "2s", "--lease-ttl", "3s")
	var after string
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
		if after = h.bootID(); after != "" && after != before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host did not come back with a new boot id (still %q)", after)
		}
	}
	// A person resumes once the machine has finished booting; by then the
	// dead controller's lease (3 s) has expired.
	h.rl.sh(h.host, "systemctl", "is-system-running", "--wait")
	time.Sleep(4 * time.Second)
	var list []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := json.Unmarshal([]byte(h.mustPP(0, "rollout", "list", "-o", "json").stdout), &list); err != nil || len(list) == 0 {
		t.Fatalf("rollout list: %v, %+v", err, list)
	}
	id := list[0].ID
	h.mustPP(0, "rollout", "resume", id, "--check-interval", "2s")
	var st struct {
		Stages []struct {
			Hosts []struct {
				State       string `json:"state"`
				BootIDAfter string `json:"boot_id_after"`
			} `json:"hosts"`
		} `json:"stages"`
	}
	if err := json.Unmarshal([]byte(h.mustPP(0, "rollout", "status", id, "-o", "json").stdout), &st); err != nil {
		t.Fatalf("rollout status: %v", err)
	}
	if got := st.Stages[0].Hosts[0]; got.State != "succeeded" || got.BootIDAfter != after {
		t.Errorf("after resume the host is %s with boot id %q recorded, want succeeded with %q", got.State, got.BootIDAfter, after)
	}
	if v := h.rl.version(h.host, "pp-kernel-demo"); v != "1.1.0" {
		t.Errorf("pp-kernel-demo is %s after the resumed rollout, want 1.1.0", v)
	}
}

// reviewPlan does what a person does with a proposed plan before starting
// it: the default bake of a single host is many minutes and a high-risk
// plan asks for approval; the test bakes for 20 seconds with no approval.
// It also drops ports_listening: lab hosts share the test machine's network
// namespace, so that gate would watch every socket of the machine, where
// other tests open and close listeners all the time.
func (h *inHost) reviewPlan(path string) {
	h.t.Helper()
	data := h.rl.sh(h.host, "cat", path)
	edited := regexp.MustCompile(`bake: [0-9a-z]+`).ReplaceAllString(data, "bake: 20s")
	edited = regexp.MustCompile(`,? approval: required`).ReplaceAllString(edited, "")
	edited = strings.ReplaceAll(edited, ", ports_listening]", "]")
	if !strings.Contains(edited, "bake: 20s") {
		h.t.Fatalf("the plan has no bake to shorten:\n%s", data)
	}
	ctx := context.Background()
	r, err := h.rl.dialer.Dial(ctx, h.rl.hosts[h.host])
	if err != nil {
		h.t.Fatal(err)
	}
	defer r.Close()
	res, err := r.Run(ctx, patchpilot.Command{Args: []string{"dd", "of=" + path, "status=none"}, Stdin: []byte(edited)})
	if err != nil || res.ExitCode != 0 {
		h.t.Fatalf("write %s: %v %s", path, err, res.Stderr)
	}
	fmt.Fprintf(&h.transcript, "# (plan reviewed: bake shortened to 20s for the test, no approval, no ports_listening)\n# cat %s\n%s\n", path, edited)
}

// patchpilotHint returns the hint line of a command's standard error.
func patchpilotHint(stderr string) string {
	for _, line := range strings.Split(stderr, "\n") {
		if strings.Contains(strings.ToLower(line), "hint") {
			return line
		}
	}
	return ""
}
