package lab

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// ensureRepo returns the lab's apt repository (a flat repository: the .deb
// files, Packages and Release), built with dpkg-deb and apt-ftparchive and
// cached by a hash of the package specs and the demo binary's source.
func ensureRepo(ctx context.Context, o Options) (string, error) {
	bin, binHash, err := ensureDemoBinary(ctx, o)
	if err != nil {
		return "", err
	}
	specs := repoPackages()
	spec, _ := json.Marshal(specs)
	h := sha256.Sum256(append(spec, []byte(binHash)...))
	dir := filepath.Join(o.CacheDir, "repo-"+hex.EncodeToString(h[:])[:16])
	if _, err := os.Stat(filepath.Join(dir, "Release")); err == nil {
		return dir, nil
	}
	tmp, err := os.MkdirTemp(o.CacheDir, ".tmp-repo-")
	if err != nil {
		return "", patchpilot.Errorf(patchpilot.EINTERNAL, "create repository directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "repo")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", patchpilot.Errorf(patchpilot.EINTERNAL, "create repository directory: %w", err)
	}
	for _, p := range specs {
		if err := buildDeb(ctx, p, bin, filepath.Join(tmp, "stage-"+p.Name+"-"+p.Version), filepath.Join(out, p.debName())); err != nil {
			return "", err
		}
	}
	if err := indexRepo(ctx, out); err != nil {
		return "", err
	}
	if err := os.Rename(out, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, "Release")); serr == nil {
			return dir, nil
		}
		return "", patchpilot.Errorf(patchpilot.EINTERNAL, "store the repository: %w", err)
	}
	o.Logger.Info("built the lab repository", "dir", dir, "packages", len(specs))
	return dir, nil
}

// buildDeb stages a package's files and control data and runs dpkg-deb.
func buildDeb(ctx context.Context, p pkgSpec, demoBin, stage, deb string) error {
	if err := os.MkdirAll(filepath.Join(stage, "DEBIAN"), 0o755); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "stage %s: %w", p.Name, err)
	}
	size := 0
	for _, f := range p.Files {
		dst := filepath.Join(stage, f.Path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "stage %s: %w", p.Name, err)
		}
		var err error
		if f.Binary {
			err = copyFile(demoBin, dst, os.FileMode(f.Mode))
		} else {
			err = os.WriteFile(dst, []byte(f.Data), os.FileMode(f.Mode))
		}
		if err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "stage %s: %w", p.Name, err)
		}
		if fi, err := os.Stat(dst); err == nil {
			size += int(fi.Size()+1023) / 1024
		}
	}
	var c strings.Builder
	fmt.Fprintf(&c, "Package: %s\nVersion: %s\nArchitecture: %s\nMaintainer: patchpilot lab <lab@patchpilot.invalid>\n", p.Name, p.Version, p.Arch)
	fmt.Fprintf(&c, "Installed-Size: %d\nSection: %s\nPriority: optional\n", size, p.Section)
	for _, f := range [][2]string{{"Depends", p.Depends}, {"Conflicts", p.Conflicts}, {"Replaces", p.Replaces}, {"Provides", p.Provides}} {
		if f[1] != "" {
			fmt.Fprintf(&c, "%s: %s\n", f[0], f[1])
		}
	}
	fmt.Fprintf(&c, "Description: %s\n A test package of the patchpilot lab.\n", p.Description)
	if err := os.WriteFile(filepath.Join(stage, "DEBIAN", "control"), []byte(c.String()), 0o644); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "stage %s: %w", p.Name, err)
	}
	var conffiles strings.Builder
	for _, f := range p.Files {
		if f.Conffile {
			conffiles.WriteString("/" + strings.TrimPrefix(f.Path, "/") + "\n")
		}
	}
	if conffiles.Len() > 0 {
		if err := os.WriteFile(filepath.Join(stage, "DEBIAN", "conffiles"), []byte(conffiles.String()), 0o644); err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "stage %s: %w", p.Name, err)
		}
	}
	names := make([]string, 0, len(p.Scripts))
	for n := range p.Scripts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(stage, "DEBIAN", n), []byte(p.Scripts[n]), 0o755); err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "stage %s: %w", p.Name, err)
		}
	}
	// gzip keeps builds fast; the packages are small.
	if _, err := run(ctx, "dpkg-deb", "--root-owner-group", "-Zgzip", "--build", stage, deb); err != nil {
		return err
	}
	return nil
}

// indexRepo writes Packages and Release with apt-ftparchive.
func indexRepo(ctx context.Context, dir string) error {
	cmd, err := command(ctx, "apt-ftparchive", "packages", ".")
	if err != nil {
		return err
	}
	cmd.Dir = dir
	pkgs, err := cmd.Output()
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "apt-ftparchive packages: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Packages"), pkgs, 0o644); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "write Packages: %w", err)
	}
	cmd, err = command(ctx, "apt-ftparchive",
		"-o", "APT::FTPArchive::Release::Origin=patchpilot-lab",
		"-o", "APT::FTPArchive::Release::Label=patchpilot-lab",
		"-o", "APT::FTPArchive::Release::Suite=lab",
		"-o", "APT::FTPArchive::Release::Codename=lab",
		"release", ".")
	if err != nil {
		return err
	}
	cmd.Dir = dir
	rel, err := cmd.Output()
	if err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "apt-ftparchive release: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Release"), rel, 0o644); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "write Release: %w", err)
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
