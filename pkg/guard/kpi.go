package guard

import (
	"cmp"
	"slices"
	"time"
)

// KPIs are the fleet's figures as the playbook names them, computed by a
// sweep from the rows it listed and the records it read. A snapshot is
// kept per day, so the trend outlives the 14 days Azure keeps change
// history.
type KPIs struct {
	At time.Time `json:"at"`
	// Clusters counts the clusters listed; the verdict counts split it as
	// the listing shows them.
	Clusters         int `json:"clusters"`
	ManagedIdentity  int `json:"managedIdentity"`
	ServicePrincipal int `json:"servicePrincipal"`
	Mixed            int `json:"mixed"`
	Unknown          int `json:"unknown"`
	// ComplianceRate is ManagedIdentity / Clusters, 0 without clusters.
	ComplianceRate float64 `json:"complianceRate"`
	// Findings counts the findings of listed clusters, and the open ones
	// of clusters no longer listed, by state.
	Findings map[FindingState]int `json:"findings"`
	// OpenByAge counts open findings by how long ago they were flagged:
	// "<1d", "1-7d", "7-30d", ">30d".
	OpenByAge map[string]int `json:"openByAge"`
	// Remediated counts resolved findings of clusters still listed, and
	// MeanTimeToRemediate is their mean time from flagged to closed.
	Remediated                 int     `json:"remediated"`
	MeanTimeToRemediateSeconds float64 `json:"meanTimeToRemediateSeconds"`
	// Jobs counts every job ever run by state; Incidents are the failed
	// and blocked ones.
	Jobs      map[JobState]int `json:"jobs"`
	Incidents int              `json:"incidents"`
	// ApprovalsPending counts open findings without a verified approval.
	ApprovalsPending int `json:"approvalsPending"`
	// CaughtAtCreation counts findings flagged the first time the guard
	// saw the cluster, from its event, within CaughtWithin of the write.
	CaughtAtCreation int `json:"caughtAtCreation"`
	// KubeletPending counts clusters whose control plane moved and whose
	// kubelet may still use the service principal.
	KubeletPending int `json:"kubeletPending"`
	// Policy compares the guard's verdicts with Azure Policy's.
	Policy PolicyCheck `json:"policy"`
	// Flagged are the open and kubelet-pending findings flagged longest
	// ago, at most maxFlagged of them, oldest first; FlaggedTotal counts
	// them all. A report reads them here instead of every finding.
	Flagged      []FlaggedCluster `json:"flagged"`
	FlaggedTotal int              `json:"flaggedTotal"`
}

// FlaggedCluster is one row of the report's table of flagged clusters.
type FlaggedCluster struct {
	Cluster   string       `json:"cluster"`
	State     FindingState `json:"state"`
	FlaggedAt time.Time    `json:"flaggedAt"`
	// Approver is who approved the remediation, empty before anyone did.
	Approver string `json:"approver,omitempty"`
	// Job is the remediation job's state, and Next what it waits for.
	Job  JobState `json:"job,omitempty"`
	Next string   `json:"next"`
}

// maxFlagged bounds the flagged clusters a snapshot lists.
const maxFlagged = 100

// KPIDay names the day of a snapshot taken at t: its UTC date.
func KPIDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// CaughtWithin is how soon after the write a flag counts as caught at
// creation.
const CaughtWithin = 5 * time.Minute

// PolicyCheck compares the guard's verdicts with Azure Policy's compliance
// state for PolicyDefinitionID where it is assigned.
type PolicyCheck struct {
	// Assigned counts listed clusters the definition is assigned to.
	Assigned int `json:"assigned"`
	Agree    int `json:"agree"`
	// Disagreements names the clusters where the two disagree, at most
	// maxDisagreements of them; DisagreeTotal counts them all.
	Disagreements []PolicyDisagreement `json:"disagreements"`
	DisagreeTotal int                  `json:"disagreeTotal"`
}

// PolicyDisagreement is one cluster where Azure Policy and the guard
// disagree, and why where the guard can tell.
type PolicyDisagreement struct {
	Cluster string `json:"cluster"`
	Policy  string `json:"policy"`
	Guard   string `json:"guard"`
	Why     string `json:"why"`
}

// maxDisagreements bounds the disagreements a snapshot names, so a day's
// record stays within Table Storage's property size.
const maxDisagreements = 50

// tally adds up the KPIs while a sweep runs.
type tally struct {
	now     time.Time
	k       KPIs
	ttrSum  time.Duration
	ttrSeen int
	oldest  []Finding // flagged longest ago, oldest first
}

func newTally(now time.Time) *tally {
	return &tally{now: now, k: KPIs{At: now, Findings: map[FindingState]int{}, OpenByAge: map[string]int{}}}
}

// add counts one listed cluster and its finding.
func (t *tally) add(r pageResult) {
	t.k.Clusters++
	verdict := r.verdict
	switch verdict {
	case VerdictManagedIdentity:
		t.k.ManagedIdentity++
	case VerdictServicePrincipal:
		t.k.ServicePrincipal++
	case VerdictMixed:
		t.k.Mixed++
	default:
		t.k.Unknown++
	}
	if r.row.Policy != "" {
		t.policy(r, verdict)
	}
	if r.found {
		t.finding(r.finding)
	}
}

func (t *tally) finding(f Finding) {
	t.k.Findings[f.State]++
	if f.State == FindingOpen || f.State == FindingKubeletPending {
		t.flagged(f)
	}
	switch f.State {
	case FindingOpen:
		t.k.OpenByAge[ageBucket(t.now.Sub(f.FlaggedAt))]++
		if !f.Approval.approved() {
			t.k.ApprovalsPending++
		}
	case FindingKubeletPending:
		t.k.KubeletPending++
	case FindingResolved:
		if f.Resolution != resolutionDeleted && !f.FlaggedAt.IsZero() && f.ClosedAt.After(f.FlaggedAt) {
			t.ttrSum += f.ClosedAt.Sub(f.FlaggedAt)
			t.ttrSeen++
		}
	}
	if !f.FlaggedWriteAt.IsZero() && f.FlaggedAt.Sub(f.FlaggedWriteAt) <= CaughtWithin {
		t.k.CaughtAtCreation++
	}
}

// flagged keeps f if it is among the maxFlagged flagged longest ago.
func (t *tally) flagged(f Finding) {
	t.k.FlaggedTotal++
	older := func(a, b Finding) int {
		if c := a.FlaggedAt.Compare(b.FlaggedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.Cluster.Key(), b.Cluster.Key())
	}
	i, _ := slices.BinarySearchFunc(t.oldest, f, older)
	if i >= maxFlagged {
		return
	}
	t.oldest = slices.Insert(t.oldest, i, f)
	if len(t.oldest) > maxFlagged {
		t.oldest = t.oldest[:maxFlagged]
	}
}

// policy compares Azure Policy's state of a listed cluster with the
// guard's verdict: the finding's, read from ARM, where there is one.
func (t *tally) policy(r pageResult, listed Verdict) {
	t.k.Policy.Assigned++
	verdict := listed
	if r.found && r.finding.Verdict != "" {
		verdict = r.finding.Verdict
	}
	compliant := r.row.Policy == "Compliant"
	if compliant == verdict.Compliant() || verdict == VerdictUnknown {
		t.k.Policy.Agree++
		return
	}
	t.k.Policy.DisagreeTotal++
	if len(t.k.Policy.Disagreements) >= maxDisagreements {
		return
	}
	why := "unknown"
	switch {
	case verdict == VerdictMixed:
		why = "the cluster has a managed identity and still names a service principal in servicePrincipalProfile"
	case r.found && r.finding.State == FindingKubeletPending:
		why = "the control plane uses a managed identity; kubelet may still use the service principal"
	case r.found && r.row.PolicyAt.Before(r.finding.LastEvaluated):
		why = "Azure Policy evaluated the cluster at " + stamp(r.row.PolicyAt) + ", before the guard read it at " + stamp(r.finding.LastEvaluated) + "; policy evaluations can lag a day"
	}
	t.k.Policy.Disagreements = append(t.k.Policy.Disagreements, PolicyDisagreement{
		Cluster: r.row.Cluster.ID.String(), Policy: r.row.Policy, Guard: string(verdict), Why: why})
}

// kpis finishes the figures with the job counts.
func (t *tally) kpis(jobs map[JobState]int) KPIs {
	k := t.k
	if k.Clusters > 0 {
		k.ComplianceRate = float64(k.ManagedIdentity) / float64(k.Clusters)
	}
	k.Remediated = t.ttrSeen
	if t.ttrSeen > 0 {
		k.MeanTimeToRemediateSeconds = (t.ttrSum / time.Duration(t.ttrSeen)).Seconds()
	}
	k.Jobs = jobs
	k.Incidents = jobs[JobFailed] + jobs[JobBlocked]
	slices.SortFunc(k.Policy.Disagreements, func(a, b PolicyDisagreement) int { return cmp.Compare(a.Cluster, b.Cluster) })
	return k
}

// AgeBuckets are the OpenByAge keys, youngest first.
var AgeBuckets = []string{"<1d", "1-7d", "7-30d", ">30d"}

func ageBucket(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d < day:
		return AgeBuckets[0]
	case d < 7*day:
		return AgeBuckets[1]
	case d < 30*day:
		return AgeBuckets[2]
	}
	return AgeBuckets[3]
}
