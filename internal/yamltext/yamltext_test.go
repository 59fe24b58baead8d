package yamltext

import "testing"

func TestTabIndented(t *testing.T) {
	data := []byte("a:\n\tb: 1\n  c: 2\n \t d: 3\ne:\tf\n")
	for n, want := range map[int]bool{0: false, 1: false, 2: true, 3: false, 4: true, 5: false, 6: false, 7: false} {
		if got := TabIndented(data, n); got != want {
			t.Errorf("TabIndented(line %d) = %v, want %v", n, got, want)
		}
	}
}
