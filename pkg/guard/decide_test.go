package guard

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	now     = time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	cluster = ClusterID{Subscription: "db1ab6f0-4769-4b27-930e-01e2ef9c123c", ResourceGroup: "rg", Name: "c1"}
	spC     = &Cluster{ID: cluster, HasServicePrincipalProfile: true, ServicePrincipalClientID: "63113597-dbba-427d-82d3-94e4060d0e8b"}
	msiC    = &Cluster{ID: cluster, IdentityType: "SystemAssigned", HasServicePrincipalProfile: true, ServicePrincipalClientID: "msi"}
	mixedC  = &Cluster{ID: cluster, IdentityType: "SystemAssigned", HasServicePrincipalProfile: true, ServicePrincipalClientID: "app"}
	unknown = &Cluster{ID: cluster}
)

// effectKinds names the outbox's effects in order, e.g. "audit:flagged".
func effectKinds(out []Effect) []string {
	var k []string
	for _, e := range out {
		switch {
		case e.Audit != nil:
			k = append(k, "audit:"+e.Audit.Action)
		case e.Job != nil:
			k = append(k, "job:"+string(e.Job.State))
		case e.Message != nil:
			k = append(k, "message:"+string(e.Message.Kind))
		case e.Alert != nil:
			k = append(k, "alert:"+string(e.Alert.Type))
		}
	}
	return k
}

func TestDecide(t *testing.T) {
	open := Finding{Cluster: cluster, State: FindingOpen, JobID: "j1", ETag: "1"}
	tests := []struct {
		name    string
		prior   Finding
		cluster *Cluster
		state   FindingState
		result  Result
		effects []string
		saved   bool
	}{
		{"new SP cluster is flagged", Finding{Cluster: cluster}, spC, FindingOpen, ResultFlagged,
			[]string{"audit:flagged", "job:awaiting-approval", "message:job", "alert:aksguard.cluster.flagged"}, true},
		{"new mixed cluster is flagged", Finding{Cluster: cluster}, mixedC, FindingOpen, ResultFlagged,
			[]string{"audit:flagged", "job:awaiting-approval", "message:job", "alert:aksguard.cluster.flagged"}, true},
		{"new MI cluster is clear", Finding{Cluster: cluster}, msiC, FindingClear, ResultEvaluated, []string{"audit:evaluated"}, true},
		{"new unknown cluster is clear", Finding{Cluster: cluster}, unknown, FindingClear, ResultEvaluated, []string{"audit:evaluated"}, true},
		{"open and still SP stays open", open, spC, FindingOpen, ResultEvaluated, []string{"audit:evaluated"}, true},
		{"open and now MI resolves", open, msiC, FindingResolved, ResultResolved,
			[]string{"audit:resolved", "alert:aksguard.cluster.resolved", "message:job"}, true},
		{"open and unknown stays open", open, unknown, FindingOpen, ResultEvaluated, []string{"audit:evaluated"}, true},
		{"resolved and SP again reopens", Finding{Cluster: cluster, State: FindingResolved, JobID: "j1"}, spC, FindingOpen, ResultFlagged,
			[]string{"audit:flagged", "job:awaiting-approval", "message:job", "alert:aksguard.cluster.flagged"}, true},
		{"exempt stays exempt", Finding{Cluster: cluster, State: FindingExempt, Approval: &Approval{Value: "exempt:lab", Status: ApprovalExempt}},
			ptr(tagged("exempt:lab")), FindingExempt, ResultEvaluated, []string{"audit:evaluated"}, true},
		{"open and deleted resolves", open, nil, FindingResolved, ResultResolved,
			[]string{"audit:resolved", "alert:aksguard.cluster.resolved", "message:job"}, true},
		{"clear and deleted", Finding{Cluster: cluster, State: FindingClear}, nil, FindingDeleted, ResultResolved, []string{"audit:deleted"}, true},
		{"deleted and deleted again", Finding{Cluster: cluster, State: FindingDeleted}, nil, FindingDeleted, ResultDuplicate, nil, false},
		{"resolved by deletion and deleted again", Finding{Cluster: cluster, State: FindingResolved, Resolution: resolutionDeleted}, nil, FindingResolved, ResultDuplicate, nil, false},
		{"never seen and not found", Finding{Cluster: cluster}, nil, "", ResultIgnored, nil, false},
		{"deleted and recreated with SP", Finding{Cluster: cluster, State: FindingDeleted}, spC, FindingOpen, ResultFlagged,
			[]string{"audit:flagged", "job:awaiting-approval", "message:job", "alert:aksguard.cluster.flagged"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, out, saved := decide(tt.prior, tt.cluster, now, cause{id: "e1", what: "event"}, rules{debounce: time.Minute}, approvalLook{})
			if next.State != tt.state || out.Result != tt.result || saved != tt.saved {
				t.Errorf("decide() = state %s, result %s, saved %v; want %s, %s, %v", next.State, out.Result, saved, tt.state, tt.result, tt.saved)
			}
			if diff := cmp.Diff(tt.effects, effectKinds(next.Outbox)); saved && diff != "" {
				t.Errorf("decide() effects mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideFlagDetails(t *testing.T) {
	next, out, _ := decide(Finding{Cluster: cluster}, spC, now, cause{id: "e1", what: "event", actor: Actor{UPN: "dana@contoso.com"}}, rules{debounce: time.Minute}, approvalLook{})
	// The job id is the flag time and a hash of the cluster's key: the same
	// for every worker that flags the cluster at that instant.
	const wantJob = "20261127T090000Z-ab8ceadc66a65c59"
	if next.JobID != wantJob || out.JobID != wantJob {
		t.Errorf("job id = %q, outcome %q; want %q", next.JobID, out.JobID, wantJob)
	}
	if !next.RecheckAt.Equal(now.Add(time.Minute)) || !next.FlaggedAt.Equal(now) || !next.FirstSeen.Equal(now) || !next.LastEvaluated.Equal(now) {
		t.Errorf("times = recheck %v flagged %v first %v last %v", next.RecheckAt, next.FlaggedAt, next.FirstSeen, next.LastEvaluated)
	}
	if next.SPClientID != spC.ServicePrincipalClientID {
		t.Errorf("SPClientID = %q, want %q", next.SPClientID, spC.ServicePrincipalClientID)
	}
	job, msg, alert := next.Outbox[1].Job, next.Outbox[2].Message, next.Outbox[3].Alert
	if job.WakeSeq != 1 || !job.NextWake.Equal(next.RecheckAt) || msg.Seq != 1 || !msg.NotBefore.Equal(next.RecheckAt) || msg.JobID != wantJob {
		t.Errorf("job %+v / message %+v: want the first timer at the re-check time", job, msg)
	}
	if alert.Data.Actor != "dana@contoso.com" || alert.Data.ClusterID != cluster.String() || alert.Data.JobID != wantJob {
		t.Errorf("alert data = %+v", alert.Data)
	}
	// The same decision made again (after a conflict) names the same job,
	// message and alert, so nothing is created twice.
	again, _, _ := decide(Finding{Cluster: cluster}, spC, now, cause{id: "e1", what: "event"}, rules{debounce: time.Minute}, approvalLook{})
	if diff := cmp.Diff(effectIDs(next.Outbox[1:]), effectIDs(again.Outbox[1:])); diff != "" {
		t.Errorf("a repeated decision names other records (-first +again):\n%s", diff)
	}
}

func ptr[T any](v T) *T { return &v }

func effectIDs(out []Effect) []string {
	var ids []string
	for _, e := range out {
		ids = append(ids, e.ID())
	}
	return ids
}

func TestBackoff(t *testing.T) {
	s, err := New(Config{Clusters: nilClusters{}, Store: nilStore{}, Queue: nilQueue{}, Alerts: nilAlerts{}, Directory: nilDirectory{}, Roles: nilRoles{}, Permissions: nilPermissions{}, Inventory: nilInventory{}, History: nilHistory{}})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 12 * time.Hour, 12 * time.Hour}
	for i, w := range want {
		if got := s.backoff(i + 1); got != w {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := s.backoff(500); got != 12*time.Hour {
		t.Errorf("backoff(500) = %s, want the 12h cap", got)
	}
}

func TestNewNamesMissingPorts(t *testing.T) {
	_, err := New(Config{Store: nilStore{}})
	if err == nil || err.Error() != "guard: missing Alerts, Clusters, Directory, History, Inventory, Permissions, Queue, Roles" {
		t.Errorf("New() error = %v, want it to name the missing ports", err)
	}
}

// The nil ports only satisfy New; the tests above never call them.
type (
	nilClusters    struct{ Clusters }
	nilStore       struct{ Store }
	nilQueue       struct{ Queue }
	nilAlerts      struct{ Alerts }
	nilDirectory   struct{ Directory }
	nilRoles       struct{ Roles }
	nilPermissions struct{ Permissions }
	nilInventory   struct{ Inventory }
	nilHistory     struct{ ChangeHistory }
)
