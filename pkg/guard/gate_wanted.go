package guard

import (
	"fmt"
	"strconv"
)

// stillWanted cancels a job that has not changed the cluster yet when its
// finding closed or its approval was taken away.
func (r *run) stillWanted(j Job) (bool, move) {
	f := r.finding
	switch {
	case f.State != FindingOpen || f.JobID != j.ID:
		reason := "finding is " + string(f.State)
		if f.Resolution != "" {
			reason += ": " + f.Resolution
		}
		if f.State == FindingKubeletPending {
			reason = "the cluster was migrated by someone else (its control plane uses a managed identity; kubelet has yet to move)"
		}
		if f.JobID != j.ID {
			reason = "the finding moved on to job " + f.JobID
		}
		return true, move{state: JobCancelled, outcome: "cancelled: " + reason, alert: AlertCancelled}
	case j.State != JobAwaitingApproval && f.Approval.held():
		// Nothing runs until Azure's record says who set the tag, nor is
		// the job given up: the look that settles it wakes the job.
		return true, move{state: j.State, outcome: "waiting: " + approvalText(f.Approval), wait: r.s.now().Add(approvalWait)}
	case j.State != JobAwaitingApproval && !f.Approval.approved():
		outcome := "cancelled: the approval was removed before the update (" + approvalText(f.Approval) + ")"
		if len(j.Granted) > 0 {
			outcome += fmt.Sprintf("; the %d role assignment(s) already granted to %s stay", len(j.Granted), j.Plan.Target.UserAssigned)
		}
		return true, move{state: JobCancelled, outcome: outcome, alert: AlertCancelled}
	}
	return false, move{}
}

func approvalText(a *Approval) string {
	switch {
	case a == nil:
		return "no approval tag"
	case a.Awaiting != "":
		return string(a.Status) + " by " + a.By.String() + ", being verified again: an event reported request " + a.Awaiting +
			", whose record Azure's change history does not show yet"
	case a.Status == ApprovalPending:
		return "the tag says " + strconv.Quote(a.Value) + ", not yet verified: " + a.Reason
	case a.Reason != "":
		return string(a.Status) + ": " + a.Reason
	}
	return string(a.Status) + " by " + a.By.String()
}
