package guard

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func tagged(value string) Cluster {
	c := *spC
	if value != "" {
		c.Tags = map[string]string{"Aksguard-Remediation": value}
	}
	return c
}

func TestObserveApproval(t *testing.T) {
	dana := Actor{ObjectID: "5f0c2a4e-8d9b-4c71-9e3a-2b6d1f7a8c90", UPN: "dana@contoso.com"}
	eve := Actor{ObjectID: "e0e0e0e0-0000-4000-8000-000000000000", UPN: "eve@contoso.com"}
	list := []string{"5F0C2A4E-8D9B-4C71-9E3A-2B6D1F7A8C90"}
	approved := &Approval{Value: "approved", Status: ApprovalApproved}
	tests := []struct {
		name      string
		prev      *Approval
		value     string
		src       source
		actor     Actor
		approvers []string
		changed   bool
		status    ApprovalStatus
		reason    string
		by        Actor
	}{
		{"no tag, never seen", nil, "", fromTagsWrite, dana, nil, false, "", "", Actor{}},
		{"approved by anyone", nil, "approved", fromTagsWrite, dana, nil, true, ApprovalApproved, "", dana},
		{"approved, other case and spaces", nil, " Approved ", fromTagsWrite, dana, nil, true, ApprovalApproved, "", dana},
		{"approved by a listed approver", nil, "approved", fromTagsWrite, dana, list, true, ApprovalApproved, "", dana},
		{"approved by someone else", nil, "approved", fromTagsWrite, eve, list, true, ApprovalRejected, "eve@contoso.com is not on the approver list", eve},
		{"exempted by someone else", nil, "exempt:lab", fromTagsWrite, eve, list, true, ApprovalRejected, "eve@contoso.com is not on the approver list", eve},
		{"approved through a cluster write, no list", nil, "approved", fromClusterWrite, dana, nil, true, ApprovalApproved, "", dana},
		{"approved through a cluster write, list set: wait for the tags write", nil, "approved", fromClusterWrite, dana, list, false, "", "", Actor{}},
		{"seen by a timer, no list: approver unknown", nil, "approved", fromMessage, Actor{}, nil, true, ApprovalApproved, "", Actor{}},
		{"seen by a timer, list set: wait for the tags write", nil, "approved", fromMessage, Actor{}, list, false, "", "", Actor{}},
		{"removed, seen by a timer, list set", approved, "", fromMessage, Actor{}, list, true, ApprovalRemoved, "", Actor{}},
		{"unchanged", approved, "APPROVED", fromTagsWrite, dana, nil, false, "", "", Actor{}},
		{"exempt", nil, "exempt: decommissioned in Q2", fromTagsWrite, dana, nil, true, ApprovalExempt, "decommissioned in Q2", dana},
		{"exempt without reason", nil, "exempt:", fromTagsWrite, dana, nil, true, ApprovalInvalid, "an exemption needs a reason: exempt:<reason>", dana},
		{"invalid", nil, "yes please", fromTagsWrite, dana, nil, true, ApprovalInvalid, `tag value "yes please" is neither approved nor exempt:<reason>`, dana},
		{"removed", approved, "", fromTagsWrite, dana, nil, true, ApprovalRemoved, "", dana},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := observeApproval(tt.prev, tagged(tt.value), now, cause{id: "e9", actor: tt.actor, source: tt.src}, tt.approvers)
			if changed != tt.changed || got.Status != tt.status || got.Reason != tt.reason {
				t.Errorf("observeApproval() = %+v, %v; want status %q, reason %q, changed %v", got, changed, tt.status, tt.reason, tt.changed)
			}
			if changed && (got.By != tt.by || !got.At.Equal(now) || got.EventID != "e9") {
				t.Errorf("observeApproval() = %+v; want by %+v, when and which event", got, tt.by)
			}
		})
	}
}

func TestDecideWithApprovalTag(t *testing.T) {
	dana := Actor{ObjectID: "5f0c2a4e-8d9b-4c71-9e3a-2b6d1f7a8c90", UPN: "dana@contoso.com"}
	open := Finding{Cluster: cluster, State: FindingOpen, JobID: "j1", ETag: "1"}
	tests := []struct {
		name    string
		prior   Finding
		value   string
		state   FindingState
		result  Result
		effects []string
	}{
		{"created pre-approved", Finding{Cluster: cluster}, "approved", FindingOpen, ResultFlagged,
			[]string{"audit:flagged", "job:awaiting-approval", "message:job", "alert:aksguard.cluster.flagged",
				"audit:approved", "alert:aksguard.remediation.approved", "message:job"}},
		{"created exempt", Finding{Cluster: cluster}, "exempt:lab cluster", FindingExempt, ResultExempted,
			[]string{"audit:exempted", "alert:aksguard.cluster.exempted"}},
		{"approved later", open, "approved", FindingOpen, ResultApproval,
			[]string{"audit:evaluated", "audit:approved", "alert:aksguard.remediation.approved", "message:job"}},
		{"exempted later", open, "exempt:lab cluster", FindingExempt, ResultExempted,
			[]string{"audit:exempted", "alert:aksguard.cluster.exempted", "message:job"}},
		{"invalid value", open, "ok", FindingOpen, ResultApproval,
			[]string{"audit:evaluated", "audit:approval-invalid", "alert:aksguard.remediation.rejected"}},
		{"approval removed", Finding{Cluster: cluster, State: FindingOpen, JobID: "j1", Approval: &Approval{Value: "approved", Status: ApprovalApproved}}, "",
			FindingOpen, ResultApproval, []string{"audit:evaluated", "audit:approval-removed", "message:job"}},
		{"exemption lifted reopens", Finding{Cluster: cluster, State: FindingExempt, JobID: "j1", Approval: &Approval{Value: "exempt:x", Status: ApprovalExempt}}, "",
			FindingOpen, ResultFlagged, []string{"audit:flagged", "job:awaiting-approval", "message:job", "alert:aksguard.cluster.flagged", "audit:approval-removed", "message:job"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tagged(tt.value)
			next, out, _ := decide(tt.prior, &c, now, cause{id: "e1", what: "event", actor: dana, source: fromTagsWrite}, rules{debounce: time.Minute})
			if next.State != tt.state || out.Result != tt.result {
				t.Errorf("decide() = %s, %s (%s); want %s, %s", next.State, out.Result, out.Detail, tt.state, tt.result)
			}
			if diff := cmp.Diff(tt.effects, effectKinds(next.Outbox)); diff != "" {
				t.Errorf("decide() effects mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
