package azurefake

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/memory"
)

func TestFaultsAddRejects(t *testing.T) {
	fs := NewFaults(nil)
	tests := []struct {
		target  Target
		f       Fault
		mention string
	}{
		{"dns", Fault{Kind: Unavailable, Count: 1}, "unknown fault target"},
		{Tables, Fault{Kind: "flaky", Count: 1}, "unknown fault kind"},
		{ARMRead, Fault{Kind: OperationFailed, Count: 1}, "applies to target"},
		{Tables, Fault{Kind: Unavailable}, "needs a positive count or duration"},
		{Tables, Fault{Kind: Unavailable, Count: 1, For: time.Minute}, "not both"},
	}
	for _, tt := range tests {
		if err := fs.Add(tt.target, tt.f); err == nil || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("Add(%s, %+v) error = %v, want one mentioning %q", tt.target, tt.f, err, tt.mention)
		}
	}
}

// TestFaultsCountAcrossATargetsCalls: a counted fault on a target with
// several operations fails that many calls of any of them.
func TestFaultsCountAcrossATargetsCalls(t *testing.T) {
	fs := NewFaults(nil)
	if err := fs.Add(ARMRead, Fault{Kind: Throttled, Count: 2}); err != nil {
		t.Fatal(err)
	}
	got := []bool{fs.take(getCluster).refuse != nil, fs.take(listMaintenanceConfigs).refuse != nil, fs.take(getCluster).refuse != nil}
	if want := []bool{true, true, false}; !cmp.Equal(want, got) {
		t.Errorf("refused = %v, want %v", got, want)
	}
	if n := fs.Calls(getCluster); n != 2 {
		t.Errorf("Calls(Get) = %d, want 2", n)
	}
	if fs.Pending(ARMRead) {
		t.Error("Pending(arm-read) after the count is used up, want false")
	}
}

// TestFaultsForADuration: a timed fault fails every call until it ends,
// on the clock the Faults were given.
func TestFaultsForADuration(t *testing.T) {
	clock := NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	fs := NewFaults(clock.Now)
	if err := fs.Add(GraphAPI, Fault{Kind: Forbidden, For: 5 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if o := fs.take(graphMethod); o.refuse == nil || o.refuse.kind != Forbidden {
			t.Fatalf("call within the duration = %+v, want refused", o)
		}
	}
	clock.Set(clock.Now().Add(5 * time.Minute))
	if o := fs.take(graphMethod); o.refuse != nil {
		t.Errorf("call at the end of the duration = %+v, want served", o)
	}
}

// TestFaultsCombine: a failing operation and a lost answer apply to the
// same PUT; a refusal takes the oldest refusing fault.
func TestFaultsCombine(t *testing.T) {
	fs := NewFaults(nil)
	for _, f := range []Fault{{Kind: OperationFailed, Count: 1}, {Kind: LostAnswer, Count: 1}} {
		if err := fs.Add(ARMPut, f); err != nil {
			t.Fatal(err)
		}
	}
	if o := fs.take(beginCreateOrUpdate); o.refuse != nil || !o.lose || o.failOp == nil {
		t.Errorf("first PUT = %+v, want served, its operation failing and its answer lost", o)
	}
	if o := fs.take(beginCreateOrUpdate); o.refuse != nil || o.lose || o.failOp != nil {
		t.Errorf("second PUT = %+v, want served as asked", o)
	}
	fs.failNext(getCluster, 1, http.StatusServiceUnavailable, "ServiceUnavailable", 0)
	fs.failNext(getCluster, 1, http.StatusTooManyRequests, "TooManyRequests", time.Minute)
	if o := fs.take(getCluster); o.refuse == nil || o.refuse.code != "ServiceUnavailable" {
		t.Errorf("first read = %+v, want the 503 asked for first", o)
	}
	if o := fs.take(getCluster); o.refuse == nil || o.refuse.code != "TooManyRequests" {
		t.Errorf("second read = %+v, want the 429", o)
	}
}

// TestServicesFailAsTheAdaptersReport: the store, queue and alerts
// wrappers fail as Faults say, with the kinds the adapters classify, and a
// lost answer does what was asked first.
func TestServicesFailAsTheAdaptersReport(t *testing.T) {
	ctx := context.Background()
	fs := NewFaults(nil)
	q := memory.NewQueue()
	queue := fs.Queue(q)
	m := guard.Message{ID: "m1", Kind: guard.MessageJob}
	for _, tt := range []struct {
		kind Kind
		want guard.ErrorKind
	}{{Unavailable, guard.KindTransient}, {Throttled, guard.KindTransient}, {Forbidden, guard.KindForbidden}} {
		if err := fs.Add(Queue, Fault{Kind: tt.kind, Count: 1}); err != nil {
			t.Fatal(err)
		}
		err := queue.Send(ctx, m)
		if guard.KindOf(err) != tt.want {
			t.Errorf("Send() under %s = %v, want %s", tt.kind, err, tt.want)
		}
		if tt.kind == Throttled && guard.RetryAfterOf(err) != ThrottleWait {
			t.Errorf("Send() under %s asks to wait %s, want %s", tt.kind, guard.RetryAfterOf(err), ThrottleWait)
		}
	}
	if n := len(q.Sent()); n != 0 {
		t.Fatalf("%d messages sent through refusals, want 0", n)
	}
	if err := fs.Add(Queue, Fault{Kind: LostAnswer, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if err := queue.Send(ctx, m); guard.KindOf(err) != guard.KindTransient {
		t.Errorf("Send() with its answer lost = %v, want transient", err)
	}
	if n := len(q.Sent()); n != 1 {
		t.Errorf("%d messages sent with the answer lost, want 1: it was sent", n)
	}

	store := fs.Store(memory.NewStore())
	if err := fs.Add(Tables, Fault{Kind: Unavailable, Count: 1}); err != nil {
		t.Fatal(err)
	}
	id := guard.ClusterID{Subscription: "s", ResourceGroup: "rg", Name: "c"}
	if _, err := store.Finding(ctx, id); guard.KindOf(err) != guard.KindTransient {
		t.Errorf("Finding() under an outage = %v, want transient", err)
	}
	if _, err := store.Finding(ctx, id); guard.KindOf(err) != guard.KindNotFound {
		t.Errorf("Finding() after the outage = %v, want not found", err)
	}
	alerts := &memory.Alerts{}
	if err := fs.Add(Alerts, Fault{Kind: Forbidden, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if err := fs.Alerts(alerts).Publish(ctx, guard.Alert{ID: "a"}); guard.KindOf(err) != guard.KindForbidden || len(alerts.Published()) != 0 {
		t.Errorf("Publish() refused = %v, %d published; want forbidden, none", err, len(alerts.Published()))
	}
}

// TestFleetChangeHistory: every write is a record with its caller and the
// tags it changed; creation and deletion list none.
func TestFleetChangeHistory(t *testing.T) {
	clock := NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	az := New(clock)
	defer az.Close()
	f := az.Fleet
	id := clusterID(subA, "rg1", "c1")
	dana := Caller{ChangedBy: "dana@contoso.com", Type: CallerUser, ClientType: "Azure CLI"}
	mc := spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1")
	created := f.PutAs(mc, dana, Write{})
	mc.Tags = map[string]*string{"aksguard-remediation": to.Ptr("approved")}
	clock.Set(clock.Now().Add(time.Minute))
	tagged := f.PutAs(mc, dana, Write{Operation: "Microsoft.Resources/tags/write"})
	deleted := f.DeleteAs(id.String(), Caller{}, Write{})
	recs := f.Changes(id.String())
	if len(recs) != 3 {
		t.Fatalf("%d records, want 3: %+v", len(recs), recs)
	}
	if r := recs[0]; r.Type != ChangeCreate || r.CorrelationID != created || r.By != dana || len(r.Changes) != 0 {
		t.Errorf("creation record = %+v", r)
	}
	want := map[string]PropertyChange{"tags.aksguard-remediation": {Previous: nil, New: to.Ptr("approved")}}
	if r := recs[1]; r.Type != ChangeUpdate || r.CorrelationID != tagged || r.Operation != "Microsoft.Resources/tags/write" || !cmp.Equal(want, r.Changes) {
		t.Errorf("tag record = %+v, want the tag's change, %s", r, tagged)
	}
	if r := recs[2]; r.Type != ChangeDelete || r.CorrelationID != deleted || r.By.Type != "" {
		t.Errorf("deletion record = %+v", r)
	}
	if f.DeleteAs(id.String(), Caller{}, Write{}) != "" {
		t.Error("deleting a missing cluster recorded a change")
	}
}

// TestFleetTagsAndTheETag: whether a tags write changes the eTag is the
// simulator's choice; every other write changes it.
func TestFleetTagsAndTheETag(t *testing.T) {
	for _, keep := range []bool{false, true} {
		f := NewFleet()
		f.SetTagsKeepETag(keep)
		id := clusterID(subA, "rg1", "c1")
		mc := spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1")
		f.Put(mc)
		before, _ := f.Cluster(id.String())
		mc.Tags = map[string]*string{"owner": to.Ptr("payments")}
		f.Put(mc)
		afterTags, _ := f.Cluster(id.String())
		mc.Properties.KubernetesVersion = to.Ptr("1.31.5")
		mc.Properties.ProvisioningState = to.Ptr("Updating")
		f.Put(mc)
		afterOther, _ := f.Cluster(id.String())
		if kept := *before.ETag == *afterTags.ETag; kept != keep {
			t.Errorf("keep %v: tags write kept the eTag = %v", keep, kept)
		}
		if *afterOther.ETag == *afterTags.ETag {
			t.Errorf("keep %v: a write of more than tags kept the eTag", keep)
		}
	}
}

// TestFleetBeforePutAndAccepted: the hook runs when a PUT reaches the
// fleet; a PUT refused for its eTag is not an accepted update.
func TestFleetBeforePutAndAccepted(t *testing.T) {
	f, id, etag := spSample(t)
	f.SetUpdatePolls(0)
	c := fleetClient(f)
	hooked := 0
	f.BeforePut(func(got guard.ClusterID) {
		hooked++
		if hooked == 1 {
			mc, _ := f.Cluster(got.String())
			mc.Tags = map[string]*string{"owner": to.Ptr("someone")}
			f.Put(mc)
		}
	})
	_, err := c.StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: etag, Target: systemAssigned}, time.Second)
	if guard.KindOf(err) != guard.KindConflict {
		t.Fatalf("PUT after the hook changed the cluster = %v, want 412", err)
	}
	mc, _ := f.Cluster(id.String())
	if _, err := c.StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: *mc.ETag, Target: systemAssigned}, time.Second); err != nil {
		t.Fatal(err)
	}
	if hooked != 2 || f.Accepted(id.String()) != 1 {
		t.Errorf("hook ran %d times, %d updates accepted; want 2 and 1", hooked, f.Accepted(id.String()))
	}
}

// TestFleetUpdateEndsUnpolled: an update whose answer was lost still ends,
// on the fleet's clock.
func TestFleetUpdateEndsUnpolled(t *testing.T) {
	clock := NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	az := New(clock)
	defer az.Close()
	f := az.Fleet
	id := clusterID(subA, "rg1", "c1")
	f.Put(spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1"))
	mc, _ := f.Cluster(id.String())
	if err := az.Faults.Add(ARMPut, Fault{Kind: LostAnswer, Count: 1}); err != nil {
		t.Fatal(err)
	}
	st, err := f.Client().StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: *mc.ETag, Target: systemAssigned}, time.Second)
	if err == nil || !st.Sent || st.ResumeToken != "" {
		t.Fatalf("PUT with its answer lost = %+v, %v; want sent, an error, no token", st, err)
	}
	if got, _ := f.Cluster(id.String()); *got.Properties.ProvisioningState != "Updating" {
		t.Fatalf("cluster right after = %s, want Updating", *got.Properties.ProvisioningState)
	}
	clock.Set(clock.Now().Add(defaultUpdateTime))
	got, _ := f.Cluster(id.String())
	if *got.Properties.ProvisioningState != "Succeeded" || got.Identity == nil {
		t.Errorf("cluster after the update's time = %s, identity %v; want migrated", *got.Properties.ProvisioningState, got.Identity)
	}
}
