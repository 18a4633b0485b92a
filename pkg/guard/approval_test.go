package guard

import (
	"strings"
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

func TestTagStatus(t *testing.T) {
	tests := []struct {
		value  string
		status ApprovalStatus
		reason string
	}{
		{"", ApprovalRemoved, ""},
		{"approved", ApprovalApproved, ""},
		{"APPROVED", ApprovalApproved, ""},
		{"exempt: decommissioned in Q2", ApprovalExempt, "decommissioned in Q2"},
		{"Exempt:lab", ApprovalExempt, "lab"},
		{"exempt:", ApprovalInvalid, "an exemption needs a reason: exempt:<reason> or exempt:<YYYY-MM-DD>:<reason>"},
		{"exempt:   ", ApprovalInvalid, "an exemption needs a reason: exempt:<reason> or exempt:<YYYY-MM-DD>:<reason>"},
		{"exempt:2027-03-31: decommissioned in Q1", ApprovalExempt, "decommissioned in Q1"},
		{"exempt:2027-03-31:", ApprovalInvalid, "an exemption needs a reason: exempt:<reason> or exempt:<YYYY-MM-DD>:<reason>"},
		{"exempt:2027-13-31: typo", ApprovalInvalid, `exemption end "2027-13-31" is not a date (YYYY-MM-DD)`},
		{"yes please", ApprovalInvalid, `tag value "yes please" is neither approved nor exempt:<reason>`},
		{"approved!", ApprovalInvalid, `tag value "approved!" is neither approved nor exempt:<reason>`},
	}
	for _, tt := range tests {
		status, reason := tagStatus(tt.value)
		if status != tt.status || reason != tt.reason {
			t.Errorf("tagStatus(%q) = %s, %q; want %s, %q", tt.value, status, reason, tt.status, tt.reason)
		}
	}
}

func TestNeedsLook(t *testing.T) {
	approved := &Approval{Value: "approved", Status: ApprovalApproved}
	tests := []struct {
		name string
		prev *Approval
		v    string
		src  source
		want bool
	}{
		{"no tag, never seen", nil, "", fromTagsWrite, false},
		{"new value", nil, "approved", fromMessage, true},
		{"case changed", approved, "Approved", fromMessage, true},
		{"removed", approved, "", fromMessage, true},
		{"same value, tags written", approved, "approved", fromTagsWrite, true},
		{"same value, cluster written", approved, "approved", fromClusterWrite, true},
		{"same value, agent pool written", approved, "approved", fromOtherEvent, false},
		{"same value, timer", approved, "approved", fromMessage, false},
		{"pending, timer", &Approval{Value: "approved", Status: ApprovalPending}, "approved", fromMessage, true},
		{"re-check held, timer", &Approval{Value: "approved", Status: ApprovalApproved, Awaiting: "c1"}, "approved", fromMessage, true},
		{"rejected, timer", &Approval{Value: "approved", Status: ApprovalRejected}, "approved", fromMessage, true},
		{"unverified, timer", &Approval{Value: "approved", Status: ApprovalUnverified}, "approved", fromMessage, true},
		{"invalid, timer", &Approval{Value: "ok", Status: ApprovalInvalid}, "ok", fromMessage, false},
		{"still removed, tags written", &Approval{Status: ApprovalRemoved}, "", fromTagsWrite, false},
	}
	for _, tt := range tests {
		if got := needsLook(tt.prev, tt.v, cause{source: tt.src}); got != tt.want {
			t.Errorf("%s: needsLook() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCredit(t *testing.T) {
	at := func(m int) time.Time { return now.Add(time.Duration(-m) * time.Minute) }
	set := func(m int, by, prev, next string) Change {
		return Change{Type: ChangeUpdate, At: at(m), ChangedBy: by, ChangedByType: "User", CorrelationID: by + "-" + next, Tag: &TagChange{Previous: prev, New: next}}
	}
	create := Change{Type: ChangeCreate, At: at(60), ChangedBy: "ci@contoso.com", ChangedByType: "User", CorrelationID: "create"}
	tests := []struct {
		name    string
		v       string
		records []Change
		want    string // the credited record's correlation id; "" for none
		why     string // part of the reason when none
	}{
		{"set by the newest record", "approved", []Change{set(1, "dana@contoso.com", "", "approved"), set(5, "eve@contoso.com", "", "approved"), create}, "dana@contoso.com-approved", ""},
		{"never seen again: the older setter", "approved", []Change{set(5, "eve@contoso.com", "", "approved"), create}, "eve@contoso.com-approved", ""},
		{"newest record sets another value", "approved", []Change{set(1, "dana@contoso.com", "approved", ""), set(5, "eve@contoso.com", "", "approved")}, "", "not in Azure's change history yet"},
		{"created with the tag", "approved", []Change{create}, "create", ""},
		{"truncated record after the setter", "approved", []Change{{Type: ChangeUpdate, At: at(1), ChangedBy: "eve@contoso.com", Truncated: true}, set(5, "dana@contoso.com", "", "approved")}, "", "lists only some"},
		{"deleted and created again", "approved", []Change{{Type: ChangeDelete, At: at(1)}, set(5, "dana@contoso.com", "", "approved")}, "", "created again"},
		{"no record", "approved", nil, "", "no record"},
		{"surrounding spaces", "approved", []Change{set(1, "dana@contoso.com", "", " approved ")}, "dana@contoso.com- approved ", ""},
		{"case counts", "Approved", []Change{set(1, "dana@contoso.com", "", "approved")}, "", "not in Azure's change history yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := credit(tt.v, tt.records)
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("credit() = %+v, want none", got)
			case tt.want != "" && (got == nil || got.CorrelationID != tt.want):
				t.Errorf("credit() = %+v (%s), want record %s", got, why, tt.want)
			case tt.want == "" && !strings.Contains(why, tt.why):
				t.Errorf("credit() reason = %q, want it to mention %q", why, tt.why)
			}
		})
	}
}

func TestSetter(t *testing.T) {
	tests := []struct {
		by, typ string
		want    Actor
	}{
		{"dana@contoso.com", "User", Actor{UPN: "dana@contoso.com"}},
		{"0a1b2c3d-0000-4000-8000-000000000001", "Application", Actor{AppID: "0a1b2c3d-0000-4000-8000-000000000001"}},
		{"0a1b2c3d-0000-4000-8000-000000000002", "ManagedIdentity", Actor{AppID: "0a1b2c3d-0000-4000-8000-000000000002"}},
		{"System", "Application", Actor{}},
		{"unknown", "User", Actor{}},
		{"someone", "Unknown", Actor{}},
		{"someone", "", Actor{}},
	}
	for _, tt := range tests {
		if got := setter(&Change{ChangedBy: tt.by, ChangedByType: tt.typ}); got != tt.want {
			t.Errorf("setter(%s, %s) = %+v, want %+v", tt.by, tt.typ, got, tt.want)
		}
	}
}

func TestApproverAllowed(t *testing.T) {
	dana := Actor{ObjectID: "5f0c2a4e-8d9b-4c71-9e3a-2b6d1f7a8c90", UPN: "dana@contoso.com"}
	ci := Actor{ObjectID: "9a9a9a9a-0000-4000-8000-000000000000", AppID: "0a1b2c3d-0000-4000-8000-000000000001"}
	tests := []struct {
		who  Actor
		list []string
		want bool
	}{
		{dana, nil, true},
		{dana, []string{"5F0C2A4E-8D9B-4C71-9E3A-2B6D1F7A8C90"}, true},
		{dana, []string{"Dana@Contoso.com"}, true},
		{dana, []string{"eve@contoso.com", "e0e0e0e0-0000-4000-8000-000000000000"}, false},
		{Actor{UPN: "dana@contoso.com"}, []string{dana.ObjectID}, false}, // not resolved: no object id to compare
		{ci, []string{"0a1b2c3d-0000-4000-8000-000000000001"}, true},
		{ci, []string{"9a9a9a9a-0000-4000-8000-000000000000"}, true},
		{Actor{}, []string{""}, false},
	}
	for _, tt := range tests {
		if got := approverAllowed(tt.who, tt.list); got != tt.want {
			t.Errorf("approverAllowed(%+v, %q) = %v, want %v", tt.who, tt.list, got, tt.want)
		}
	}
}

func TestDecideWithApprovalTag(t *testing.T) {
	dana := Actor{ObjectID: "5f0c2a4e-8d9b-4c71-9e3a-2b6d1f7a8c90", UPN: "dana@contoso.com"}
	open := Finding{Cluster: cluster, State: FindingOpen, JobID: "j1", ETag: "1"}
	seen := func(value string, status ApprovalStatus) approvalLook {
		return approvalLook{next: &Approval{Value: value, Status: status, By: dana}, news: true}
	}
	tests := []struct {
		name    string
		prior   Finding
		value   string
		look    approvalLook
		state   FindingState
		result  Result
		effects []string
	}{
		{"created pre-approved", Finding{Cluster: cluster}, "approved", seen("approved", ApprovalApproved), FindingOpen, ResultFlagged,
			[]string{"audit:flagged", "job:awaiting-approval", "message:job", "alert:aksguard.cluster.flagged",
				"audit:approved", "alert:aksguard.remediation.approved", "message:job"}},
		{"created pre-approved, not yet verified", Finding{Cluster: cluster}, "approved",
			approvalLook{next: &Approval{Value: "approved", Status: ApprovalPending}, news: true, recheck: now.Add(approvalRecheck)}, FindingOpen, ResultFlagged,
			[]string{"audit:flagged", "job:awaiting-approval", "message:job", "alert:aksguard.cluster.flagged",
				"audit:approval-pending", "message:evaluate"}},
		{"created exempt", Finding{Cluster: cluster}, "exempt:lab cluster", seen("exempt:lab cluster", ApprovalExempt), FindingExempt, ResultExempted,
			[]string{"audit:exempted", "alert:aksguard.cluster.exempted"}},
		{"approved later", open, "approved", seen("approved", ApprovalApproved), FindingOpen, ResultApproval,
			[]string{"audit:evaluated", "audit:approved", "alert:aksguard.remediation.approved", "message:job"}},
		{"exempted later", open, "exempt:lab cluster", seen("exempt:lab cluster", ApprovalExempt), FindingExempt, ResultExempted,
			[]string{"audit:exempted", "alert:aksguard.cluster.exempted", "message:job"}},
		{"exempted by someone not allowed", open, "exempt:lab cluster", seen("exempt:lab cluster", ApprovalRejected), FindingOpen, ResultApproval,
			[]string{"audit:evaluated", "audit:approval-rejected", "alert:aksguard.remediation.rejected", "message:job"}},
		{"invalid value", open, "ok", seen("ok", ApprovalInvalid), FindingOpen, ResultApproval,
			[]string{"audit:evaluated", "audit:approval-invalid", "alert:aksguard.remediation.rejected", "message:job"}},
		{"unverified", open, "approved", seen("approved", ApprovalUnverified), FindingOpen, ResultApproval,
			[]string{"audit:evaluated", "audit:approval-unverified", "alert:aksguard.remediation.unverified", "message:job"}},
		{"held for a re-check: no news, a look later", open, "approved",
			approvalLook{next: &Approval{Value: "approved", Status: ApprovalApproved, Awaiting: "c2"}, recheck: now.Add(approvalRecheck)}, FindingOpen, ResultEvaluated,
			[]string{"audit:evaluated", "message:evaluate"}},
		{"re-check released: the job goes on", open, "approved",
			approvalLook{next: &Approval{Value: "approved", Status: ApprovalApproved}, released: true}, FindingOpen, ResultEvaluated,
			[]string{"audit:evaluated", "message:job"}},
		{"approval removed", Finding{Cluster: cluster, State: FindingOpen, JobID: "j1", Approval: &Approval{Value: "approved", Status: ApprovalApproved}}, "",
			seen("", ApprovalRemoved), FindingOpen, ResultApproval, []string{"audit:evaluated", "audit:approval-removed", "message:job"}},
		{"exemption lifted reopens", Finding{Cluster: cluster, State: FindingExempt, JobID: "j1", Approval: &Approval{Value: "exempt:x", Status: ApprovalExempt}}, "",
			seen("", ApprovalRemoved), FindingOpen, ResultFlagged, []string{"audit:flagged", "job:awaiting-approval", "message:job", "alert:aksguard.cluster.flagged", "audit:approval-removed", "message:job"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tagged(tt.value)
			next, out, _ := decide(tt.prior, &c, now, cause{id: "e1", what: "event", actor: dana, source: fromTagsWrite}, rules{debounce: time.Minute}, tt.look)
			if next.State != tt.state || out.Result != tt.result {
				t.Errorf("decide() = %s, %s (%s); want %s, %s", next.State, out.Result, out.Detail, tt.state, tt.result)
			}
			if diff := cmp.Diff(tt.effects, effectKinds(next.Outbox)); diff != "" {
				t.Errorf("decide() effects mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
