package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func findSpec(t *testing.T, name, version string) pkgSpec {
	t.Helper()
	for _, p := range repoPackages() {
		if p.Name == name && p.Version == version {
			return p
		}
	}
	t.Fatalf("no package %s %s in the lab repository", name, version)
	return pkgSpec{}
}

// TestDemoClientPackage checks the client's packaging: its own program
// path (so that the process's package is pp-demo-client), installed at
// boot, and a unit that stays idle until a backend is named.
func TestDemoClientPackage(t *testing.T) {
	p := findSpec(t, "pp-demo-client", "1.0.0")
	if !p.Installed {
		t.Error("pp-demo-client is not installed at boot")
	}
	var unit string
	bin := false
	for _, f := range p.Files {
		if f.Path == "usr/bin/pp-demo-client" && f.Binary {
			bin = true
		}
		if f.Path == "lib/systemd/system/"+DemoClientUnit {
			unit = f.Data
		}
	}
	if !bin {
		t.Errorf("pp-demo-client does not ship the demo binary as /usr/bin/pp-demo-client: %+v", p.Files)
	}
	for _, want := range []string{
		"ConditionPathExists=" + DemoClientBackendFile,
		"EnvironmentFile=" + DemoClientBackendFile,
		"EnvironmentFile=-" + hostAddressFile,
		"ExecStart=/usr/bin/pp-demo-client --client --backend=${PP_DEMO_BACKEND} --local-address=${PP_LAB_ADDRESS}",
		"Restart=always",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("the client's unit lacks %q:\n%s", want, unit)
		}
	}
	if s := p.Scripts["postinst"]; !strings.Contains(s, "try-restart pp-demo-client.service") || strings.Contains(s, "invoke restart") {
		t.Errorf("the client's postinst must restart it only when it runs:\n%s", s)
	}
}

// TestDemoWebConffile builds two versions of pp-demo-web and checks with
// dpkg-deb that both list the configuration file as a conffile, and that
// the newer one changes its default.
func TestDemoWebConffile(t *testing.T) {
	for _, tool := range []string{"dpkg-deb"} {
		if _, err := lookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "demo-bin")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	confs := map[string]string{}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		p := findSpec(t, "pp-demo-web", v)
		deb := filepath.Join(dir, p.debName())
		if err := buildDeb(context.Background(), p, bin, filepath.Join(dir, "stage-"+v), deb); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("dpkg-deb", "--info", deb, "conffiles").Output()
		if err != nil {
			t.Fatalf("dpkg-deb --info %s conffiles: %v", deb, err)
		}
		if got := strings.TrimSpace(string(out)); got != DemoWebConfigFile {
			t.Errorf("%s conffiles: %q, want %q", v, got, DemoWebConfigFile)
		}
		x := filepath.Join(dir, "x-"+v)
		if out, err := exec.Command("dpkg-deb", "-x", deb, x).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -x: %v: %s", err, out)
		}
		b, err := os.ReadFile(filepath.Join(x, DemoWebConfigFile))
		if err != nil {
			t.Fatal(err)
		}
		confs[v] = string(b)
		unit, err := os.ReadFile(filepath.Join(x, "lib/systemd/system/pp-demo-web.service"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(unit), "--config="+DemoWebConfigFile) {
			t.Errorf("%s: the unit does not pass the configuration file:\n%s", v, unit)
		}
	}
	if !strings.Contains(confs["1.0.0"], "idle_timeout = 5m") || !strings.Contains(confs["1.1.0"], "idle_timeout = 10m") {
		t.Errorf("the configuration's default does not change from 1.0.0 to 1.1.0:\n1.0.0:\n%s\n1.1.0:\n%s", confs["1.0.0"], confs["1.1.0"])
	}
	// A package without conffiles has no conffiles member.
	p := findSpec(t, "pp-libdemo", "1.0.0")
	deb := filepath.Join(dir, p.debName())
	if err := buildDeb(context.Background(), p, bin, filepath.Join(dir, "stage-lib"), deb); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("dpkg-deb", "--info", deb, "conffiles").Run(); err == nil {
		t.Error("pp-libdemo has a conffiles member; want none")
	}
}
