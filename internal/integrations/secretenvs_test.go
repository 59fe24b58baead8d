package integrations

import (
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
)

// SecretEnvs names the variables of every {env: X} secret of a spec, at
// any depth and in lists, in the order written and once each; a secret
// read from a file names none, and a mapping with an env key and other
// keys (a type's own setting) is not a secret.
func TestSecretEnvs(t *testing.T) {
	var doc yaml.Node
	src := `{name: x, type: t, token: {env: TOKEN}, password: {file: /etc/pw},
  nested: {auth: {env: NESTED}, list: [{env: IN_LIST}, {env: TOKEN}]},
  labels: {env: production, role: web}, empty: {}}`
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	got := Spec{Node: doc.Content[0]}.SecretEnvs()
	if want := []string{"TOKEN", "NESTED", "IN_LIST"}; !slices.Equal(got, want) {
		t.Errorf("SecretEnvs = %v, want %v", got, want)
	}
	if got := (Spec{}).SecretEnvs(); got != nil {
		t.Errorf("SecretEnvs of a spec without settings = %v", got)
	}
}
