package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/redact"
	"github.com/aksguard/aksguard/pkg/report"
	"github.com/aksguard/aksguard/pkg/resourcegraph"
	"github.com/aksguard/aksguard/pkg/servicebus"
	"github.com/aksguard/aksguard/pkg/settings"
	"github.com/aksguard/aksguard/pkg/tablestore"
)

// operatorTables opens the deployed guard's tables for an operator at a
// workstation: by connection string, or at the endpoint as the person
// signed in with the Azure CLI (az login), who needs Storage Table Data
// Reader (report) or Contributor (sweep).
func operatorTables(getenv env) (*tablestore.Store, azcore.TokenCredential, error) {
	conn, endpoint := getenv(settings.TablesConn), getenv(settings.TablesURL)
	if conn == "" && endpoint == "" {
		return nil, nil, fmt.Errorf("set %s (the deployed guard's Table Storage endpoint) or %s", settings.TablesURL, settings.TablesConn)
	}
	if err := tablestore.CheckPrefix(getenv(settings.TablePrefix)); err != nil {
		return nil, nil, err
	}
	cred, err := azidentity.NewAzureCLICredential(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("Azure CLI credential (run az login): %w", err)
	}
	store, err := openTables(conn, endpoint, cred, getenv(settings.TablePrefix))
	if err != nil {
		return nil, nil, fmt.Errorf("open tables: %s", redact.String(err.Error()))
	}
	return store, cred, nil
}

// runReport prints the fleet report from the deployed guard's tables.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) int {
	fs := newFlags("report", "", stderr)
	output := outputFlag("table")
	fs.Var(&output, "output", "table, or json (what the Report function answers)")
	if _, code, ok := parseFlags(fs, args, 0); !ok {
		return code
	}
	store, _, err := operatorTables(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "aksguard report:", err)
		return exitUsage
	}
	rep, err := report.Build(ctx, store, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "aksguard report:", redact.String(err.Error()))
		return 1
	}
	if output == "json" {
		err = json.NewEncoder(stdout).Encode(rep)
	} else {
		err = rep.Text(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "aksguard report:", err)
		return 1
	}
	return exitOK
}

// runSweep sweeps the fleet as the signed-in operator: it lists the
// clusters with Resource Graph, compares them with the deployed guard's
// findings, queues re-evaluations on its Service Bus queue (the deployed
// guard reads the clusters), and saves the day's KPIs.
func runSweep(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) int {
	fs := newFlags("sweep", "", stderr)
	output := outputFlag("table")
	fs.Var(&output, "output", "table, or json: the sweep's outcome")
	if _, code, ok := parseFlags(fs, args, 0); !ok {
		return code
	}
	group := strings.TrimSpace(getenv(settings.SweepScope))
	if group != "" && !managementGroupRE.MatchString(group) {
		fmt.Fprintf(stderr, "aksguard sweep: %s=%q is not a management group id\n", settings.SweepScope, group)
		return exitUsage
	}
	ns := getenv(settings.ServiceBus)
	if ns == "" {
		fmt.Fprintf(stderr, "aksguard sweep: set %s (the deployed guard's Service Bus namespace): re-evaluations go to its queue\n", settings.ServiceBus)
		return exitUsage
	}
	store, cred, err := operatorTables(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "aksguard sweep:", err)
		return exitUsage
	}
	queue, err := servicebus.Open(ns, queueName, cred)
	if err != nil {
		fmt.Fprintln(stderr, "aksguard sweep:", err)
		return exitUsage
	}
	defer queue.Close(context.WithoutCancel(ctx))
	graph, err := resourcegraph.New(cred, nil)
	if err != nil {
		fmt.Fprintln(stderr, "aksguard sweep:", err)
		return 1
	}
	log := redact.Logger(slog.New(slog.NewTextHandler(stderr, nil)))
	out, err := guard.Sweeper{Fleet: graph.Fleet(resourcegraph.FleetScope{ManagementGroup: group}, nil),
		Store: store, Queue: queue, Log: log}.Sweep(ctx)
	if output == "json" {
		if jerr := json.NewEncoder(stdout).Encode(out); jerr != nil && err == nil {
			err = jerr
		}
	} else {
		fmt.Fprintf(stdout, "%d clusters in %d subscriptions with %d Resource Graph queries; %d re-evaluations and %d deletion checks queued, %d waiting\n",
			out.Clusters, out.Subscriptions, out.Queries, out.Evaluations, out.GoneChecks, out.Waiting)
	}
	if err != nil {
		fmt.Fprintln(stderr, "aksguard sweep:", redact.String(err.Error()))
		return 1
	}
	return exitOK
}
