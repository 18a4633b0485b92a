package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/aksguard/aksguard/pkg/demo"
	"github.com/aksguard/aksguard/pkg/guard"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) int {
	fs := newFlags("demo", "", stderr)
	output := outputFlag("table")
	fs.Var(&output, "output", "table, or json: one object per cluster per line on stdout (the timeline goes to stderr)")
	verbose := fs.Bool("v", false, "also print the handler's JSON logs to stderr")
	if _, code, ok := parseFlags(fs, args, 0); !ok {
		return code
	}
	o := demo.Options{Timeline: stdout, Summary: stdout, JSON: output == "json"}
	if o.JSON {
		o.Timeline = stderr
	}
	if *verbose {
		o.Log = slog.New(slog.NewJSONHandler(stderr, nil))
	}
	store, where, err := demoStore(ctx, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "aksguard demo:", err)
		return exitUsage
	}
	o.Store = store
	fmt.Fprintf(o.Timeline, "AKS Identity Guard demo: simulated fleet, records in %s\n", where)
	if err := demo.Run(ctx, o); err != nil {
		fmt.Fprintln(stderr, "aksguard demo:", err)
		return 1
	}
	return exitOK
}

// demoStore is the in-memory store, or Table Storage when a table setting
// is present (Azurite or a real account), in fresh tables so that runs do
// not mix.
func demoStore(ctx context.Context, getenv env) (guard.Store, string, error) {
	conn, endpoint := getenv(envTablesConn), getenv(envTablesURL)
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
	store, err := openTables(conn, endpoint, cred, "demo"+time.Now().UTC().Format("20060102150405"))
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
