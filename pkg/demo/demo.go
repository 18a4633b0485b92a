// Package demo runs AKS Identity Guard end to end on one machine, with no
// Azure account: a simulated fleet served through the armcontainerservice
// SDK fakes, the real custom handler over loopback HTTP, and a small
// stand-in for the Functions host that delivers Event Grid events and
// Service Bus messages at their scheduled times on a simulated clock.
package demo

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aksguard/aksguard/handlers"
	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/memory"
)

//go:embed fleet.json
var fleetFile []byte

// start is the simulated time the demo begins at.
var start = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)

// Options configure a demo run.
type Options struct {
	// Store keeps the records; an in-memory store when nil.
	Store guard.Store
	// Timeline receives the story as it happens.
	Timeline io.Writer
	// Summary receives the fleet summary at the end: a table, or with JSON
	// one object per cluster per line.
	Summary io.Writer
	JSON    bool
	// Log receives the handler's structured logs; discarded when nil.
	Log *slog.Logger
}

// ClusterState is one line of the JSON summary.
type ClusterState struct {
	ClusterID string        `json:"clusterId"`
	Name      string        `json:"name"`
	Verdict   guard.Verdict `json:"verdict"`
	Finding   string        `json:"finding"`
	Job       string        `json:"job"`
	JobID     string        `json:"jobId,omitempty"`
	Outcome   string        `json:"outcome,omitempty"`
}

// run holds one demo's moving parts.
type run struct {
	o      Options
	fleet  *azurefake.Fleet
	roles  *azurefake.RBAC
	store  guard.Store
	queue  *memory.Queue
	alerts *memory.Alerts
	clock  *clock
	host   *host
	srv    *handlers.Server
	events int // events built so far, for their ids
}

// directoryData is what the fleet file says about Entra ID and RBAC.
type directoryData struct {
	ServicePrincipals []guard.Principal      `json:"servicePrincipals"`
	RoleAssignments   []guard.RoleAssignment `json:"roleAssignments"`
}

// Subscriptions of the demo fleet: changes are enforced in prod only.
const (
	prodSubscription = "/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2"
)

// Run plays the scenario and prints what happened.
func Run(ctx context.Context, o Options) error {
	fleet, err := azurefake.LoadFleet(bytes.NewReader(fleetFile))
	if err != nil {
		return err
	}
	// AKS takes a few polls to migrate a cluster; the guard polls briefly
	// per invocation and resumes from the stored token.
	fleet.SetUpdatePolls(3)
	var dir directoryData
	if err := json.Unmarshal(fleetFile, &dir); err != nil {
		return fmt.Errorf("read the fleet file's directory: %w", err)
	}
	directory := azurefake.NewGraph(dir.ServicePrincipals...)
	defer directory.Close()
	for _, p := range []person{dana, ravi} {
		directory.AddUser(guard.Principal{ObjectID: p.objectID, UPN: p.upn, DisplayName: p.name}, "")
	}
	roles := azurefake.NewRBAC()
	for _, a := range dir.RoleAssignments {
		roles.Add(a)
	}
	r := &run{o: o, fleet: fleet, roles: roles, store: o.Store, queue: memory.NewQueue(), alerts: &memory.Alerts{}, clock: &clock{now: start}}
	if r.store == nil {
		r.store = memory.NewStore()
	}
	if r.o.Log == nil {
		r.o.Log = slog.New(slog.DiscardHandler)
	}
	svc, err := guard.New(guard.Config{
		Clusters:      fleet.Client(),
		Store:         r.store,
		Queue:         r.queue,
		Alerts:        r.alerts,
		Directory:     directory.Client(),
		Roles:         roles.Client(),
		History:       fleet.ResourceGraph(),
		Now:           r.clock.Now,
		Self:          []string{guardMI.objectID, guardClientID},
		Mode:          guard.ModeEnforce,
		EnforceScopes: []string{prodSubscription},
		Approvers:     []string{dana.objectID},
		RoleScopes:    []string{prodSubscription},
		PollWait:      time.Millisecond,
		Log:           r.o.Log,
	})
	if err != nil {
		return err
	}
	r.srv = handlers.New(svc, handlers.Options{Log: r.o.Log})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen on loopback: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- r.srv.Serve(ctx, l, 5*time.Second) }()
	defer func() {
		cancel()
		<-served
	}()
	r.host = &host{base: "http://" + l.Addr().String(), client: &http.Client{Timeout: time.Minute}, queue: r.queue, clock: r.clock,
		deliveries: map[string]int{}}
	if err := r.scenario(ctx); err != nil {
		return err
	}
	return r.summary(ctx)
}

// summary prints where every cluster of the fleet file ended up.
func (r *run) summary(ctx context.Context) error {
	findings, err := r.store.Findings(ctx)
	if err != nil {
		return fmt.Errorf("list findings: %w", err)
	}
	jobs, err := r.store.Jobs(ctx)
	if err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	jobByID := map[string]guard.Job{}
	for _, j := range jobs {
		jobByID[j.ID] = j
	}
	// Every cluster of the fleet, and the deleted ones, which left the
	// fleet but keep their records.
	byID := map[string]*ClusterState{}
	for _, raw := range r.fleet.IDs() {
		id, err := armid.ParseCluster(raw)
		if err != nil {
			return err
		}
		byID[id.String()] = &ClusterState{ClusterID: id.String(), Name: id.Name, Finding: "none", Job: "none"}
	}
	for _, f := range findings {
		st, ok := byID[f.Cluster.String()]
		if !ok {
			st = &ClusterState{ClusterID: f.Cluster.String(), Name: f.Cluster.Name, Job: "none"}
			byID[st.ClusterID] = st
		}
		st.Verdict, st.Finding, st.JobID = f.Verdict, string(f.State), f.JobID
		if j, ok := jobByID[f.JobID]; ok {
			st.Job, st.Outcome = string(j.State), j.Outcome
		}
	}
	states := make([]ClusterState, 0, len(byID))
	for _, st := range byID {
		states = append(states, *st)
	}
	sort.Slice(states, func(i, j int) bool { return states[i].Name < states[j].Name })
	if r.o.JSON {
		enc := json.NewEncoder(r.o.Summary)
		for _, s := range states {
			if err := enc.Encode(s); err != nil {
				return err
			}
		}
	} else {
		fmt.Fprintln(r.o.Summary, "\nFleet")
		tw := tabwriter.NewWriter(r.o.Summary, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  CLUSTER\tVERDICT\tFINDING\tJOB\tOUTCOME")
		for _, s := range states {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.Name, s.Verdict, s.Finding, s.Job, s.Outcome)
		}
		tw.Flush()
	}
	if err := r.trail(ctx, "payments-prod-weu"); err != nil {
		return err
	}
	return r.totals()
}

// trail prints one cluster's audit trail: every decision, who or what
// caused it, and why.
func (r *run) trail(ctx context.Context, name string) error {
	id, err := armid.ParseCluster(r.id(name))
	if err != nil {
		return err
	}
	entries, err := r.store.Audit(ctx, id)
	if err != nil {
		return fmt.Errorf("read the audit trail of %s: %w", name, err)
	}
	w := r.o.Timeline
	fmt.Fprintf(w, "\nAudit trail of %s\n", name)
	for _, e := range entries {
		fmt.Fprintf(w, "  %s  %-18s %-28s %s\n", e.At.Format("15:04:05"), e.Action, e.Actor, e.Detail)
	}
	return nil
}

// totals prints the counts that show the pipeline did each thing once.
func (r *run) totals() error {
	alertCount := map[guard.AlertType]int{}
	for _, a := range r.alerts.Published() {
		alertCount[a.Type]++
	}
	var alerts []string
	for t, n := range alertCount {
		alerts = append(alerts, fmt.Sprintf("%s×%d", strings.TrimPrefix(string(t), "aksguard."), n))
	}
	sort.Strings(alerts)
	stats := r.srv.Stats()
	var outcomes []string
	delivered := int64(0)
	for k, n := range stats {
		outcomes = append(outcomes, fmt.Sprintf("%s=%d", k, n))
		if strings.HasPrefix(k, handlers.ClusterEvents+"/") {
			delivered += n
		}
	}
	sort.Strings(outcomes)
	w := r.o.Timeline
	fmt.Fprintf(w, "\nTotals: %d ARM cluster reads for %d events; %d cluster updates (PUT); %d role assignments created; %d queue messages sent; %d dead-lettered\n",
		r.fleet.Calls("Get"), delivered, r.fleet.Calls("BeginCreateOrUpdate"), r.roles.Calls("Create"), len(r.queue.Sent()), len(r.host.dead))
	fmt.Fprintf(w, "Alerts: %s\n", strings.Join(alerts, ", "))
	fmt.Fprintf(w, "Outcomes: %s\n", strings.Join(outcomes, ", "))
	return nil
}
