// Command ca-check diagnoses Conditional Access policies that block a
// Microsoft 365 partner's service provider users in a customer tenant, and
// runs the ca-check Slack bot.
//
// Usage:
//
//	ca-check serve                       run the Slack bot
//	ca-check parse [--json] [FILE|-]     find AADSTS errors in a paste
//	ca-check diagnose …                  evaluate policies, offline or live
//	ca-check tenants                     list GDAP customers
//	ca-check scan [--json|--csv] …       check every GDAP customer
//	ca-check version                     the version, commit and commit time
//	ca-check help [env|COMMAND]          this help, or the environment variables
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/cacheck/ca-check/diagnose"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], newCLI(os.Stdin, os.Stdout, os.Stderr)))
}

// newCLI is the cli of a process: what live commands are doing goes to
// stderr when a person watches it, never into a pipe or a log file.
func newCLI(stdin io.Reader, stdout io.Writer, stderr *os.File) *cli {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, version: readVersion()}
	if isTerminal(stderr) {
		c.progress = stderr
	}
	return c
}

// isTerminal reports whether f is a character device: a terminal (or
// /dev/null, where what is written is lost anyway), not a pipe or a file.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// cli is what a command may touch of the outside world, so tests can run
// every command in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// graphTransport, when set, carries every request to Graph and Entra
	// ID: tests point it at a fake's TLS certificate.
	graphTransport http.RoundTripper
	// progress, when set, is told what a live command is doing, a line
	// per step (stderr at a terminal).
	progress io.Writer
	// version is the binary's; zero means read it from the build info.
	version buildVersion
}

// buildVersion is the binary's version, as c.version or the build info.
func (c *cli) buildVersion() buildVersion {
	if c.version.Version == "" {
		return readVersion()
	}
	return c.version
}

type command struct {
	name, summary string
	run           func(ctx context.Context, c *cli, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the Slack bot (Socket Mode, or HTTP with CACHECK_HTTP_ADDR)", runServe},
		{"parse", "find AADSTS errors and their fields in a pasted error", runParse},
		{"diagnose", "evaluate Conditional Access policies for a partner sign-in, from exported JSON or live (--tenant)", runDiagnose},
		{"tenants", "list the partner's GDAP customers with relationship status and end date", runTenants},
		{"scan", "check every GDAP customer for policies that block the partner, with a summary", runScan},
		{"healthcheck", "exit 0 when the local bot answers /healthz (for container health checks)", runHealthcheck},
		{"version", "print the version, the commit and its time", runVersion},
		{"help", "show help for a command, or 'help env' for the environment variables", runHelp},
	}
}

// run executes one command line and returns the process exit status: 0 on
// success whatever the verdict, 2 for bad usage or input, 1 otherwise.
func run(ctx context.Context, args []string, c *cli) int {
	if len(args) == 0 {
		usage(c.stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	if name == "-h" || name == "--help" || name == "-help" {
		name = "help"
	}
	for _, cmd := range commands() {
		if cmd.name == name {
			return exitStatus(c.stderr, cmd.run(ctx, c, rest))
		}
	}
	fmt.Fprintf(c.stderr, "ca-check: unknown command %q\n", name)
	usage(c.stderr)
	return 2
}

// exitStatus is the one place that turns an error into a line on stderr and
// an exit status.
func exitStatus(stderr io.Writer, err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		// The flag package already printed what was wrong.
		return 2
	}
	fmt.Fprintf(stderr, "ca-check: %s\n", diagnose.ErrorMessage(err))
	if diagnose.ErrorCode(err) == diagnose.EINVALID {
		return 2
	}
	return 1
}

// errUsage marks a usage error the flag package has reported already.
var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: ca-check COMMAND [flags]\n\nCommands:")
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintln(w, "\nRun 'ca-check COMMAND --help' for a command's flags, 'ca-check help env' for configuration.")
}

func runHelp(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 {
		usage(c.stdout)
		return nil
	}
	if args[0] == "env" {
		return printEnv(c.stdout)
	}
	for _, cmd := range commands() {
		if cmd.name == args[0] && cmd.name != "help" {
			help := *c
			help.stderr = c.stdout
			return cmd.run(ctx, &help, []string{"--help"})
		}
	}
	return diagnose.Errorf(diagnose.EINVALID, "no help for %q: run 'ca-check help' for the commands", args[0])
}

// newFlags returns a flag set that reports to c.stderr and never exits.
// Its usage says about (when not empty) after the synopsis, then lists the
// flags, if the command has any.
func newFlags(c *cli, name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, strings.TrimSpace("Usage: ca-check "+name+" "+synopsis))
		if about != "" {
			fmt.Fprint(w, "\n"+about)
		}
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(w, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args, mapping the flag package's errors onto ours.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}
