package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Exit codes, like a linter's.
const (
	exitOK       = 0
	exitFindings = 1 // check: some cluster is not compliant
	exitUsage    = 2 // bad input, bad usage or a setting missing
)

const usage = `usage: aksguard <command> [flags]

commands:
  check  FILE|-   verdicts for AKS cluster JSON (ARM, az aks show/list, Resource Graph)
  triage FILE|-   what the intake would do with each Event Grid event; calls nothing
  demo            the whole pipeline on a simulated fleet, no Azure account needed
  simulate FILE   a scenario (settings, fleet, timed steps, faults) through the real handler on a simulated Azure
  sweep           list every cluster with Azure Resource Graph and queue a re-read of those the records disagree with (az login)
  report          the fleet's KPIs from the deployed guard's tables (az login)
  status [CLUSTER] one cluster's finding, job, plan, approval and audit trail, or the clusters not clear (az login)
  serve           the Azure Functions custom handler (started by the Functions host)
  version         the version and commit this binary was built from

Run "aksguard <command> -h" for a command's flags.
`

// env reads a setting; os.Getenv in main, a map in tests.
type env func(string) string

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv env) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "check":
		return runCheck(rest, stdin, stdout, stderr)
	case "triage":
		return runTriage(rest, stdin, stdout, stderr, getenv)
	case "demo":
		return runDemo(ctx, rest, stdout, stderr, getenv)
	case "simulate":
		return runSimulate(ctx, rest, stdout, stderr, getenv)
	case "sweep":
		return runSweep(ctx, rest, stdout, stderr, getenv)
	case "report":
		return runReport(ctx, rest, stdout, stderr, getenv)
	case "status":
		return runStatus(ctx, rest, stdout, stderr, getenv)
	case "serve":
		return runServe(ctx, rest, stdout, stderr, getenv)
	case "version", "--version":
		return runVersion(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "aksguard: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

// newFlags returns a flag set that reports errors to stderr and does not
// exit the process.
func newFlags(name, args string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: aksguard %s [flags] %s\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, flags before or after the arguments
// (aksguard check FILE --output json), and returns the arguments, or false
// with the exit code when parsing stopped the command (help, a bad flag, or
// arguments where want is 0).
func parseFlags(fs *flag.FlagSet, args []string, want int) ([]string, int, bool) {
	var positional []string
	for {
		err := fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			return nil, exitOK, false
		case err != nil:
			return nil, exitUsage, false
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if want == 0 && len(positional) > 0 {
		fmt.Fprintf(fs.Output(), "aksguard %s takes no arguments, got %q\n", fs.Name(), positional)
		fs.Usage()
		return nil, exitUsage, false
	}
	return positional, 0, true
}

// outputFlag adds --output and checks its value after parsing.
type outputFlag string

func (o *outputFlag) String() string { return string(*o) }
func (o *outputFlag) Set(v string) error {
	if v != "table" && v != "json" {
		return fmt.Errorf("want table or json, got %q", v)
	}
	*o = outputFlag(v)
	return nil
}

// openInput opens the one FILE argument, or stdin for "-", to be read as
// a stream. It returns the input, the name messages give it, and what
// closes it.
func openInput(name string, args []string, stdin io.Reader) (io.Reader, string, func(), error) {
	if len(args) != 1 {
		return nil, "", nil, fmt.Errorf("%s: want one FILE argument or - for stdin, got %d arguments", name, len(args))
	}
	if args[0] == "-" {
		return stdin, "stdin", func() {}, nil
	}
	f, err := os.Open(args[0])
	if err != nil {
		return nil, args[0], nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, args[0], func() { f.Close() }, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
