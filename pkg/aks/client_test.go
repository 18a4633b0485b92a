package aks_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8/fake"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/aks"
	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/sampletest"
)

const (
	subA = "7081f3a5-4a28-420f-983d-d492b49d20a2"
	subB = "e8b427c5-2832-403d-beae-d6552b1bcfb5"
)

func clusterID(sub, rg, name string) guard.ClusterID {
	return guard.ClusterID{Subscription: sub, ResourceGroup: rg, Name: name}
}

// spCluster is a minimal cluster that authenticates with a service principal.
func spCluster(id guard.ClusterID, clientID string) armcontainerservice.ManagedCluster {
	return sampletest.SPCluster(id.String(), clientID)
}

func fleetClient(f *azurefake.Fleet) *aks.Client { return f.Client() }

func TestGetClusterSamples(t *testing.T) {
	for _, tt := range sampleClusters {
		t.Run(tt.file, func(t *testing.T) {
			f := azurefake.NewFleet()
			f.Put(sampleCluster(t, tt.file, tt.path...))
			want := tt.want
			stored, ok := f.Cluster(want.ID.String())
			if !ok {
				t.Fatalf("Fleet.Cluster(%s) not found after Put", want.ID)
			}
			want.ETag = *stored.ETag // Put gives every write a fresh eTag.

			got, err := fleetClient(f).GetCluster(t.Context(), tt.want.ID)
			if err != nil {
				t.Fatalf("GetCluster(%s) error %v", tt.want.ID, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("GetCluster(%s) mismatch (-want +got):\n%s", tt.want.ID, diff)
			}
		})
	}
}

func TestGetClusterErrors(t *testing.T) {
	id := clusterID(subA, "rg-payments-prod-weu", "payments-prod-weu")
	tests := []struct {
		name       string
		fail       func(f *azurefake.Fleet) // nil: the cluster does not exist
		kind       guard.ErrorKind
		code       string
		retryAfter time.Duration
	}{
		{name: "not found", kind: guard.KindNotFound, code: "ResourceNotFound"},
		{
			name: "throttled with Retry-After",
			fail: func(f *azurefake.Fleet) {
				f.FailNext("Get", 1, http.StatusTooManyRequests, "TooManyRequests", 30*time.Second)
			},
			kind:       guard.KindTransient,
			code:       "TooManyRequests",
			retryAfter: 30 * time.Second,
		},
		{
			name:       "throttled with retry-after-ms",
			fail:       func(f *azurefake.Fleet) { f.FailNext("Get", 1, http.StatusTooManyRequests, "", 1500*time.Millisecond) },
			kind:       guard.KindTransient,
			retryAfter: 1500 * time.Millisecond,
		},
		{
			name: "server error",
			fail: func(f *azurefake.Fleet) {
				f.FailNext("Get", 1, http.StatusInternalServerError, "InternalServerError", 0)
			},
			kind: guard.KindTransient,
			code: "InternalServerError",
		},
		{
			name: "forbidden",
			fail: func(f *azurefake.Fleet) { f.FailNext("Get", 1, http.StatusForbidden, "AuthorizationFailed", 0) },
			kind: guard.KindForbidden,
			code: "AuthorizationFailed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := azurefake.NewFleet()
			if tt.fail != nil {
				f.Put(spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1"))
				tt.fail(f)
			}
			_, err := fleetClient(f).GetCluster(t.Context(), id)
			if err == nil {
				t.Fatalf("GetCluster(%s) = nil error, want %s", id, tt.kind)
			}
			if got := guard.KindOf(err); got != tt.kind {
				t.Errorf("KindOf(GetCluster()) = %s, want %s (error %v)", got, tt.kind, err)
			}
			if got := guard.CodeOf(err); got != tt.code {
				t.Errorf("CodeOf(GetCluster()) = %q, want %q", got, tt.code)
			}
			if got := guard.RetryAfterOf(err); got != tt.retryAfter {
				t.Errorf("RetryAfterOf(GetCluster()) = %s, want %s", got, tt.retryAfter)
			}
			if want := "get cluster " + id.String(); !strings.HasPrefix(err.Error(), want) {
				t.Errorf("GetCluster() error = %q, want it to start with %q", err, want)
			}
			var re *azcore.ResponseError
			if !errors.As(err, &re) {
				t.Errorf("GetCluster() error does not wrap the SDK's *azcore.ResponseError")
			}
			if got := f.Calls("Get"); got != 1 {
				t.Errorf("Calls(Get) = %d, want 1: fake failures are not retried", got)
			}
		})
	}
}

func TestGetClusterFailNextThenSucceeds(t *testing.T) {
	id := clusterID(subA, "rg-payments-prod-weu", "payments-prod-weu")
	f := azurefake.NewFleet()
	f.Put(spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1"))
	f.FailNext("Get", 2, http.StatusTooManyRequests, "TooManyRequests", 10*time.Second)
	f.FailNext("ManagedClustersClient.Get", 1, http.StatusForbidden, "AuthorizationFailed", 0)
	c := fleetClient(f)

	want := []guard.ErrorKind{guard.KindTransient, guard.KindTransient, guard.KindForbidden, ""}
	for i, kind := range want {
		_, err := c.GetCluster(t.Context(), id)
		switch {
		case kind == "" && err != nil:
			t.Errorf("call %d: GetCluster() error %v, want success", i, err)
		case kind != "" && guard.KindOf(err) != kind:
			t.Errorf("call %d: GetCluster() error %v, want %s", i, err, kind)
		}
	}
	if got := f.Calls("Get"); got != len(want) {
		t.Errorf("Calls(Get) = %d, want %d", got, len(want))
	}
	if got := f.Calls("ManagedClustersClient.Get"); got != len(want) {
		t.Errorf("Calls(ManagedClustersClient.Get) = %d, want %d", got, len(want))
	}
	if got := f.Calls("BeginCreateOrUpdate"); got != 0 {
		t.Errorf("Calls(BeginCreateOrUpdate) = %d, want 0", got)
	}
}

func TestGetClusterRoutesSubscriptions(t *testing.T) {
	// The same resource group and name in two subscriptions.
	a := clusterID(subA, "rg-shared", "shared-aks")
	b := clusterID(subB, "rg-shared", "shared-aks")
	f := azurefake.NewFleet()
	f.Put(spCluster(a, "11111111-1111-4111-8111-111111111111"))
	f.Put(spCluster(b, "22222222-2222-4222-8222-222222222222"))
	c := fleetClient(f)

	tests := []struct {
		id     guard.ClusterID
		client string
	}{
		{a, "11111111-1111-4111-8111-111111111111"},
		{b, "22222222-2222-4222-8222-222222222222"},
		// ARM compares IDs case-insensitively.
		{clusterID(strings.ToUpper(subB), "RG-SHARED", "Shared-AKS"), "22222222-2222-4222-8222-222222222222"},
	}
	for _, tt := range tests {
		got, err := c.GetCluster(t.Context(), tt.id)
		if err != nil {
			t.Errorf("GetCluster(%s) error %v", tt.id, err)
			continue
		}
		if got.ServicePrincipalClientID != tt.client || !got.ID.Same(tt.id) {
			t.Errorf("GetCluster(%s) = %s with client %s, want client %s", tt.id, got.ID, got.ServicePrincipalClientID, tt.client)
		}
	}
	if _, err := c.GetCluster(t.Context(), clusterID("0b5c3f1e-93a7-4c2d-8e61-7f4a2d9c0b13", "rg-shared", "shared-aks")); guard.KindOf(err) != guard.KindNotFound {
		t.Errorf("GetCluster(third subscription) error = %v, want %s", err, guard.KindNotFound)
	}
}

func TestGetClusterConcurrent(t *testing.T) {
	f := azurefake.NewFleet()
	var ids []guard.ClusterID
	for i := range 4 {
		sub := subA
		if i%2 == 1 {
			sub = subB
		}
		id := clusterID(sub, "rg-load", fmt.Sprintf("aks-%d", i))
		f.Put(spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1"))
		ids = append(ids, id)
	}
	c := fleetClient(f)

	const workers, calls = 8, 20
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				id := ids[(w+i)%len(ids)]
				if _, err := c.GetCluster(t.Context(), id); err != nil {
					t.Errorf("GetCluster(%s) error %v", id, err)
				}
			}
		})
	}
	// Writes while the fake serves reads.
	wg.Go(func() {
		for i := range calls {
			mc, _ := f.Cluster(ids[0].String())
			mc.Tags = map[string]*string{"round": to.Ptr(fmt.Sprint(i))}
			f.Put(mc)
		}
	})
	wg.Wait()
	if got := f.Calls("Get"); got != workers*calls {
		t.Errorf("Calls(Get) = %d, want %d", got, workers*calls)
	}
}

// getServer serves ManagedClustersClient.Get with the SDK's own fake.
func getServer(mc armcontainerservice.ManagedCluster) *arm.ClientOptions {
	srv := &fake.ManagedClustersServer{
		Get: func(_ context.Context, _, _ string, _ *armcontainerservice.ManagedClustersClientGetOptions) (resp azfake.Responder[armcontainerservice.ManagedClustersClientGetResponse], errResp azfake.ErrorResponder) {
			resp.SetResponse(http.StatusOK, armcontainerservice.ManagedClustersClientGetResponse{ManagedCluster: mc}, nil)
			return resp, errResp
		},
	}
	return &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: fake.NewManagedClustersServerTransport(srv)}}
}

func TestGetClusterBodyID(t *testing.T) {
	id := clusterID(subA, "rg-payments-prod-weu", "payments-prod-weu")

	noID := spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1")
	noID.ID = nil
	got, err := aks.New(&azfake.TokenCredential{}, getServer(noID)).GetCluster(t.Context(), id)
	if err != nil || got.ID != id {
		t.Errorf("GetCluster(%s) with no ID in the body = %s, %v; want the requested ID", id, got.ID, err)
	}

	other := spCluster(clusterID(subA, "rg-payments-prod-weu", "someone-else"), "3bf1b8fa-ad21-402f-888a-ec509e7f55f1")
	_, err = aks.New(&azfake.TokenCredential{}, getServer(other)).GetCluster(t.Context(), id)
	if guard.KindOf(err) != guard.KindInvalid || !strings.Contains(err.Error(), "someone-else") {
		t.Errorf("GetCluster(%s) with another cluster's body: error %v, want %s naming it", id, err, guard.KindInvalid)
	}

	bad := spCluster(id, "3bf1b8fa-ad21-402f-888a-ec509e7f55f1")
	bad.ID = to.Ptr("/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c")
	_, err = aks.New(&azfake.TokenCredential{}, getServer(bad)).GetCluster(t.Context(), id)
	if guard.KindOf(err) != guard.KindInvalid {
		t.Errorf("GetCluster(%s) with a malformed ID in the body: error %v, want %s", id, err, guard.KindInvalid)
	}
}

func TestGetClusterIncompleteID(t *testing.T) {
	f := azurefake.NewFleet()
	for _, id := range []guard.ClusterID{{}, {Subscription: subA, ResourceGroup: "rg1"}, {Subscription: subA, Name: "c1"}} {
		_, err := fleetClient(f).GetCluster(t.Context(), id)
		if guard.KindOf(err) != guard.KindInvalid {
			t.Errorf("GetCluster(%+v) error = %v, want %s", id, err, guard.KindInvalid)
		}
	}
	if got := f.Calls("Get"); got != 0 {
		t.Errorf("Calls(Get) = %d, want 0", got)
	}
}

// scripted is a Transporter that answers with real HTTP responses in turn,
// repeating the last one, so that the SDK's retry policy acts on them (the
// fakes' errors are never retried).
type scripted struct {
	responses []func(*http.Request) *http.Response
	tries     atomic.Int32
}

func (s *scripted) Do(req *http.Request) (*http.Response, error) {
	n := int(s.tries.Add(1)) - 1
	return s.responses[min(n, len(s.responses)-1)](req), nil
}

func respond(status int, header http.Header, body string) func(*http.Request) *http.Response {
	return func(req *http.Request) *http.Response {
		h := http.Header{"Content-Type": {"application/json"}}
		for k, v := range header {
			h[k] = v
		}
		return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body)), Request: req}
	}
}

func armError(code string) string {
	return `{"error":{"code":"` + code + `","message":"simulated ` + code + `"}}`
}

// TestRetryPolicy checks the retry defaults against the SDK's own retry
// policy, with real responses.
func TestRetryPolicy(t *testing.T) {
	id := clusterID(subA, "rg-payments-prod-weu", "payments-prod-weu")
	ok := respond(http.StatusOK, nil, `{"id":"`+id.String()+`","location":"westeurope","properties":{"servicePrincipalProfile":{"clientId":"msi"}}}`)
	throttled := func(h http.Header) func(*http.Request) *http.Response {
		return respond(http.StatusTooManyRequests, h, armError("TooManyRequests"))
	}
	failing := respond(http.StatusInternalServerError, nil, armError("InternalServerError"))
	fastRetry := policy.RetryOptions{RetryDelay: time.Millisecond}

	tests := []struct {
		name       string
		retry      policy.RetryOptions
		responses  []func(*http.Request) *http.Response
		tries      int32
		kind       guard.ErrorKind // "" for success
		retryAfter time.Duration
	}{
		{"long Retry-After comes back at once", policy.RetryOptions{}, []func(*http.Request) *http.Response{throttled(http.Header{"Retry-After": {"30"}})}, 1, guard.KindTransient, 30 * time.Second},
		{"short Retry-After is retried", policy.RetryOptions{}, []func(*http.Request) *http.Response{throttled(http.Header{"Retry-After-Ms": {"5"}}), ok}, 2, "", 0},
		{"server errors: two retries", fastRetry, []func(*http.Request) *http.Response{failing}, 3, guard.KindTransient, 0},
		{"server error then success", fastRetry, []func(*http.Request) *http.Response{failing, ok}, 2, "", 0},
		{"caller disabled retries", policy.RetryOptions{MaxRetries: -1}, []func(*http.Request) *http.Response{failing}, 1, guard.KindTransient, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := &scripted{responses: tt.responses}
			c := aks.New(&azfake.TokenCredential{}, &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: tr, Retry: tt.retry}})
			_, err := c.GetCluster(t.Context(), id)
			if got := tr.tries.Load(); got != tt.tries {
				t.Errorf("GetCluster() made %d tries, want %d", got, tt.tries)
			}
			switch {
			case tt.kind == "" && err != nil:
				t.Fatalf("GetCluster() error %v, want success", err)
			case tt.kind != "" && guard.KindOf(err) != tt.kind:
				t.Fatalf("GetCluster() error %v, want %s", err, tt.kind)
			}
			if got := guard.RetryAfterOf(err); got != tt.retryAfter {
				t.Errorf("RetryAfterOf(GetCluster()) = %s, want %s", got, tt.retryAfter)
			}
		})
	}
}
