package report

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/aksguard/aksguard/pkg/guard"
)

// Text writes the report for a terminal: the headline figures, then the
// flagged clusters and the Azure Policy disagreements.
func (r Report) Text(w io.Writer) error {
	if r.Empty {
		_, err := fmt.Fprintln(w, "No sweep has run yet: the figures appear after the first Sweep.")
		return err
	}
	k := r.Latest
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "fleet as of the sweep at\t%s\n", k.At.UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(tw, "compliance\t%s (%d of %d clusters use a managed identity)\n", Percent(k.ComplianceRate), k.ManagedIdentity, k.Clusters)
	fmt.Fprintf(tw, "on a service principal\t%d (mixed %d, unknown %d)\n", k.ServicePrincipal, k.Mixed, k.Unknown)
	fmt.Fprintf(tw, "flagged\t%d (kubelet pending %d)\n", k.FlaggedTotal, k.KubeletPending)
	ages := ""
	for _, b := range guard.AgeBuckets {
		ages += fmt.Sprintf(" %s:%d", b, k.OpenByAge[b])
	}
	fmt.Fprintf(tw, "open findings by age\t%s\n", ages[min(1, len(ages)):])
	fmt.Fprintf(tw, "approvals pending\t%d\n", k.ApprovalsPending)
	fmt.Fprintf(tw, "mean time to remediate\t%s (%d remediated)\n", MTTR(k.MeanTimeToRemediateSeconds), k.Remediated)
	fmt.Fprintf(tw, "credential incidents\t%d (failed %d, blocked %d)\n", k.Incidents, k.Jobs[guard.JobFailed], k.Jobs[guard.JobBlocked])
	fmt.Fprintf(tw, "caught at creation\t%d (flagged within %s of their write)\n", k.CaughtAtCreation, guard.CaughtWithin)
	fmt.Fprintf(tw, "Azure Policy\t%d assigned, %d agree, %d disagree\n", k.Policy.Assigned, k.Policy.Agree, k.Policy.DisagreeTotal)
	states := slices.Sorted(maps.Keys(k.Jobs))
	for _, s := range states {
		fmt.Fprintf(tw, "jobs %s\t%d\n", s, k.Jobs[s])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(k.Flagged) > 0 {
		fmt.Fprintf(w, "\nflagged clusters (the %d flagged longest ago of %d):\n", len(k.Flagged), k.FlaggedTotal)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RESOURCE GROUP/CLUSTER\tSTATE\tAPPROVER\tAGE\tNEXT STEP")
		for _, f := range k.Flagged {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", Short(f.Cluster), f.State, cmp.Or(f.Approver, "—"), Age(k.At, f.FlaggedAt), f.Next)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(k.Policy.Disagreements) > 0 {
		fmt.Fprintf(w, "\nAzure Policy disagrees on %d clusters:\n", k.Policy.DisagreeTotal)
		for _, d := range k.Policy.Disagreements {
			fmt.Fprintf(w, "  %s: policy %s, guard %s — %s\n", Short(d.Cluster), d.Policy, d.Guard, d.Why)
		}
	}
	return nil
}
