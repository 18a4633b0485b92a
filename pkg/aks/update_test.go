package aks_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/aks"
	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
)

// spSample returns a fleet holding the service-principal cluster of a real
// recorded GET, its ID and its eTag.
func spSample(t *testing.T) (*azurefake.Fleet, guard.ClusterID, string) {
	t.Helper()
	f := azurefake.NewFleet()
	mc := sampleCluster(t, "aks_get_sp_realguid_sdknet_recording.json")
	f.Put(mc)
	id := guard.ClusterID{Subscription: "db1ab6f0-4769-4b27-930e-01e2ef9c123c", ResourceGroup: "rg-4149", Name: "manCluster-5614"}
	stored, ok := f.Cluster(id.String())
	if !ok {
		t.Fatalf("Fleet.Cluster(%s) not found after Put", id)
	}
	return f, id, *stored.ETag
}

var systemAssigned = guard.IdentityTarget{Type: "SystemAssigned"}

// checkMigrated checks that the cluster now uses a managed identity as the
// guard verifies it, and returns it.
func checkMigrated(t *testing.T, f *azurefake.Fleet, id guard.ClusterID) guard.Cluster {
	t.Helper()
	cl, err := fleetClient(f).GetCluster(t.Context(), id)
	if err != nil {
		t.Fatalf("GetCluster(%s) error %v", id, err)
	}
	if cl.ServicePrincipalClientID != "msi" || cl.Kubelet == nil || cl.Kubelet.ClientID == "" || cl.Kubelet.ObjectID == "" || cl.ProvisioningState != "Succeeded" {
		t.Errorf("GetCluster(%s) after the update = clientId %q, kubelet %+v, state %q; want msi, a kubelet identity, Succeeded",
			id, cl.ServicePrincipalClientID, cl.Kubelet, cl.ProvisioningState)
	}
	if v := guard.Evaluate(cl).Verdict; v != guard.VerdictManagedIdentity {
		t.Errorf("Evaluate(GetCluster(%s)) after the update = %s, want %s", id, v, guard.VerdictManagedIdentity)
	}
	return cl
}

// recorder is a Transporter that notes the If-Match header of every PUT
// before handing the request on.
type recorder struct {
	next    policy.Transporter
	mu      sync.Mutex
	ifMatch []string
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut {
		r.mu.Lock()
		r.ifMatch = append(r.ifMatch, req.Header.Get("If-Match"))
		r.mu.Unlock()
	}
	return r.next.Do(req)
}

func TestStartIdentityUpdateDone(t *testing.T) {
	f, id, etag := spSample(t)
	f.SetUpdatePolls(0)
	before, _ := f.Cluster(id.String())
	rec := &recorder{next: f.ClientOptions().Transport}
	c := aks.New(&azfake.TokenCredential{}, &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: rec}})

	st, err := c.StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: etag, Target: systemAssigned}, time.Second)
	if err != nil || !st.Done || st.ResumeToken != "" {
		t.Fatalf("StartIdentityUpdate(%s) = %+v, %v; want done", id, st, err)
	}
	if diff := cmp.Diff([]string{etag}, rec.ifMatch); diff != "" {
		t.Errorf("If-Match of the PUTs mismatch (-want +got):\n%s", diff)
	}
	for method, want := range map[string]int{"Get": 1, "BeginCreateOrUpdate": 1} {
		if got := f.Calls(method); got != want {
			t.Errorf("Calls(%s) = %d, want %d", method, got, want)
		}
	}
	if got := f.Polls("BeginCreateOrUpdate"); got != 0 {
		t.Errorf("Polls(BeginCreateOrUpdate) = %d, want 0", got)
	}
	cl := checkMigrated(t, f, id)
	if cl.IdentityType != "SystemAssigned" || cl.PrincipalID == "" {
		t.Errorf("GetCluster(%s) = identity %q with principal %q, want SystemAssigned with one", id, cl.IdentityType, cl.PrincipalID)
	}
	if cl.ETag == etag {
		t.Errorf("GetCluster(%s).ETag = %q after the update, want a new one", id, cl.ETag)
	}

	// The PUT carried the cluster as read: only what the migration
	// changes differs.
	after, _ := f.Cluster(id.String())
	for _, mc := range []*armcontainerservice.ManagedCluster{&before, &after} {
		mc.ETag, mc.Identity = nil, nil
		mc.Properties.ServicePrincipalProfile, mc.Properties.IdentityProfile, mc.Properties.ProvisioningState = nil, nil, nil
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("cluster changed beyond its identity (-before +after):\n%s", diff)
	}
}

func TestStartIdentityUpdateUserAssigned(t *testing.T) {
	const uami = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c/resourceGroups/rg-identities/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-cp"
	f, id, etag := spSample(t)
	st, err := fleetClient(f).StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: etag, Target: guard.IdentityTarget{Type: "UserAssigned", UserAssigned: uami}}, 5*time.Second)
	if err != nil || !st.Done {
		t.Fatalf("StartIdentityUpdate(%s, UserAssigned) = %+v, %v; want done", id, st, err)
	}
	cl := checkMigrated(t, f, id)
	if cl.IdentityType != "UserAssigned" || cl.PrincipalID != "" || !cmp.Equal(cl.UserAssignedIdentities, []string{uami}) {
		t.Errorf("GetCluster(%s) = identity %q, principal %q, user-assigned %v; want UserAssigned, none, [%s]", id, cl.IdentityType, cl.PrincipalID, cl.UserAssignedIdentities, uami)
	}
	mc, _ := f.Cluster(id.String())
	if v := mc.Identity.UserAssignedIdentities[uami]; v == nil || v.PrincipalID == nil || *v.PrincipalID == "" || v.ClientID == nil || *v.ClientID == "" {
		t.Errorf("identity.userAssignedIdentities[%s] = %+v, want principalId and clientId", uami, v)
	}
}

func TestIdentityUpdateResumesInAnotherClient(t *testing.T) {
	f, id, etag := spSample(t)
	f.SetUpdatePolls(5)

	st, err := fleetClient(f).StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: etag, Target: systemAssigned}, time.Millisecond)
	if err != nil || st.Done || st.ResumeToken == "" {
		t.Fatalf("StartIdentityUpdate(%s, wait 1ms) = %+v, %v; want not done with a resume token", id, st, err)
	}
	during, err := fleetClient(f).GetCluster(t.Context(), id)
	if err != nil || during.ProvisioningState != "Updating" || during.ServicePrincipalClientID == "msi" {
		t.Errorf("GetCluster(%s) during the update = state %q, clientId %q, %v; want Updating with the service principal", id, during.ProvisioningState, during.ServicePrincipalClientID, err)
	}

	// A later invocation: a new Client over the same fleet.
	st, err = fleetClient(f).ResumeIdentityUpdate(t.Context(), id, st.ResumeToken, 5*time.Second)
	if err != nil || !st.Done {
		t.Fatalf("ResumeIdentityUpdate(%s) = %+v, %v; want done", id, st, err)
	}
	checkMigrated(t, f, id)
	if got := f.Calls("BeginCreateOrUpdate"); got != 1 {
		t.Errorf("Calls(BeginCreateOrUpdate) = %d, want 1: resuming sends no PUT", got)
	}
	if got := f.Polls("BeginCreateOrUpdate"); got < 4 {
		t.Errorf("Polls(BeginCreateOrUpdate) = %d, want at least 4", got)
	}
}

func TestResumeIdentityUpdateStepByStep(t *testing.T) {
	f, id, etag := spSample(t)
	f.SetUpdatePolls(3)
	st, err := fleetClient(f).StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: etag, Target: systemAssigned}, 0)
	if err != nil || st.Done {
		t.Fatalf("StartIdentityUpdate(%s, wait 0) = %+v, %v; want not done", id, st, err)
	}
	first := st.ResumeToken
	// A wait shorter than the fleet's poll interval allows one poll per
	// resume (or none, when the poll does not fit in it). The PUT answered
	// "InProgress" once, two polls do again, the third brings the result.
	for i := 0; !st.Done; i++ {
		if i == 100 {
			t.Fatalf("ResumeIdentityUpdate() not done after %d resumes", i)
		}
		polls := f.Polls("BeginCreateOrUpdate")
		st, err = fleetClient(f).ResumeIdentityUpdate(t.Context(), id, st.ResumeToken, 5*time.Millisecond)
		if err != nil {
			t.Fatalf("resume %d: ResumeIdentityUpdate() error %v", i, err)
		}
		if n := f.Polls("BeginCreateOrUpdate") - polls; n > 1 {
			t.Errorf("resume %d: ResumeIdentityUpdate(wait 5ms) polled %d times, want at most once", i, n)
		}
	}
	if n := f.Polls("BeginCreateOrUpdate"); n < 3 {
		t.Errorf("Polls(BeginCreateOrUpdate) = %d when done, want at least 3", n)
	}
	checkMigrated(t, f, id)

	// A duplicate continue message with an old token learns the outcome
	// and changes nothing.
	st, err = fleetClient(f).ResumeIdentityUpdate(t.Context(), id, first, time.Second)
	if err != nil || !st.Done {
		t.Errorf("ResumeIdentityUpdate(first token) after the end = %+v, %v; want done", st, err)
	}
	if got := f.Calls("BeginCreateOrUpdate"); got != 1 {
		t.Errorf("Calls(BeginCreateOrUpdate) = %d, want 1", got)
	}
}

func TestStartIdentityUpdateConflict(t *testing.T) {
	f, id, etag := spSample(t)
	mc, _ := f.Cluster(id.String())
	mc.Tags = map[string]*string{"changed": to.Ptr("by someone")}
	f.Put(mc) // a new eTag

	_, err := fleetClient(f).StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: etag, Target: systemAssigned}, time.Second)
	if guard.KindOf(err) != guard.KindConflict || !strings.Contains(err.Error(), "cluster changed since it was read") {
		t.Errorf("StartIdentityUpdate(old eTag) error = %v, want %s: cluster changed since it was read", err, guard.KindConflict)
	}
	if got := f.Calls("BeginCreateOrUpdate"); got != 0 {
		t.Errorf("Calls(BeginCreateOrUpdate) = %d, want 0: no PUT after an eTag mismatch", got)
	}
}

func TestStartIdentityUpdateErrors(t *testing.T) {
	tests := []struct {
		name       string
		fail       func(f *azurefake.Fleet)
		kind       guard.ErrorKind
		code       string
		retryAfter time.Duration
		puts       int
		done       bool // the status of a failed operation
		sent       bool // the PUT may have reached ARM
	}{
		{
			name: "412 from the PUT",
			fail: func(f *azurefake.Fleet) {
				f.FailNext("BeginCreateOrUpdate", 1, http.StatusPreconditionFailed, "PreconditionFailed", 0)
			},
			kind: guard.KindConflict, code: "PreconditionFailed", puts: 1,
		},
		{
			name: "409 another operation in progress",
			fail: func(f *azurefake.Fleet) {
				f.FailNext("BeginCreateOrUpdate", 1, http.StatusConflict, "AnotherOperationInProgress", 0)
			},
			kind: guard.KindTransient, code: "AnotherOperationInProgress", puts: 1,
		},
		{
			name: "400 property change not allowed from the PUT",
			fail: func(f *azurefake.Fleet) {
				f.FailNext("BeginCreateOrUpdate", 1, http.StatusBadRequest, "PropertyChangeNotAllowed", 0)
			},
			kind: guard.KindInvalid, code: "PropertyChangeNotAllowed", puts: 1,
		},
		{
			name: "429 with Retry-After on GET",
			fail: func(f *azurefake.Fleet) {
				f.FailNext("Get", 1, http.StatusTooManyRequests, "TooManyRequests", 30*time.Second)
			},
			kind: guard.KindTransient, code: "TooManyRequests", retryAfter: 30 * time.Second,
		},
		{
			name: "429 with Retry-After on PUT",
			fail: func(f *azurefake.Fleet) {
				f.FailNext("BeginCreateOrUpdate", 1, http.StatusTooManyRequests, "TooManyRequests", 45*time.Second)
			},
			kind: guard.KindTransient, code: "TooManyRequests", retryAfter: 45 * time.Second, puts: 1,
		},
		{
			name: "operation fails: property change not allowed",
			fail: func(f *azurefake.Fleet) { f.FailUpdate(1, http.StatusBadRequest, "PropertyChangeNotAllowed") },
			kind: guard.KindInvalid, code: "PropertyChangeNotAllowed", puts: 1, done: true, sent: true,
		},
		{
			name: "operation fails: internal server error",
			fail: func(f *azurefake.Fleet) { f.FailUpdate(1, http.StatusInternalServerError, "InternalServerError") },
			kind: guard.KindTransient, code: "InternalServerError", puts: 1, done: true, sent: true,
		},
		{
			name: "503 from the PUT: it may have applied",
			fail: func(f *azurefake.Fleet) {
				f.FailNext("BeginCreateOrUpdate", 1, http.StatusServiceUnavailable, "ServiceUnavailable", 0)
			},
			kind: guard.KindTransient, code: "ServiceUnavailable", puts: 1, sent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, id, etag := spSample(t)
			tt.fail(f)
			st, err := fleetClient(f).StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: etag, Target: systemAssigned}, 5*time.Second)
			if err == nil {
				t.Fatalf("StartIdentityUpdate(%s) = %+v, want %s", id, st, tt.kind)
			}
			if got := guard.KindOf(err); got != tt.kind {
				t.Errorf("KindOf(StartIdentityUpdate()) = %s, want %s (error %v)", got, tt.kind, err)
			}
			if got := guard.CodeOf(err); got != tt.code {
				t.Errorf("CodeOf(StartIdentityUpdate()) = %q, want %q", got, tt.code)
			}
			if got := guard.RetryAfterOf(err); got != tt.retryAfter {
				t.Errorf("RetryAfterOf(StartIdentityUpdate()) = %s, want %s", got, tt.retryAfter)
			}
			if want := (guard.UpdateStatus{Done: tt.done, Sent: tt.sent}); st != want {
				t.Errorf("StartIdentityUpdate() status = %+v, want %+v", st, want)
			}
			if want := "update identity of cluster " + id.String(); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("StartIdentityUpdate() error = %q, want it to start with %q", err, want)
			}
			var re *azcore.ResponseError
			if !errors.As(err, &re) {
				t.Errorf("StartIdentityUpdate() error does not wrap the SDK's *azcore.ResponseError")
			}
			if got := f.Calls("BeginCreateOrUpdate"); got != tt.puts {
				t.Errorf("Calls(BeginCreateOrUpdate) = %d, want %d", got, tt.puts)
			}
			cl, err := fleetClient(f).GetCluster(t.Context(), id)
			if err != nil {
				t.Fatalf("GetCluster(%s) after a failed update: %v", id, err)
			}
			if cl.ServicePrincipalClientID == "msi" || cl.IdentityType != "" {
				t.Errorf("GetCluster(%s) after a failed update = identity %q, clientId %q; want the service principal", id, cl.IdentityType, cl.ServicePrincipalClientID)
			}
			if tt.done && cl.ProvisioningState != "Failed" {
				t.Errorf("GetCluster(%s).ProvisioningState after a failed operation = %q, want Failed", id, cl.ProvisioningState)
			}
		})
	}
}

func TestIdentityUpdateFailsWhilePolled(t *testing.T) {
	f, id, etag := spSample(t)
	f.FailUpdate(1, http.StatusBadRequest, "PropertyChangeNotAllowed")
	st, err := fleetClient(f).StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: etag, Target: systemAssigned}, 0)
	if err != nil || st.ResumeToken == "" {
		t.Fatalf("StartIdentityUpdate(%s, wait 0) = %+v, %v; want a resume token", id, st, err)
	}
	st, err = fleetClient(f).ResumeIdentityUpdate(t.Context(), id, st.ResumeToken, 5*time.Second)
	if guard.KindOf(err) != guard.KindInvalid || guard.CodeOf(err) != "PropertyChangeNotAllowed" || !st.Done {
		t.Fatalf("ResumeIdentityUpdate() = %+v, %v; want done with %s PropertyChangeNotAllowed", st, err, guard.KindInvalid)
	}
	if want := "resume identity update of cluster " + id.String(); !strings.HasPrefix(err.Error(), want) {
		t.Errorf("ResumeIdentityUpdate() error = %q, want it to start with %q", err, want)
	}

	// The guard starts over from a fresh read: the failure left nothing
	// behind that blocks the next update.
	cl, err := fleetClient(f).GetCluster(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	st, err = fleetClient(f).StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: cl.ETag, Target: systemAssigned}, 5*time.Second)
	if err != nil || !st.Done {
		t.Fatalf("StartIdentityUpdate() after a failed update = %+v, %v; want done", st, err)
	}
	checkMigrated(t, f, id)
	if got := f.Calls("BeginCreateOrUpdate"); got != 2 {
		t.Errorf("Calls(BeginCreateOrUpdate) = %d, want 2", got)
	}
}

func TestStartIdentityUpdateInvalid(t *testing.T) {
	f, id, etag := spSample(t)
	tests := []struct {
		name   string
		id     guard.ClusterID
		etag   string
		target guard.IdentityTarget
	}{
		{"incomplete ID", guard.ClusterID{Subscription: id.Subscription, Name: id.Name}, etag, systemAssigned},
		{"no eTag", id, "", systemAssigned},
		{"no target", id, etag, guard.IdentityTarget{}},
		{"target None", id, etag, guard.IdentityTarget{Type: "None"}},
		{"system-assigned with an identity", id, etag, guard.IdentityTarget{Type: "SystemAssigned", UserAssigned: "/subscriptions/x"}},
		{"user-assigned without one", id, etag, guard.IdentityTarget{Type: "UserAssigned"}},
		{"user-assigned, not an identity", id, etag, guard.IdentityTarget{Type: "UserAssigned", UserAssigned: id.String()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fleetClient(f).StartIdentityUpdate(t.Context(), tt.id, guard.IdentityUpdate{ETag: tt.etag, Target: tt.target}, time.Second)
			if guard.KindOf(err) != guard.KindInvalid {
				t.Errorf("StartIdentityUpdate(%+v, %q, %+v) error = %v, want %s", tt.id, tt.etag, tt.target, err, guard.KindInvalid)
			}
		})
	}
	for _, token := range []string{"", "not a token", `{"type":"ManagedClustersClientGetResponse","token":{}}`} {
		_, err := fleetClient(f).ResumeIdentityUpdate(t.Context(), id, token, time.Second)
		if guard.KindOf(err) != guard.KindInvalid {
			t.Errorf("ResumeIdentityUpdate(token %q) error = %v, want %s", token, err, guard.KindInvalid)
		}
	}
	if got := f.Calls("Get") + f.Calls("BeginCreateOrUpdate") + f.Polls("BeginCreateOrUpdate"); got != 0 {
		t.Errorf("requests = %d, want none for invalid input", got)
	}
}

func TestStartIdentityUpdateConcurrent(t *testing.T) {
	// Two invocations run the same step: one update starts, the other is
	// refused and sends nothing that changes the cluster.
	f, id, etag := spSample(t)
	f.SetUpdatePolls(3)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sts  []guard.UpdateStatus
	)
	for range 2 {
		wg.Go(func() {
			st, err := fleetClient(f).StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: etag, Target: systemAssigned}, time.Second)
			mu.Lock()
			defer mu.Unlock()
			sts = append(sts, st)
			errs = append(errs, err)
		})
	}
	wg.Wait()
	var ok, refused int
	for i, err := range errs {
		switch k := guard.KindOf(err); {
		case err == nil && sts[i].Done:
			ok++
		case k == guard.KindConflict || k == guard.KindTransient:
			refused++
		default:
			t.Errorf("StartIdentityUpdate() = %+v, %v", sts[i], err)
		}
	}
	if ok != 1 || refused != 1 {
		t.Errorf("concurrent StartIdentityUpdate(): %d done, %d refused; want 1 and 1 (errors %v)", ok, refused, errs)
	}
	checkMigrated(t, f, id)
}

// asyncARM answers like ARM with the Azure-AsyncOperation pattern: the PUT
// is accepted, the operation status is InProgress for inProgress polls and
// then final; a final GET of the cluster gives its body.
type asyncARM struct {
	mu         sync.Mutex
	inProgress int
	final      string // the operation status body at the end
	puts, gets int
	polls      int
}

func (a *asyncARM) Do(req *http.Request) (*http.Response, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	const op = "https://management.azure.com/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/providers/Microsoft.ContainerService/locations/westeurope/operations/0f1e2d3c?api-version=2025-10-01"
	cluster := `{"id":"` + clusterID(subA, "rg1", "c1").String() + `","location":"westeurope","eTag":"e1","properties":{"provisioningState":"Succeeded","servicePrincipalProfile":{"clientId":"3bf1b8fa-ad21-402f-888a-ec509e7f55f1"}}}`
	switch {
	case req.Method == http.MethodPut:
		a.puts++
		return respond(http.StatusOK, http.Header{"Azure-Asyncoperation": {op}}, strings.Replace(cluster, `"Succeeded"`, `"Updating"`, 1))(req), nil
	case strings.Contains(req.URL.Path, "/operations/"):
		a.polls++
		if a.polls <= a.inProgress {
			return respond(http.StatusOK, nil, `{"status":"InProgress"}`)(req), nil
		}
		return respond(http.StatusOK, nil, a.final)(req), nil
	default:
		a.gets++
		return respond(http.StatusOK, nil, cluster)(req), nil
	}
}

// TestIdentityUpdateAzureAsyncOperation runs the update against the
// poller ARM's real answers make, not the fake's.
func TestIdentityUpdateAzureAsyncOperation(t *testing.T) {
	id := clusterID(subA, "rg1", "c1")
	newClient := func(a *asyncARM) *aks.Client {
		c := aks.New(&azfake.TokenCredential{}, &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: a}})
		aks.SetPollEvery(c, time.Millisecond)
		return c
	}

	t.Run("succeeds after a resume", func(t *testing.T) {
		a := &asyncARM{inProgress: 3, final: `{"status":"Succeeded"}`}
		st, err := newClient(a).StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: "e1", Target: systemAssigned}, 0)
		if err != nil || st.Done || st.ResumeToken == "" {
			t.Fatalf("StartIdentityUpdate(wait 0) = %+v, %v; want a resume token", st, err)
		}
		st, err = newClient(a).ResumeIdentityUpdate(t.Context(), id, st.ResumeToken, 5*time.Second)
		if err != nil || !st.Done {
			t.Fatalf("ResumeIdentityUpdate() = %+v, %v; want done", st, err)
		}
		if a.puts != 1 || a.polls != 4 || a.gets != 2 {
			t.Errorf("requests: %d PUT, %d polls, %d GET; want 1, 4 and 2 (the read and the final GET)", a.puts, a.polls, a.gets)
		}
	})
	t.Run("operation fails", func(t *testing.T) {
		a := &asyncARM{inProgress: 1, final: `{"status":"Failed","error":{"code":"PropertyChangeNotAllowed","message":"Changing property 'identity' is not allowed."}}`}
		st, err := newClient(a).StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: "e1", Target: systemAssigned}, 5*time.Second)
		if guard.KindOf(err) != guard.KindInvalid || guard.CodeOf(err) != "PropertyChangeNotAllowed" || !st.Done {
			t.Errorf("StartIdentityUpdate() = %+v, %v; want done with %s PropertyChangeNotAllowed", st, err, guard.KindInvalid)
		}
		if !strings.Contains(err.Error(), "Changing property 'identity' is not allowed.") {
			t.Errorf("StartIdentityUpdate() error = %q, want ARM's message", err)
		}
	})
	t.Run("polling throttled", func(t *testing.T) {
		a := &asyncARM{inProgress: 1, final: `{"status":"Succeeded"}`}
		c := newClient(a)
		st, err := c.StartIdentityUpdate(t.Context(), id, guard.IdentityUpdate{ETag: "e1", Target: systemAssigned}, 0)
		if err != nil || st.ResumeToken == "" {
			t.Fatalf("StartIdentityUpdate(wait 0) = %+v, %v; want a resume token", st, err)
		}
		throttled := &scripted{responses: []func(*http.Request) *http.Response{respond(http.StatusTooManyRequests, http.Header{"Retry-After": {"60"}}, armError("TooManyRequests"))}}
		tc := aks.New(&azfake.TokenCredential{}, &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: throttled}})
		st2, err := tc.ResumeIdentityUpdate(t.Context(), id, st.ResumeToken, 5*time.Second)
		if guard.KindOf(err) != guard.KindTransient || guard.RetryAfterOf(err) != time.Minute || st2.Done || st2.ResumeToken == "" {
			t.Errorf("ResumeIdentityUpdate(throttled) = %+v, %v; want %s after 1m with a resume token", st2, err, guard.KindTransient)
		}
	})
}

// TestStartIdentityUpdateNeedsTheTags: the update refuses to send a body
// whose read no longer carries the tags asked for; nothing is sent.
func TestStartIdentityUpdateNeedsTheTags(t *testing.T) {
	f, id, etag := spSample(t)
	f.SetTagsKeepETag(true) // so that only the tag tells the change
	mc, _ := f.Cluster(id.String())
	mc.Tags = map[string]*string{"Aksguard-Remediation": to.Ptr("approved")}
	f.Put(mc)
	u := guard.IdentityUpdate{ETag: etag, Target: systemAssigned, Tags: map[string]string{"aksguard-remediation": "approved"}}
	mc, _ = f.Cluster(id.String())
	u.ETag = *mc.ETag
	delete(mc.Tags, "Aksguard-Remediation")
	f.Put(mc)
	st, err := fleetClient(f).StartIdentityUpdate(t.Context(), id, u, time.Second)
	if guard.KindOf(err) != guard.KindConflict || st.Sent || !strings.Contains(err.Error(), "aksguard-remediation") {
		t.Errorf("StartIdentityUpdate() without the tag = %+v, %v; want %s naming the tag, nothing sent", st, err, guard.KindConflict)
	}
	if got := f.Calls("BeginCreateOrUpdate"); got != 0 {
		t.Errorf("Calls(BeginCreateOrUpdate) = %d, want 0", got)
	}
	mc.Tags["aksguard-remediation"] = to.Ptr("approved")
	f.Put(mc)
	if st, err := fleetClient(f).StartIdentityUpdate(t.Context(), id, u, time.Second); err != nil || !st.Sent {
		t.Errorf("StartIdentityUpdate() with the tag (name in another case) = %+v, %v; want sent", st, err)
	}
}
