package main

import "testing"

// 'help env' reads the struct tags itself now: its output is the one the
// envconfig template printed (testdata/help-env.txt was written by it).
func TestHelpEnvUnchanged(t *testing.T) {
	r := cmd(t, "", "help", "env")
	if r.status != 0 {
		t.Fatalf("status %d: %s", r.status, r.stderr)
	}
	golden(t, "help-env.txt", r.stdout)
}
