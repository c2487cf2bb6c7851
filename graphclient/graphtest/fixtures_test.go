package graphtest

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLoadDir loads diagnose's tenant export, so that a fixture shape the
// fake cannot serve shows up here.
func TestLoadDir(t *testing.T) {
	dir := filepath.Join("..", "..", "diagnose", "testdata", "tenant")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("no diagnose tenant export")
	}
	var tn Tenant
	if err := tn.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	if len(tn.Policies) == 0 || len(tn.NamedLocations) == 0 {
		t.Errorf("loaded %d policies, %d named locations", len(tn.Policies), len(tn.NamedLocations))
	}
	if err := tn.LoadDir(t.TempDir()); err != nil {
		t.Errorf("an empty export: %v", err)
	}
}
