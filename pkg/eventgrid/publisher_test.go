package eventgrid

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/eventgrid/azeventgrid"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/guard"
)

// testCluster is the cluster of the AKS REST spec's ManagedClustersGet
// example (testdata/samples/aks_get_spec_2025-01-01_ManagedClustersGet_sp.json).
var testCluster = guard.ClusterID{
	Subscription:  "00000000-0000-0000-0000-000000000000",
	ResourceGroup: "rg1",
	Name:          "clustername1",
}

const (
	testClusterID = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/clustername1"
	testSource    = "/aksguard/func-aksguard-test"
)

func testAlert() guard.Alert {
	return guard.Alert{
		ID:      "3f2a9c1e5b7d4a60",
		Type:    guard.AlertFlagged,
		Cluster: testCluster,
		// A zone other than UTC, to show the event's time is in UTC.
		Time: time.Date(2026, 3, 1, 11, 30, 0, 0, time.FixedZone("CET", 3600)),
		Data: guard.AlertData{
			ClusterID: testClusterID,
			Summary:   "cluster clustername1 authenticates with a service principal",
			Verdict:   guard.VerdictServicePrincipal,
			Reasons:   []string{"servicePrincipalProfile.clientId is an application id", "no managed identity"},
			Finding:   "open",
			JobID:     "job-1",
		},
	}
}

// request is what the topic received.
type request struct {
	method, apiVersion, contentType, authorization string
	body                                           []byte
}

// topic is an Event Grid topic endpoint served over TLS, since the SDK's
// bearer token policy refuses to send a token over plain HTTP.
type topic struct {
	mu       sync.Mutex
	status   int
	respBody string
	got      []request
	writeErr error
}

func (tp *topic) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.got = append(tp.got, request{
		method:        r.Method,
		apiVersion:    r.URL.Query().Get("api-version"),
		contentType:   r.Header.Get("Content-Type"),
		authorization: r.Header.Get("Authorization"),
		body:          body,
	})
	if tp.respBody != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(tp.status)
	if _, err := io.WriteString(w, tp.respBody); err != nil {
		tp.writeErr = err
	}
}

func (tp *topic) requests() []request {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append([]request(nil), tp.got...)
}

// newPublisher returns a Publisher to a local TLS topic that answers status
// and body.
func newPublisher(t *testing.T, status int, body string) (*Publisher, *topic) {
	t.Helper()
	tp := &topic{status: status, respBody: body}
	srv := httptest.NewTLSServer(tp)
	t.Cleanup(func() {
		srv.Close()
		tp.mu.Lock()
		defer tp.mu.Unlock()
		if tp.writeErr != nil {
			t.Errorf("topic could not write its response: %v", tp.writeErr)
		}
	})
	p, err := New(srv.URL+"/api/events", &fake.TokenCredential{}, testSource, &azeventgrid.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: srv.Client(),
			Retry:     policy.RetryOptions{MaxRetries: 1, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond},
		},
	})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return p, tp
}

func TestPublishSendsCloudEvent(t *testing.T) {
	p, tp := newPublisher(t, http.StatusOK, "")
	if err := p.Publish(t.Context(), testAlert()); err != nil {
		t.Fatalf("Publish() = %v, want nil", err)
	}

	reqs := tp.requests()
	if len(reqs) != 1 {
		t.Fatalf("topic got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != http.MethodPost {
		t.Errorf("method = %s, want POST", r.method)
	}
	if r.apiVersion != "2018-01-01" {
		t.Errorf("api-version = %q, want 2018-01-01", r.apiVersion)
	}
	if want := "application/cloudevents-batch+json; charset=utf-8"; r.contentType != want {
		t.Errorf("Content-Type = %q, want %q", r.contentType, want)
	}
	if !strings.HasPrefix(r.authorization, "Bearer ") || len(r.authorization) == len("Bearer ") {
		t.Errorf("Authorization = %q, want a bearer token", r.authorization)
	}

	var got []map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body %s is not a JSON array of objects: %v", r.body, err)
	}
	want := []map[string]any{{
		"specversion":     "1.0",
		"id":              "3f2a9c1e5b7d4a60",
		"type":            "aksguard.cluster.flagged",
		"source":          testSource,
		"subject":         testClusterID,
		"time":            "2026-03-01T10:30:00Z",
		"datacontenttype": "application/json",
		"data": map[string]any{
			"clusterId": testClusterID,
			"summary":   "cluster clustername1 authenticates with a service principal",
			"verdict":   "service-principal",
			"reasons":   []any{"servicePrincipalProfile.clientId is an application id", "no managed identity"},
			"finding":   "open",
			"jobId":     "job-1",
		},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("published events mismatch (-want +got):\n%s", diff)
	}
	if _, err := time.Parse(time.RFC3339, got[0]["time"].(string)); err != nil {
		t.Errorf("event time %q is not RFC 3339: %v", got[0]["time"], err)
	}
}

func TestPublishTwiceSendsSameID(t *testing.T) {
	p, tp := newPublisher(t, http.StatusOK, "")
	for range 2 {
		if err := p.Publish(t.Context(), testAlert()); err != nil {
			t.Fatalf("Publish() = %v, want nil", err)
		}
	}
	var ids []string
	for _, r := range tp.requests() {
		var evs []struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(r.body, &evs); err != nil {
			t.Fatalf("decode body %s: %v", r.body, err)
		}
		for _, e := range evs {
			ids = append(ids, e.ID)
		}
	}
	if diff := cmp.Diff([]string{"3f2a9c1e5b7d4a60", "3f2a9c1e5b7d4a60"}, ids); diff != "" {
		t.Errorf("event ids of two publishes (-want +got):\n%s", diff)
	}
}

func TestPublishClassifiesErrors(t *testing.T) {
	// Bodies are hand-written in the shape of Event Grid's error responses.
	tests := []struct {
		name     string
		status   int
		body     string
		wantKind guard.ErrorKind
		wantReqs int
	}{
		{"unauthorized", http.StatusUnauthorized,
			`{"error":{"code":"Unauthorized","message":"The principal associated with the bearer token does not have the required permissions."}}`,
			guard.KindForbidden, 1},
		{"forbidden", http.StatusForbidden, "", guard.KindForbidden, 1},
		{"unavailable, retried once", http.StatusServiceUnavailable,
			`{"error":{"code":"ServiceUnavailable","message":"The service is unavailable."}}`,
			guard.KindTransient, 2},
		{"throttled, retried once", http.StatusTooManyRequests, "", guard.KindTransient, 2},
		{"bad request", http.StatusBadRequest,
			`{"error":{"code":"BadRequest","message":"Required property 'source' was not set."}}`,
			guard.KindInvalid, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, tp := newPublisher(t, tt.status, tt.body)
			err := p.Publish(t.Context(), testAlert())
			var ge *guard.Error
			if !errors.As(err, &ge) {
				t.Fatalf("Publish() = %v (%T), want a *guard.Error", err, err)
			}
			if ge.Kind != tt.wantKind {
				t.Errorf("Publish() = kind %s, want %s (%v)", ge.Kind, tt.wantKind, err)
			}
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != tt.status {
				t.Errorf("Publish() = %v, want it to wrap the HTTP %d response error", err, tt.status)
			}
			if !strings.HasPrefix(err.Error(), "event grid publish 3f2a9c1e5b7d4a60 to ") {
				t.Errorf("Publish().Error() = %q, want it to start with the operation", err)
			}
			if n := len(tp.requests()); n != tt.wantReqs {
				t.Errorf("topic got %d requests, want %d", n, tt.wantReqs)
			}
		})
	}
}

func TestPublishRejectsInvalidAlerts(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(a *guard.Alert)
		wantErr string
	}{
		{"no id", func(a *guard.Alert) { a.ID = "" }, "has no id"},
		{"no type", func(a *guard.Alert) { a.Type = "" }, "has no type"},
		{"no cluster", func(a *guard.Alert) { a.Cluster = guard.ClusterID{} }, "names no cluster"},
		{"no time", func(a *guard.Alert) { a.Time = time.Time{} }, "has no time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, tp := newPublisher(t, http.StatusOK, "")
			a := testAlert()
			tt.edit(&a)
			err := p.Publish(t.Context(), a)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Publish() = %v, want an error containing %q", err, tt.wantErr)
			}
			if got := guard.KindOf(err); got != guard.KindInvalid {
				t.Errorf("KindOf(Publish()) = %s, want %s", got, guard.KindInvalid)
			}
			if n := len(tp.requests()); n != 0 {
				t.Errorf("topic got %d requests, want none", n)
			}
		})
	}
}

func TestNewValidates(t *testing.T) {
	cred := &fake.TokenCredential{}
	tests := []struct {
		name, endpoint, source string
		cred                   azcore.TokenCredential
		wantErr                bool
	}{
		{"topic endpoint", "https://example.westeurope-1.eventgrid.azure.net/api/events", testSource, cred, false},
		{"plain http", "http://example.westeurope-1.eventgrid.azure.net/api/events", testSource, cred, true},
		{"no scheme", "example.westeurope-1.eventgrid.azure.net/api/events", testSource, cred, true},
		{"empty endpoint", "", testSource, cred, true},
		{"not a URL", "https://exa mple.net\x7f", testSource, cred, true},
		{"empty source", "https://example.westeurope-1.eventgrid.azure.net/api/events", "", cred, true},
		{"nil credential", "https://example.westeurope-1.eventgrid.azure.net/api/events", testSource, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.endpoint, tt.cred, tt.source, nil)
			if (err != nil) != tt.wantErr {
				t.Errorf("New(%q, %q) = %v, want error %t", tt.endpoint, tt.source, err, tt.wantErr)
			}
		})
	}
}
