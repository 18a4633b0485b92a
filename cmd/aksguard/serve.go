package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"github.com/aksguard/aksguard/handlers"
	"github.com/aksguard/aksguard/pkg/aks"
	"github.com/aksguard/aksguard/pkg/eventgrid"
	"github.com/aksguard/aksguard/pkg/graph"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/rbac"
	"github.com/aksguard/aksguard/pkg/redact"
	"github.com/aksguard/aksguard/pkg/report"
	"github.com/aksguard/aksguard/pkg/resourcegraph"
	"github.com/aksguard/aksguard/pkg/servicebus"
	"github.com/aksguard/aksguard/pkg/tablestore"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) int {
	fs := newFlags("serve", "", stderr)
	if _, code, ok := parseFlags(fs, args, 0); !ok {
		return code
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "aksguard", err)
		return exitUsage
	}
	log := redact.Logger(slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: cfg.logLevel})))
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv, closeAll, err := wire(ctx, cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "aksguard serve:", err)
		return exitUsage
	}
	defer closeAll()
	l, err := net.Listen("tcp", "127.0.0.1:"+cfg.port)
	if err != nil {
		fmt.Fprintf(stderr, "aksguard serve: listen on %s: %v\n", cfg.port, err)
		return exitUsage
	}
	log.Info("listening", "addr", l.Addr().String())
	if err := srv.Serve(ctx, l, 30*time.Second); err != nil {
		log.Error("server stopped", "error", err)
		return 1
	}
	log.Info("stopped", "outcomes", srv.Stats())
	return exitOK
}

// openTables is the Table Storage store: by connection string (Azurite or
// an account key) when one is given, else at endpoint with cred.
func openTables(conn, endpoint string, cred azcore.TokenCredential, prefix string) (*tablestore.Store, error) {
	var svc *aztables.ServiceClient
	var err error
	if conn != "" {
		svc, err = tablestore.ServiceClientFromConnectionString(conn, nil)
	} else {
		svc, err = tablestore.ServiceClientFromEndpoint(endpoint, cred, nil)
	}
	if err != nil {
		return nil, err
	}
	return tablestore.New(svc, prefix)
}

// wire builds the handler from the Azure adapters. Nothing connects yet:
// the first invocation does, so start-up stays fast.
func wire(ctx context.Context, cfg config, log *slog.Logger) (*handlers.Server, func(), error) {
	cred, err := cfg.credential()
	if err != nil {
		return nil, nil, fmt.Errorf("credential: %w", err)
	}
	store, err := openTables(cfg.tablesConn, cfg.tablesURL, cred, cfg.tablePrefix)
	if err != nil {
		return nil, nil, err
	}
	// Create the tables if the deployment has not; in the background, so
	// start-up stays fast and needs no network. Until they exist, saves fail
	// and the host retries the invocation.
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := store.EnsureTables(ctx); err != nil {
			log.Error("ensure tables", "tables", store.Tables(), "error", err)
			return
		}
		log.Info("tables ready", "tables", store.Tables())
	}()
	queue, err := servicebus.Open(cfg.serviceBus, queueName, cred)
	if err != nil {
		return nil, nil, err
	}
	alerts, err := eventgrid.New(cfg.alertsURL, cred, cfg.alertsSource, nil)
	if err != nil {
		return nil, nil, err
	}
	directory, err := graph.New(cred, nil)
	if err != nil {
		return nil, nil, err
	}
	history, err := resourcegraph.New(cred, nil)
	if err != nil {
		return nil, nil, err
	}
	gc := cfg.guard
	gc.Clusters, gc.Store, gc.Queue, gc.Alerts = aks.New(cred, nil), store, queue, alerts
	roles := rbac.New(cred, nil)
	gc.Directory, gc.Roles, gc.Permissions, gc.History, gc.Inventory, gc.Log = directory, roles, roles, history, history, log
	gc.Fleet = history.Fleet(resourcegraph.FleetScope{ManagementGroup: cfg.sweepGroup}, nil)
	guardSvc, err := guard.New(gc)
	if err != nil {
		return nil, nil, err
	}
	closeAll := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := queue.Close(ctx); err != nil {
			log.Warn("close service bus sender", "error", err)
		}
	}
	reports := func(ctx context.Context) (report.Report, error) { return report.Build(ctx, store, time.Now()) }
	return handlers.New(guardSvc, handlers.Options{Log: log, Report: reports}), closeAll, nil
}
