package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/aksguard/aksguard/pkg/demo"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/memory"
	"github.com/aksguard/aksguard/pkg/report"
	"github.com/aksguard/aksguard/pkg/settings"
	"github.com/aksguard/aksguard/pkg/simulate"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) int {
	fs := newFlags("demo", "", stderr)
	output := outputFlag("table")
	fs.Var(&output, "output", "table, or json: simulate's JSON lines on stdout")
	verbose := fs.Bool("v", false, "also print the handler's JSON logs to stderr")
	serve := fs.String("serve", "", "after the run, serve the fleet report page at this address (such as 127.0.0.1:8080) until interrupted")
	if _, code, ok := parseFlags(fs, args, 0); !ok {
		return code
	}
	sc, err := demo.Scenario()
	if err != nil {
		fmt.Fprintln(stderr, "aksguard demo: the embedded scenario:", err)
		return 1
	}
	return play(ctx, sc, playOptions{command: "demo", what: "demo", asJSON: output == "json", trails: []string{demo.Trail},
		verbose: *verbose, serve: *serve}, stdout, stderr, getenv)
}

// playOptions say how demo and simulate play a scenario.
type playOptions struct {
	command, what string
	asJSON        bool
	trails        []string
	verbose       bool
	// serve is where to serve the report page after the run; "" for not.
	serve string
}

// play runs a scenario for demo and simulate: the timeline and summary as
// text on stdout, or JSON lines on stdout with the heading on stderr. It
// exits 1 when the run fails or an expectation of the scenario does not
// hold.
func play(ctx context.Context, sc *simulate.Scenario, po playOptions, stdout, stderr io.Writer, getenv env) int {
	command, asJSON := po.command, po.asJSON
	o := simulate.Options{}
	if po.verbose {
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
		o.Report = simulate.NewText(stdout, po.trails...)
	}
	fmt.Fprintf(heading, "AKS Identity Guard %s: simulated Azure, records in %s\n", po.what, where)
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
	if res.KPIs == nil {
		return exitOK
	}
	// The report as of the last sweep, on the scenario's clock.
	rep, err := report.Build(ctx, store, res.KPIs.At)
	if err != nil {
		fmt.Fprintf(stderr, "aksguard %s: %v\n", command, err)
		return 1
	}
	if !asJSON {
		fmt.Fprintln(stdout, "\nFleet report (as aksguard report prints it)")
		if err := rep.Text(stdout); err != nil {
			return 1
		}
	}
	if po.serve != "" {
		return serveReport(ctx, po.serve, rep, stdout, stderr)
	}
	return exitOK
}

// serveReport serves the report page, and its JSON at /report.json, at
// addr until ctx ends or the process is interrupted.
func serveReport(ctx context.Context, addr string, rep report.Report, stdout, stderr io.Writer) int {
	var page, js bytes.Buffer
	if err := rep.HTML(&page); err != nil {
		fmt.Fprintln(stderr, "aksguard: render the report:", err)
		return 1
	}
	if err := json.NewEncoder(&js).Encode(rep); err != nil {
		fmt.Fprintln(stderr, "aksguard: encode the report:", err)
		return 1
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(stderr, "aksguard: serve the report:", err)
		return exitUsage
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(page.Bytes())
	})
	mux.HandleFunc("GET /report.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(js.Bytes())
	})
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(stdout, "\nServing the report at http://%s/ (JSON at /report.json); Ctrl-C stops.\n", l.Addr())
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "aksguard: serve the report:", err)
		return 1
	}
	return exitOK
}

// recordStore is the in-memory store, or Table Storage when a table
// setting is present (Azurite or a real account), in fresh tables so that
// runs do not mix.
func recordStore(ctx context.Context, getenv env) (guard.Store, string, error) {
	conn, endpoint := getenv(settings.TablesConn), getenv(settings.TablesURL)
	if conn == "" && endpoint == "" {
		return memory.NewStore(), "memory", nil
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
