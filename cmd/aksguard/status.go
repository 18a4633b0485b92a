package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/redact"
)

// clusterStatus is what status shows of one cluster.
type clusterStatus struct {
	Finding guard.Finding      `json:"finding"`
	Job     *guard.Job         `json:"job,omitempty"`
	Audit   []guard.AuditEntry `json:"audit"`
}

// runStatus prints, from the deployed guard's tables, one cluster's finding,
// job, plan, approval and audit trail, or the fleet's clusters that are not
// clear.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) int {
	fs := newFlags("status", "[CLUSTER]", stderr)
	output := outputFlag("table")
	fs.Var(&output, "output", "table, or json")
	rest, code, ok := parseFlags(fs, args, -1)
	if !ok {
		return code
	}
	if len(rest) > 1 {
		fmt.Fprintf(stderr, "aksguard status: want at most one CLUSTER (a resource ID or a name), got %d arguments\n", len(rest))
		return exitUsage
	}
	store, _, err := operatorTables(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "aksguard status:", err)
		return exitUsage
	}
	if len(rest) == 0 {
		return fleetStatus(ctx, store, output == "json", stdout, stderr)
	}
	f, err := findCluster(ctx, store, rest[0])
	if err != nil {
		fmt.Fprintln(stderr, "aksguard status:", redact.String(err.Error()))
		if guard.KindOf(err) == guard.KindNotFound || guard.KindOf(err) == guard.KindInvalid {
			return exitUsage
		}
		return 1
	}
	st := clusterStatus{Finding: f}
	if f.JobID != "" {
		j, err := store.Job(ctx, f.Cluster, f.JobID)
		if err != nil && guard.KindOf(err) != guard.KindNotFound {
			fmt.Fprintln(stderr, "aksguard status:", redact.String(err.Error()))
			return 1
		}
		if err == nil {
			st.Job = &j
		}
	}
	if st.Audit, err = store.Audit(ctx, f.Cluster); err != nil {
		fmt.Fprintln(stderr, "aksguard status:", redact.String(err.Error()))
		return 1
	}
	if output == "json" {
		if err := json.NewEncoder(stdout).Encode(st); err != nil {
			return 1
		}
		return exitOK
	}
	printStatus(stdout, st)
	return exitOK
}

// findCluster finds a cluster's finding by resource ID, or by name when
// only one cluster has it.
func findCluster(ctx context.Context, store guard.Store, arg string) (guard.Finding, error) {
	if id, err := armid.ParseCluster(arg); err == nil {
		return store.Finding(ctx, id)
	}
	if strings.Contains(arg, "/") {
		return guard.Finding{}, guard.Errorf(guard.KindInvalid, "%q is not a managed cluster's resource ID", arg)
	}
	all, err := store.Findings(ctx)
	if err != nil {
		return guard.Finding{}, err
	}
	var found []guard.Finding
	for _, f := range all {
		if strings.EqualFold(f.Cluster.Name, arg) {
			found = append(found, f)
		}
	}
	switch len(found) {
	case 0:
		return guard.Finding{}, guard.Errorf(guard.KindNotFound, "no cluster named %q in the guard's records", arg)
	case 1:
		return found[0], nil
	}
	var ids []string
	for _, f := range found {
		ids = append(ids, f.Cluster.String())
	}
	return guard.Finding{}, guard.Errorf(guard.KindInvalid, "%d clusters are named %q; give the resource ID: %s", len(found), arg, strings.Join(ids, ", "))
}

// printStatus writes one cluster's status for a person.
func printStatus(w io.Writer, st clusterStatus) {
	f := st.Finding
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "cluster\t%s\n", f.Cluster)
	fmt.Fprintf(tw, "finding\t%s (%s: %s)\n", f.State, f.Verdict, strings.Join(f.Reasons, "; "))
	if f.Resolution != "" {
		fmt.Fprintf(tw, "resolution\t%s\n", f.Resolution)
	}
	fmt.Fprintf(tw, "flagged\t%s\n", when(f.FlaggedAt))
	fmt.Fprintf(tw, "last read\t%s\n", when(f.LastEvaluated))
	if a := f.Approval; a != nil {
		by := "not yet known"
		if !a.By.IsZero() {
			by = a.By.String()
		}
		fmt.Fprintf(tw, "approval\t%s %q, set by %s%s\n", a.Status, a.Value, by, cmp.Or(prefixed("; ", a.Reason), ""))
	} else {
		fmt.Fprintf(tw, "approval\tnone: tag the cluster %s=approved\n", guard.ApprovalTag)
	}
	if j := st.Job; j != nil {
		fmt.Fprintf(tw, "job\t%s %s (%s)\n", j.ID, j.State, j.Mode)
		if !j.State.Terminal() && !j.NextWake.IsZero() {
			fmt.Fprintf(tw, "next step\t%s\n", when(j.NextWake))
		}
		fmt.Fprintf(tw, "outcome\t%s\n", cmp.Or(j.Outcome, "—"))
	}
	tw.Flush()
	if j := st.Job; j != nil && j.Plan != nil {
		fmt.Fprintln(w, "\nplan")
		for _, l := range j.Plan.Lines() {
			fmt.Fprintln(w, "  - "+l)
		}
	}
	fmt.Fprintln(w, "\naudit trail")
	for _, e := range st.Audit {
		fmt.Fprintf(w, "  %s  %-20s %-28s %s\n", e.At.UTC().Format("2006-01-02 15:04:05"), e.Action, e.Actor, e.Detail)
	}
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// fleetStatus lists the clusters that are not clear: flagged, kubelet
// pending or exempt, with their job's state, from filtered queries.
func fleetStatus(ctx context.Context, store guard.Store, asJSON bool, stdout, stderr io.Writer) int {
	fs, err := store.FindingsIn(ctx, "", guard.FindingOpen, guard.FindingKubeletPending, guard.FindingExempt)
	if err != nil {
		fmt.Fprintln(stderr, "aksguard status:", redact.String(err.Error()))
		return 1
	}
	slices.SortFunc(fs, func(a, b guard.Finding) int { return a.FlaggedAt.Compare(b.FlaggedAt) })
	var out []clusterStatus
	for _, f := range fs {
		st := clusterStatus{Finding: f}
		if f.JobID != "" {
			if j, err := store.Job(ctx, f.Cluster, f.JobID); err == nil {
				st.Job = &j
			}
		}
		out = append(out, st)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		for _, st := range out {
			if err := enc.Encode(st); err != nil {
				return 1
			}
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tRESOURCEGROUP\tFINDING\tJOB\tAPPROVAL\tFLAGGED")
	for _, st := range out {
		job, approval := "-", "-"
		if st.Job != nil {
			job = string(st.Job.State)
		}
		if a := st.Finding.Approval; a != nil {
			approval = string(a.Status)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", st.Finding.Cluster.Name, st.Finding.Cluster.ResourceGroup, st.Finding.State, job, approval, when(st.Finding.FlaggedAt))
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\n%d cluster(s) flagged, kubelet-pending or exempt; aksguard status CLUSTER shows one\n", len(out))
	return exitOK
}
