package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/aksguard/aksguard/pkg/demo"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/settings"
	"github.com/aksguard/aksguard/pkg/simulate"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) int {
	fs := newFlags("demo", "", stderr)
	output := outputFlag("table")
	fs.Var(&output, "output", "table, or json: simulate's JSON lines on stdout")
	verbose := fs.Bool("v", false, "also print the handler's JSON logs to stderr")
	if _, code, ok := parseFlags(fs, args, 0); !ok {
		return code
	}
	sc, err := demo.Scenario()
	if err != nil {
		fmt.Fprintln(stderr, "aksguard demo: the embedded scenario:", err)
		return 1
	}
	return play(ctx, sc, "demo", "demo", output == "json", []string{demo.Trail}, *verbose, stdout, stderr, getenv)
}

// play runs a scenario for demo and simulate: the timeline and summary as
// text on stdout, or JSON lines on stdout with the heading on stderr. It
// exits 1 when the run fails or an expectation of the scenario does not
// hold.
func play(ctx context.Context, sc *simulate.Scenario, command, what string, asJSON bool, trails []string, verbose bool, stdout, stderr io.Writer, getenv env) int {
	o := simulate.Options{}
	if verbose {
		o.Log = slog.New(slog.NewJSONHandler(stderr, nil))
	}
	store, where, err := recordStore(ctx, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "aksguard %s: %v\n", command, err)
		return exitUsage
	}
	o.Store = store
	heading, lines := stdout, (*simulate.JSONLines)(nil)
	if asJSON {
		heading, lines = stderr, simulate.NewJSONLines(stdout)
		o.Report = lines
	} else {
		o.Report = simulate.NewText(stdout, trails...)
	}
	fmt.Fprintf(heading, "AKS Identity Guard %s: simulated Azure, records in %s\n", what, where)
	res, err := simulate.Run(ctx, sc, o)
	if err != nil {
		fmt.Fprintf(stderr, "aksguard %s: %v\n", command, err)
		return 1
	}
	if lines != nil && lines.Err() != nil {
		fmt.Fprintf(stderr, "aksguard %s: %v\n", command, lines.Err())
		return exitUsage
	}
	if bad := sc.Check(res); len(bad) > 0 {
		fmt.Fprintf(stderr, "aksguard %s: %d expectation(s) of the scenario do not hold:\n  - %s\n", command, len(bad), strings.Join(bad, "\n  - "))
		return exitFindings
	}
	return exitOK
}

// recordStore is the in-memory store, or Table Storage when a table
// setting is present (Azurite or a real account), in fresh tables so that
// runs do not mix.
func recordStore(ctx context.Context, getenv env) (guard.Store, string, error) {
	conn, endpoint := getenv(settings.TablesConn), getenv(settings.TablesURL)
	if conn == "" && endpoint == "" {
		return nil, "memory", nil
	}
	var cred azcore.TokenCredential
	if conn == "" {
		var err error
		if cred, err = azidentity.NewDefaultAzureCredential(nil); err != nil {
			return nil, "", fmt.Errorf("credential for %s: %w", endpoint, err)
		}
	}
	store, err := openTables(conn, endpoint, cred, "sim"+time.Now().UTC().Format("20060102150405"))
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := store.EnsureTables(ctx); err != nil {
		return nil, "", err
	}
	return store, fmt.Sprintf("Table Storage tables %v", store.Tables()), nil
}
