package main

import (
	"go/build"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docFiles are the repository's documents for people.
func docFiles(t *testing.T) []string {
	t.Helper()
	docs, err := filepath.Glob(filepath.Join(repoRoot, "docs/*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("no docs/*.md: %v", err)
	}
	return append([]string{filepath.Join(repoRoot, "README.md")}, docs...)
}

// Every link of README.md and docs/ stays in the repository and leads to a
// file that exists: a reader with a clone has everything.
func TestDocLinks(t *testing.T) {
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, doc := range docFiles(t) {
		data, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(data), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			switch {
			case strings.Contains(m[1], "://"), strings.HasPrefix(m[1], "mailto:"), strings.HasPrefix(m[1], "/"):
				t.Errorf("%s links outside the repository: %s", doc, m[1])
			case target == "":
				// An anchor in the same document.
			default:
				p := filepath.Join(filepath.Dir(doc), target)
				rel, err := filepath.Rel(repoRoot, p)
				if err != nil || strings.HasPrefix(rel, "..") {
					t.Errorf("%s links outside the repository: %s", doc, m[1])
				} else if _, err := os.Stat(p); err != nil {
					t.Errorf("%s links to %s, which does not exist", doc, m[1])
				}
			}
		}
	}
}

// docs/architecture.md draws the packages and who imports whom; the drawing
// is checked against the code, so that it stays true when packages move.
func TestArchitectureDiagram(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "docs/architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(data), "```mermaid\n")
	block, _, _ = strings.Cut(block, "```")
	if !ok || block == "" {
		t.Fatal("docs/architecture.md has no Mermaid diagram")
	}
	// id["package<br/>what it is"] declares a package; a --> b is an import
	// (-.-> are dependencies outside the module, not checked).
	node := regexp.MustCompile(`^\s*(\w+)\["([\w/.-]+)`)
	edge := regexp.MustCompile(`^\s*(\w+)\s*-->\s*(\w+)\s*$`)
	pkgOf := map[string]string{}
	var drawn []string
	for l := range strings.Lines(block) {
		if m := node.FindStringSubmatch(l); m != nil {
			pkgOf[m[1]] = m[2]
		}
		if m := edge.FindStringSubmatch(l); m != nil {
			drawn = append(drawn, m[1]+" "+m[2])
		}
	}
	for i, e := range drawn {
		from, to, _ := strings.Cut(e, " ")
		if pkgOf[from] == "" || pkgOf[to] == "" {
			t.Fatalf("edge %q joins a node that is not a package", e)
		}
		drawn[i] = pkgOf[from] + " → " + pkgOf[to]
	}
	slices.Sort(drawn)

	// The module's packages and their imports of each other, from the
	// sources (test files and test fakes aside).
	const module = "github.com/cacheck/ca-check/"
	imports := map[string][]string{}
	err = filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if name := d.Name(); p != repoRoot && (strings.HasPrefix(name, ".") || name == "testdata") {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(p, 0)
		if err != nil {
			return nil // no Go files
		}
		rel, _ := filepath.Rel(repoRoot, p)
		rel = filepath.ToSlash(rel)
		// The fakes (graphtest, slacktest) and the tests' helpers
		// (testsupport) serve tests alone: not part of the program.
		if strings.HasSuffix(pkg.Name, "test") || strings.HasSuffix(pkg.Name, "testsupport") {
			return nil
		}
		imports[rel] = nil
		for _, imp := range pkg.Imports {
			if dep, ok := strings.CutPrefix(imp, module); ok {
				imports[rel] = append(imports[rel], dep)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var actual []string
	for from, deps := range imports {
		for _, to := range deps {
			actual = append(actual, from+" → "+to)
		}
	}
	slices.Sort(actual)
	drawnPkgs := slices.Sorted(maps.Values(pkgOf))
	actualPkgs := slices.Sorted(maps.Keys(imports))
	if !slices.Equal(drawnPkgs, actualPkgs) {
		t.Errorf("the diagram draws the packages %q; the module has %q", drawnPkgs, actualPkgs)
	}
	if !slices.Equal(drawn, actual) {
		t.Errorf("the diagram draws the imports\n%s\nthe code has\n%s", strings.Join(drawn, "\n"), strings.Join(actual, "\n"))
	}
}
