package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/cacheck/ca-check/diagnose"
)

// maxPaste bounds what parse reads: pastes are a few KiB; a log file may be
// several MiB.
const maxPaste = 32 << 20

func runParse(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "parse", "[--json] [FILE|-]", "")
	asJSON := fs.Bool("json", false, "print JSON: {\"errors\":[…]}")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return diagnose.Errorf(diagnose.EINVALID, "parse takes one file (or - for standard input), got %d", fs.NArg())
	}
	name := fs.Arg(0)
	text, err := readInput(c, name)
	if err != nil {
		return err
	}
	errs := diagnose.ParseErrors(string(text))
	// ParseErrors keeps the first MaxPasteErrors; a paste that reaches the
	// cap may hold more, which a script must be told.
	truncated := len(errs) >= diagnose.MaxPasteErrors
	if truncated {
		fmt.Fprintf(c.stderr, "ca-check: only the first %d errors are listed\n", diagnose.MaxPasteErrors)
	}
	if *asJSON {
		if errs == nil {
			errs = []diagnose.SignInError{}
		}
		return writeJSON(c.stdout, struct {
			Errors    []diagnose.SignInError `json:"errors"`
			Truncated bool                   `json:"truncated,omitempty"`
		}{errs, truncated})
	}
	_, err = io.WriteString(c.stdout, diagnose.TextErrors(errs))
	return err
}

// readInput reads a file, or standard input for "" and "-", refusing what is
// too large to be a paste.
func readInput(c *cli, name string) ([]byte, error) {
	var r io.Reader = c.stdin
	label := "standard input"
	if name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, diagnose.Errorf(diagnose.EINVALID, "%s: cannot open: %w", name, unwrapPath(err))
		}
		defer f.Close()
		r, label = f, name
	}
	data, err := io.ReadAll(io.LimitReader(r, maxPaste+1))
	if err != nil {
		return nil, diagnose.Errorf(diagnose.EINVALID, "%s: %w", label, unwrapPath(err))
	}
	if len(data) > maxPaste {
		return nil, diagnose.Errorf(diagnose.EINVALID, "%s: larger than %d MiB; pass the part around the error", label, maxPaste>>20)
	}
	return data, nil
}

// unwrapPath drops the *PathError wrapper, whose path the message already names.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// writeJSON writes v as indented JSON; < > & stay readable since the output
// goes to terminals and scripts, never into HTML.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
