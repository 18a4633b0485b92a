package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/aksguard/aksguard/pkg/simulate"
)

func runSimulate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) int {
	fs := newFlags("simulate", "SCENARIO.json", stderr)
	output := outputFlag("table")
	fs.Var(&output, "output", "table (a timeline and a summary), or json: one JSON object per line")
	trail := fs.String("trail", "", "with table output, also print this cluster's audit trail")
	verbose := fs.Bool("v", false, "also print the handler's JSON logs to stderr")
	serve := fs.String("serve", "", "after the run, serve the fleet report page at this address (such as 127.0.0.1:8080) until interrupted; the scenario must sweep")
	files, code, ok := parseFlags(fs, args, 1)
	if !ok {
		return code
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "aksguard simulate: want one SCENARIO.json, got %d arguments\n", len(files))
		return exitUsage
	}
	f, err := os.Open(files[0])
	if err != nil {
		fmt.Fprintln(stderr, "aksguard simulate:", err)
		return exitUsage
	}
	defer f.Close()
	sc, err := simulate.Load(f)
	if err != nil {
		fmt.Fprintf(stderr, "aksguard simulate: %s: %v\n", files[0], err)
		return exitUsage
	}
	var trails []string
	if *trail != "" {
		trails = append(trails, *trail)
	}
	return play(ctx, sc, playOptions{command: "simulate", what: "simulation of " + files[0], asJSON: output == "json", trails: trails,
		verbose: *verbose, serve: *serve}, stdout, stderr, getenv)
}
