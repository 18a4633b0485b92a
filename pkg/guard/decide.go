package guard

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// rules are the settings the intake's decisions depend on.
type rules struct {
	debounce time.Duration
}

// decision builds the next state of a finding and the effects that go
// with it.
type decision struct {
	next Finding
	out  Outcome
	now  time.Time
	why  cause
}

func (d *decision) effect(e Effect) { d.next.Outbox = append(d.next.Outbox, e) }

func (d *decision) audit(action, detail string) { d.auditBy(action, detail, d.why.actorName()) }

// auditBy is audit with the person it names, where that is not the caller
// of the event.
func (d *decision) auditBy(action, detail, actor string) {
	id := d.next.Cluster
	d.effect(Effect{Audit: &AuditEntry{
		Cluster: id, Key: auditKey(d.now, action, d.why.id), At: d.now, Action: action,
		Actor: actor, Cause: d.why.String(), Detail: detail, JobID: d.next.JobID,
	}})
}

func (d *decision) alert(t AlertType, summary string) { d.alertBy(t, summary, d.why.actorName()) }

// alertBy is alert with the person it names, where that is not the
// caller of the event.
func (d *decision) alertBy(t AlertType, summary, actor string) {
	id := d.next.Cluster
	d.effect(Effect{Alert: &Alert{
		ID: alertID(t, id, d.now), Type: t, Cluster: id, Time: d.now,
		Data: AlertData{ClusterID: id.String(), Summary: summary, Verdict: d.next.Verdict, Reasons: d.next.Reasons,
			Finding: string(d.next.State), JobID: d.next.JobID, Actor: actor},
	}})
}

// wakeJob wakes the finding's job at once: something it waits for changed.
func (d *decision) wakeJob(reason string) {
	if d.next.JobID == "" {
		return
	}
	d.effect(Effect{Message: &Message{
		ID: d.next.JobID + "-" + shortHash(reason, strconv.FormatInt(d.now.UnixNano(), 10)), Kind: MessageJob,
		Cluster: d.next.Cluster, JobID: d.next.JobID, Reason: reason,
	}})
}

// flag opens the finding with a new job, parked until approved. Its first
// timer fires after the debounce, when it re-reads the cluster; that read
// also covers the events the debounce folded away.
func (d *decision) flag(verdict string, debounce time.Duration) {
	id := d.next.Cluster
	wake := d.now.Add(debounce)
	d.next.State = FindingOpen
	d.next.FlaggedAt = d.now
	d.next.ClosedAt = time.Time{}
	d.next.Resolution = ""
	d.next.JobID = newJobID(id, d.now)
	d.next.RecheckAt = wake
	d.out.Result, d.out.JobID = ResultFlagged, d.next.JobID
	d.audit("flagged", verdict)
	d.openJob(wake, "job created", "")
	d.alert(AlertFlagged, flaggedSummary(id, d.next.Verdict, d.next.SPClientID, d.next.JobID))
}

// openJob creates the finding's job, waiting for approval, with its first
// timer at wake.
func (d *decision) openJob(wake time.Time, reason, approvedPlan string) {
	id := d.next.Cluster
	d.effect(Effect{Job: &Job{Cluster: id, ID: d.next.JobID, State: JobAwaitingApproval, CreatedAt: d.now, UpdatedAt: d.now,
		NextWake: wake, WakeSeq: 1, Outcome: awaitingApproval, ApprovedPlan: approvedPlan}})
	d.effect(Effect{Message: &Message{ID: d.next.JobID + "-wake-1", Kind: MessageJob, Cluster: id, JobID: d.next.JobID,
		Seq: 1, Reason: reason, NotBefore: wake}})
}

// close ends an open or exempt finding.
func (d *decision) close(state FindingState, resolution string) {
	d.next.State = state
	d.next.Resolution = resolution
	d.next.ClosedAt = d.now
}

// decide is the intake's rule book: given the stored finding, the cluster
// as ARM returned it (nil when ARM says it does not exist) and what a look
// at its approval tag found, it returns the next finding with its effects
// in the outbox, and whether anything must be saved.
func decide(f Finding, c *Cluster, now time.Time, why cause, r rules, look approvalLook) (Finding, Outcome, bool) {
	d := &decision{next: f, now: now, why: why, out: Outcome{Cluster: f.Cluster, JobID: f.JobID}}
	d.next.Outbox = slices.Clone(f.Outbox)
	d.next.LastEvaluated = now
	if d.next.FirstSeen.IsZero() {
		d.next.FirstSeen = now
	}
	if !d.next.RecheckAt.After(now) {
		d.next.RecheckAt = time.Time{}
	}
	if c == nil {
		return d.gone(f)
	}

	ev := Evaluate(*c)
	d.next.Verdict, d.next.Reasons, d.next.SPClientID = ev.Verdict, ev.Reasons, ""
	if ev.Verdict.Flagged() {
		d.next.SPClientID = strings.TrimSpace(c.ServicePrincipalClientID)
	}
	verdict := string(ev.Verdict) + ": " + strings.Join(ev.Reasons, "; ")
	d.out.Detail = verdict
	if look.next != nil {
		d.next.Approval = look.next
	}
	changed := look.news
	if why.event() {
		d.next.RecentEvents = recent(f.RecentEvents, why.id)
	}
	exempt := d.next.Approval.exemptNow(now)
	expired := !exempt && d.next.Approval != nil && d.next.Approval.Status == ApprovalExempt && f.State == FindingExempt

	switch {
	case exempt && f.State == FindingExempt:
		d.evaluated(f, changed, "exempt; "+verdict)
	case exempt && (f.State == FindingOpen || ev.Verdict.Flagged()):
		reason := d.next.Approval.Reason
		d.close(FindingExempt, "exempt: "+reason)
		d.audit("exempted", reason+"; "+verdict)
		d.alert(AlertExempted, "AKS cluster "+f.Cluster.Name+" is exempt from remediation: "+reason)
		d.wakeJob("exempted")
		d.out.Result, d.out.Detail = ResultExempted, reason
		if end := exemptionEnds(d.next.Approval.Value); !end.IsZero() {
			// Look again when it ends: no event will say so.
			d.effect(Effect{Message: &Message{ID: "exemption-end-" + shortHash(f.Cluster.Key(), strconv.FormatInt(end.Unix(), 10)),
				Kind: MessageEvaluate, Cluster: f.Cluster, NotBefore: end.Add(time.Second), Reason: "the exemption ends"}})
		}
	case kubeletWatched(f, *c):
		d.kubelet(f, *c, changed, verdict)
	case ev.Verdict.Flagged() && f.State == FindingOpen:
		d.evaluated(f, changed, "still flagged; "+verdict)
	case ev.Verdict.Flagged():
		if expired {
			d.audit("exemption-expired", "the exemption "+strconv.Quote(d.next.Approval.Value)+" ended; flagged again")
			d.alert(AlertExemptionExpired, "AKS cluster "+f.Cluster.Name+": its exemption ended and it still uses a service principal; flagged again")
		}
		d.flag(verdict, r.debounce)
		if f.FirstSeen.IsZero() && why.event() {
			d.next.FlaggedWriteAt = why.at
		}
	case ev.Verdict.Compliant() && (f.State == FindingOpen || f.State == FindingExempt):
		d.close(FindingResolved, "now uses a managed identity")
		d.audit("resolved", verdict)
		d.alert(AlertResolved, "AKS cluster "+f.Cluster.Name+" now uses a managed identity; its finding is closed")
		d.wakeJob("finding resolved")
		d.out.Result = ResultResolved
	default:
		if f.State == "" || f.State == FindingDeleted || f.State == FindingExempt {
			d.next.State = FindingClear
		}
		d.evaluated(f, changed, verdict)
	}
	if ev.Verdict == VerdictServicePrincipal && d.next.State == FindingOpen {
		// The pools as last seen on the service principal: a move seen
		// later is measured against them.
		d.next.Kubelet = newKubeletMove(*c, time.Time{})
	}
	switch {
	case changed && (d.next.State == FindingOpen || d.next.State == FindingKubeletPending):
		d.approvalChanged(*d.next.Approval)
	case changed && d.next.Approval.approved() && d.next.State == FindingResolved:
		// A job that migrated the cluster and then stopped (a role it could
		// not re-grant) resumes when approved again.
		d.wakeJob("approved again")
	case look.released && d.next.State == FindingOpen:
		d.wakeJob("approval verified")
	}
	if !look.recheck.IsZero() {
		d.effect(Effect{Message: &Message{
			ID:   "approval-" + shortHash(d.next.Cluster.Key(), strconv.FormatInt(look.recheck.UnixNano(), 10)),
			Kind: MessageEvaluate, Cluster: d.next.Cluster, NotBefore: look.recheck,
			Reason: "look again for Azure's change record of the approval tag",
		}})
	}
	return d.next, d.out, true
}

// kubeletWatched reports whether a read of c follows a cluster whose
// control plane moved from a service principal to a managed identity, by
// the guard's job or by hand, until kubelet moved too.
func kubeletWatched(f Finding, c Cluster) bool {
	if !controlPlaneMigrated(c) {
		return false
	}
	switch f.State {
	case FindingKubeletPending:
		return true
	case FindingOpen:
		return f.Kubelet != nil || f.Verdict == VerdictServicePrincipal
	}
	return false
}

// kubelet records a control plane that moved to its managed identity and
// keeps the finding kubelet-pending until every pool that ran on the
// service principal then has had a new node image.
func (d *decision) kubelet(f Finding, c Cluster, approvalChanged bool, verdict string) {
	name := f.Cluster.Name
	switch {
	case d.next.Kubelet == nil:
		// Never seen on the service principal with its pools: measure
		// from now, which may keep it pending longer than needed.
		d.next.Kubelet = newKubeletMove(c, d.now)
	case d.next.Kubelet.Since.IsZero():
		k := *d.next.Kubelet
		k.Since = d.now
		d.next.Kubelet = &k
	}
	if d.next.SPClientID == "" {
		d.next.SPClientID = f.SPClientID // the credential kubelet may still use
	}
	pending := d.next.Kubelet.onServicePrincipal(c)
	switch {
	case len(pending) == 0:
		d.close(FindingResolved, "the control plane and kubelet use managed identities")
		d.audit("resolved", "kubelet moved on every pool; "+verdict)
		d.alert(AlertResolved, "AKS cluster "+name+" uses managed identities for its control plane and kubelet; its finding is closed")
		d.wakeJob("finding resolved")
		d.out.Result = ResultResolved
	case f.State == FindingKubeletPending:
		d.evaluated(f, approvalChanged, "kubelet-pending on "+strings.Join(pending, ", ")+"; "+verdict)
	default:
		d.next.State = FindingKubeletPending
		detail := "the control plane uses its managed identity; kubelet still uses service principal " + d.next.SPClientID +
			" on pool(s) " + strings.Join(pending, ", ") + " until each gets a node image upgrade"
		d.audit("kubelet-pending", detail+"; "+verdict)
		d.alert(AlertClusterKubeletPending, "AKS cluster "+name+": "+detail)
		d.wakeJob("control plane migrated")
		d.out.Result, d.out.Detail = ResultKubeletPending, detail
	}
}

// evaluated records a read that decided nothing new. A read a timer or a
// job caused, which found the finding as it was, leaves no audit entry: a
// job polling an update would otherwise fill the trail with them.
func (d *decision) evaluated(f Finding, approvalChanged bool, detail string) {
	d.out.Result = ResultEvaluated
	same := !approvalChanged && d.next.State == f.State && d.next.Verdict == f.Verdict && slices.Equal(d.next.Reasons, f.Reasons)
	if d.why.event() || !same {
		d.audit("evaluated", detail)
	}
}

// maxRecentEvents bounds the event ids a finding remembers.
const maxRecentEvents = 16

// recent returns ids with id last, at most maxRecentEvents.
func recent(ids []string, id string) []string {
	out := slices.DeleteFunc(slices.Clone(ids), func(v string) bool { return v == id })
	out = append(out, id)
	if len(out) > maxRecentEvents {
		out = out[len(out)-maxRecentEvents:]
	}
	return out
}

// gone closes the finding of a cluster ARM no longer has.
func (d *decision) gone(f Finding) (Finding, Outcome, bool) {
	id := f.Cluster
	switch {
	case f.State == "":
		return f, Outcome{Result: ResultIgnored, Cluster: id, Detail: "cluster not found"}, false
	case f.State == FindingDeleted || f.Resolution == resolutionDeleted:
		return f, Outcome{Result: ResultDuplicate, Cluster: id, Detail: "cluster already recorded as deleted"}, false
	case f.State == FindingOpen || f.State == FindingKubeletPending:
		d.next.Approval = nil // a cluster created again under this name is approved anew
		d.close(FindingResolved, resolutionDeleted)
		d.audit("resolved", resolutionDeleted)
		d.alert(AlertResolved, "AKS cluster "+id.Name+" was deleted; its finding is closed")
		d.wakeJob(resolutionDeleted)
	default:
		d.next.Approval = nil
		d.close(FindingDeleted, resolutionDeleted)
		d.audit("deleted", resolutionDeleted)
	}
	d.out.Result, d.out.Detail = ResultResolved, resolutionDeleted
	return d.next, d.out, true
}

// approvalChanged records a new approval tag value on an open finding and
// tells whoever must know.
func (d *decision) approvalChanged(a Approval) {
	name := d.next.Cluster.Name
	// Whoever set the tag, as Azure's change record names them; not the
	// caller of the event that made the guard look.
	by := a.By.String()
	switch a.Status {
	case ApprovalApproved:
		d.auditBy("approved", "remediation approved by "+by+provenance(a.Change), by)
		d.alertBy(AlertApproved, "remediation of "+name+" approved by "+by, by)
	case ApprovalRejected, ApprovalInvalid:
		d.auditBy("approval-"+string(a.Status), a.Reason+provenance(a.Change), by)
		d.alertBy(AlertRejected, "approval of "+name+" not accepted: "+a.Reason+
			". To approve, an approver removes the tag "+ApprovalTag+" and sets it again", by)
	case ApprovalRemoved:
		who := "by " + by + provenance(a.Change)
		if a.Change == nil {
			who = "(Azure's change history does not show by whom yet)"
		}
		d.auditBy("approval-removed", "approval tag removed "+who, by)
	case ApprovalPending:
		d.audit("approval-pending", "the tag says "+strconv.Quote(a.Value)+"; nothing runs until Azure's change history says who set it: "+a.Reason)
	case ApprovalUnverified:
		d.audit("approval-unverified", a.Reason)
		d.alert(AlertUnverified, "approval of "+name+" cannot be verified: "+a.Reason+
			". Nothing runs: remove the tag "+ApprovalTag+" and set it again")
	}
	// The job waits on the approval; whatever it became, it looks again.
	if a.Status != ApprovalPending {
		d.wakeJob("approval " + string(a.Status))
	}
	if d.out.Result == ResultEvaluated {
		d.out.Result, d.out.Detail = ResultApproval, string(a.Status)+": "+cmp.Or(a.Reason, "by "+by)
	}
}

// provenance says where Azure recorded a change, for the audit trail.
func provenance(c *Change) string {
	if c == nil {
		return ""
	}
	s := " (Azure's change record: " + c.Type + " at " + stamp(c.At)
	if c.ClientType != "" {
		s += " with " + c.ClientType
	}
	if c.Operation != "" {
		s += " through " + c.Operation
	}
	if c.CorrelationID != "" {
		s += ", correlation " + c.CorrelationID
	}
	return s + ")"
}

func flaggedSummary(id ClusterID, v Verdict, sp, jobID string) string {
	if v == VerdictMixed {
		return "AKS cluster " + id.Name + " has a managed identity but still names service principal " + sp +
			"; review it by hand (job " + jobID + ")"
	}
	return "AKS cluster " + id.Name + " authenticates its control plane with service principal " + sp +
		"; remediation job " + jobID + " is " + awaitingApproval + "; read the plan first: aksguard status " + id.String() +
		" (ready a minute after this alert)"
}
