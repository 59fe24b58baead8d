package main

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// repoRoot is the repository's top directory, relative to this package.
const repoRoot = "../.."

// quotedCommand finds a command quoted in a message or help text:
// 'patchpilot rollout resume ' or `patchpilot hosts`. Prose such as
// "patchpilot supports ..." is not quoted and not checked.
var quotedCommand = regexp.MustCompile("['`]patchpilot( [^'`]*)")

// hintFlag finds a long flag named in a hint.
var hintFlag = regexp.MustCompile(`(?:^|[\s(,'"])--([a-z][a-z0-9-]*)`)

// foreignFlags are flags of other programs that hints name (dpkg --audit).
var foreignFlags = map[string]bool{"audit": true, "help": true}

// TestQuotedCommandsExist reads every string literal of the program's Go
// files (errors, hints, help texts) and checks that each quoted
// 'patchpilot ...' names a command that exists and takes what follows it.
func TestQuotedCommandsExist(t *testing.T) {
	root := (&cli{}).rootCommand()
	checked := 0
	err := filepath.WalkDir(repoRoot, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != repoRoot && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				checkHintFlags(t, fset, root, call)
			}
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for _, m := range quotedCommand.FindAllStringSubmatch(s, -1) {
				checked++
				if err := checkCommandLine(root, strings.Fields(m[1])); err != "" {
					t.Errorf("%s: %q: %s", fset.Position(lit.Pos()), m[0], err)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 40 {
		t.Errorf("checked only %d quoted commands: the walk missed the sources", checked)
	}
}

// TestDocumentedCommandsExist checks the command lines of the README and
// docs/*.md: every command of a code block that runs patchpilot (or
// bin/patchpilot, with or without sudo) names a command that exists.
func TestDocumentedCommandsExist(t *testing.T) {
	root := (&cli{}).rootCommand()
	files, _ := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	files = append(files, filepath.Join(repoRoot, "README.md"))
	checked := 0
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		inCode, line := false, 0
		for sc.Scan() {
			line++
			text := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(text, "```") {
				inCode = !inCode
				continue
			}
			if !inCode {
				continue
			}
			for _, part := range strings.Split(text, "&&") {
				fields := strings.Fields(part)
				for len(fields) > 0 && (fields[0] == "$" || fields[0] == "sudo") {
					fields = fields[1:]
				}
				if len(fields) < 2 || (fields[0] != "patchpilot" && fields[0] != "bin/patchpilot") {
					continue
				}
				checked++
				if err := checkCommandLine(root, commandWords(fields[1:])); err != "" {
					t.Errorf("%s:%d: %q: %s", file, line, part, err)
				}
			}
		}
		f.Close()
	}
	if checked < 10 {
		t.Errorf("checked only %d documented command lines", checked)
	}
}

// checkHintFlags checks the long flags named in the string literals of a
// WithHint call: each must be a flag of some patchpilot command.
func checkHintFlags(t *testing.T, fset *token.FileSet, root *cobra.Command, call *ast.CallExpr) {
	t.Helper()
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "WithHint" {
		return
	}
	ast.Inspect(call, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil {
			return true
		}
		for _, m := range hintFlag.FindAllStringSubmatch(s, -1) {
			if !foreignFlags[m[1]] && !anyCommandHasFlag(root, m[1]) {
				t.Errorf("%s: hint %q names --%s, which no command has", fset.Position(lit.Pos()), s, m[1])
			}
		}
		return true
	})
}

func anyCommandHasFlag(cmd *cobra.Command, name string) bool {
	if cmd.Flags().Lookup(name) != nil || cmd.PersistentFlags().Lookup(name) != nil {
		return true
	}
	for _, sub := range cmd.Commands() {
		if anyCommandHasFlag(sub, name) {
			return true
		}
	}
	return false
}

// commandWords returns the words of a command line before its first
// optional part, comment, pipe or redirection: the command path, its
// positional arguments and its flags.
func commandWords(fields []string) []string {
	for i, f := range fields {
		if strings.HasPrefix(f, "#") || strings.HasPrefix(f, "[") || strings.ContainsAny(f, "|>&;\\") {
			return fields[:i]
		}
	}
	return fields
}

// checkCommandLine walks words down the command tree and returns what is
// wrong, or "": the first word must be a command, and the words left after
// the deepest command must be arguments it takes.
func checkCommandLine(root *cobra.Command, words []string) string {
	words, flags := splitFlags(words)
	cmd := root
	i := 0
	for ; i < len(words); i++ {
		next := subcommand(cmd, words[i])
		if next == nil {
			break
		}
		cmd = next
	}
	if cmd == root {
		return "no such command"
	}
	for _, f := range flags {
		if foreignFlags[f] || f == "h" {
			continue
		}
		if cmd.Flag(f) == nil && (len(f) != 1 || cmd.Flags().ShorthandLookup(f) == nil && cmd.InheritedFlags().ShorthandLookup(f) == nil) {
			return "'" + cmd.CommandPath() + "' has no flag " + f
		}
	}
	rest := words[i:]
	if len(rest) == 0 {
		return ""
	}
	if cmd.HasAvailableSubCommands() {
		// No command that has subcommands takes arguments.
		return "'" + cmd.CommandPath() + "' has no subcommand " + rest[0]
	}
	if err := cmd.ValidateArgs(rest); err != nil {
		return err.Error()
	}
	return ""
}

// splitFlags splits the words of a quoted command at its first flag: the
// words before it (command path and arguments, up to the first that is not
// a plain lowercase word), and the names of the flags after it.
func splitFlags(fields []string) (words, flags []string) {
	i := 0
	for ; i < len(fields) && plainWord.MatchString(fields[i]); i++ {
	}
	words = fields[:i]
	for _, f := range fields[i:] {
		if name, ok := strings.CutPrefix(f, "-"); ok && name != "" {
			name = strings.TrimPrefix(name, "-")
			name, _, _ = strings.Cut(name, "=")
			if name != "" {
				flags = append(flags, name)
			}
		}
	}
	return words, flags
}

var plainWord = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

func subcommand(cmd *cobra.Command, name string) *cobra.Command {
	for _, c := range cmd.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return c
		}
	}
	return nil
}
