package simulate

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Expect is what a scenario says must be true at its end: the property it
// holds. A run reports every expectation that does not hold.
type Expect struct {
	// Clusters are expectations of clusters, by name.
	Clusters map[string]ClusterExpect `json:"clusters,omitempty"`
	Totals   *TotalsExpect            `json:"totals,omitempty"`
	// KPIs are figures of the last sweep; a scenario that expects them
	// must sweep.
	KPIs *KPIExpect `json:"kpis,omitempty"`
}

// KPIExpect holds the figures of the last sweep to compare.
type KPIExpect struct {
	Clusters         *int `json:"clusters,omitempty"`
	ManagedIdentity  *int `json:"managedIdentity,omitempty"`
	ServicePrincipal *int `json:"servicePrincipal,omitempty"`
	Flagged          *int `json:"flagged,omitempty"`
	ApprovalsPending *int `json:"approvalsPending,omitempty"`
	KubeletPending   *int `json:"kubeletPending,omitempty"`
	Incidents        *int `json:"incidents,omitempty"`
	CaughtAtCreation *int `json:"caughtAtCreation,omitempty"`
	PolicyDisagree   *int `json:"policyDisagree,omitempty"`
}

// ClusterExpect holds the fields of a ClusterResult to compare; a field
// left out is not compared.
type ClusterExpect struct {
	Verdict  *string `json:"verdict,omitempty"`
	Finding  *string `json:"finding,omitempty"`
	Job      *string `json:"job,omitempty"`
	Approval *string `json:"approval,omitempty"`
	// ApprovedBy names a principal of the scenario (or an object id).
	ApprovedBy *string `json:"approvedBy,omitempty"`
	Puts       *int    `json:"puts,omitempty"`
	// Grants is how many role assignments the guard made for the cluster.
	Grants *int `json:"grants,omitempty"`
	// NodeImageUpgrades is how many node image upgrades the guard ran.
	NodeImageUpgrades *int `json:"nodeImageUpgrades,omitempty"`
	// KubeletOnServicePrincipal lists the pools whose kubelet still uses
	// the service principal.
	KubeletOnServicePrincipal *[]string `json:"kubeletOnServicePrincipal,omitempty"`
}

// TotalsExpect holds the totals to compare; Alerts compares the count of
// each type it names.
type TotalsExpect struct {
	Puts               *int           `json:"puts,omitempty"`
	DeadLettered       *int           `json:"deadLettered,omitempty"`
	EventsDeadLettered *int           `json:"eventsDeadLettered,omitempty"`
	StrandedJobs       *int           `json:"strandedJobs,omitempty"`
	Alerts             map[string]int `json:"alerts,omitempty"`
}

// Check compares res with the scenario's expectations and returns a line
// for each that does not hold, sorted.
func (sc *Scenario) Check(res *Result) []string {
	var bad []string
	if sc.Expect == nil {
		return nil
	}
	want := func(what, got string, w *string) {
		if w != nil && *w != got {
			bad = append(bad, fmt.Sprintf("%s = %q, want %q", what, got, *w))
		}
	}
	wantN := func(what string, got int, w *int) {
		if w != nil && *w != got {
			bad = append(bad, fmt.Sprintf("%s = %d, want %d", what, got, *w))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(sc.Expect.Clusters)) {
		e := sc.Expect.Clusters[name]
		i := slices.IndexFunc(res.Clusters, func(c ClusterResult) bool { return strings.EqualFold(c.Name, name) })
		if i < 0 {
			bad = append(bad, "cluster "+name+": not in the fleet")
			continue
		}
		c := res.Clusters[i]
		p := "cluster " + c.Name + ": "
		want(p+"verdict", c.Verdict, e.Verdict)
		want(p+"finding", c.Finding, e.Finding)
		want(p+"job", c.Job, e.Job)
		want(p+"approval", c.Approval, e.Approval)
		if e.ApprovedBy != nil {
			id := *e.ApprovedBy
			if pr, ok := sc.Principals[id]; ok {
				id = pr.ObjectID
			}
			want(p+"approvedBy", c.ApprovedBy, &id)
		}
		wantN(p+"puts", c.Puts, e.Puts)
		wantN(p+"grants", len(c.Grants), e.Grants)
		wantN(p+"nodeImageUpgrades", c.NodeImageUpgrades, e.NodeImageUpgrades)
		if e.KubeletOnServicePrincipal != nil {
			got, w := strings.Join(c.KubeletOnServicePrincipal, ","), strings.Join(*e.KubeletOnServicePrincipal, ",")
			want(p+"kubeletOnServicePrincipal", got, &w)
		}
	}
	if t := sc.Expect.Totals; t != nil {
		wantN("totals: puts", res.Totals.Puts, t.Puts)
		wantN("totals: deadLettered", res.Totals.DeadLettered, t.DeadLettered)
		wantN("totals: eventsDeadLettered", res.Totals.EventsDeadLettered, t.EventsDeadLettered)
		wantN("totals: strandedJobs", res.Totals.StrandedJobs, t.StrandedJobs)
		for _, typ := range slices.Sorted(maps.Keys(t.Alerts)) {
			n := t.Alerts[typ]
			wantN("totals: alerts "+typ, res.Totals.Alerts[typ], &n)
		}
	}
	if e := sc.Expect.KPIs; e != nil {
		k := res.KPIs
		if k == nil {
			bad = append(bad, "kpis: no sweep ran")
		} else {
			wantN("kpis: clusters", k.Clusters, e.Clusters)
			wantN("kpis: managedIdentity", k.ManagedIdentity, e.ManagedIdentity)
			wantN("kpis: servicePrincipal", k.ServicePrincipal, e.ServicePrincipal)
			wantN("kpis: flagged", k.FlaggedTotal, e.Flagged)
			wantN("kpis: approvalsPending", k.ApprovalsPending, e.ApprovalsPending)
			wantN("kpis: kubeletPending", k.KubeletPending, e.KubeletPending)
			wantN("kpis: incidents", k.Incidents, e.Incidents)
			wantN("kpis: caughtAtCreation", k.CaughtAtCreation, e.CaughtAtCreation)
			wantN("kpis: policyDisagree", k.Policy.DisagreeTotal, e.PolicyDisagree)
		}
	}
	slices.Sort(bad)
	return bad
}
