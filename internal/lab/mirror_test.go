package lab

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindMirror(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{
			name: "one-line with options and security first",
			files: map[string]string{"sources.list": "# comment\n" +
				"deb http://security.debian.org/debian-security bookworm-security main\n" +
				"deb-src http://src.example/debian bookworm main\n" +
				"deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n"},
			want: "http://mirror.example/debian",
		},
		{
			name: "deb822 skips disabled stanzas and other suites",
			files: map[string]string{"sources.list.d/debian.sources": "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n" +
				"Types: deb\n# a comment\nURIs: http://deb.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /k.gpg\n\n" +
				"Types: deb\nURIs: http://deb.example/debian-security\nSuites: bookworm-security\nComponents: main\n"},
			want: "http://deb.example/debian",
		},
		{
			name:  "sources.list wins over sources.list.d",
			files: map[string]string{"sources.list": "deb http://a.example/debian bookworm main\n", "sources.list.d/b.list": "deb http://b.example/debian bookworm main\n"},
			want:  "http://a.example/debian",
		},
		{
			name:  "main is required",
			files: map[string]string{"sources.list": "deb http://a.example/debian bookworm contrib\n", "sources.list.d/z.sources": "Types: deb\nURIs: http://z.example/debian\nSuites: bookworm\nComponents: main\n"},
			want:  "http://z.example/debian",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(root, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := findMirror(root, "bookworm")
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := findMirror(t.TempDir(), "bookworm"); err == nil {
		t.Error("no sources: got no error")
	}
}
