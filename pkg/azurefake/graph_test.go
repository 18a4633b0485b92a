package azurefake

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/graph"
	"github.com/aksguard/aksguard/pkg/guard"
)

const (
	appID    = "3bf1b8fa-ad21-402f-888a-ec509e7f55f1"
	objectID = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
	miApp    = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
	miObject = "0f9e8d7c-6b5a-4493-a281-70f6e5d4c3b2"
	// miID is a user-assigned identity's resource ID.
	miID = "/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourceGroups/rg-payments/providers/Microsoft.ManagedIdentity/userAssignedIdentities/payments-control-plane"
)

var (
	appSP = guard.Principal{AppID: appID, ObjectID: objectID, DisplayName: "payments-aks-sp"}
	miSP  = guard.Principal{AppID: miApp, ObjectID: miObject, DisplayName: "payments-control-plane"}
)

func TestGraph(t *testing.T) {
	s := NewGraph(appSP)
	defer s.Close()
	s.AddManagedIdentity(miID, miSP)
	c := s.Client()

	tests := []struct {
		name string
		call func() (guard.Principal, error)
		want guard.Principal
		kind guard.ErrorKind // for a failure
	}{
		{"application", func() (guard.Principal, error) { return c.ServicePrincipal(t.Context(), appID) }, appSP, ""},
		{"application, upper-case app ID", func() (guard.Principal, error) { return c.ServicePrincipal(t.Context(), strings.ToUpper(appID)) }, appSP, ""},
		{"managed identity by app ID", func() (guard.Principal, error) { return c.ServicePrincipal(t.Context(), miApp) }, miSP, ""},
		{"managed identity by resource ID", func() (guard.Principal, error) { return c.ManagedIdentity(t.Context(), miID) }, miSP, ""},
		{"managed identity, resourcegroups in lower case", func() (guard.Principal, error) {
			return c.ManagedIdentity(t.Context(), strings.Replace(miID, "resourceGroups", "resourcegroups", 1))
		}, miSP, ""},
		{"unknown application", func() (guard.Principal, error) {
			return c.ServicePrincipal(t.Context(), "00000000-0000-4000-8000-000000000000")
		}, guard.Principal{}, guard.KindNotFound},
		{"unknown managed identity", func() (guard.Principal, error) {
			return c.ManagedIdentity(t.Context(), strings.Replace(miID, "payments-control-plane", "other", 1))
		}, guard.Principal{}, guard.KindNotFound},
		{"application is no managed identity", func() (guard.Principal, error) {
			return c.ManagedIdentity(t.Context(), strings.Replace(miID, "payments-control-plane", appID, 1))
		}, guard.Principal{}, guard.KindNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call()
			switch {
			case tt.kind == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.kind != "" && guard.KindOf(err) != tt.kind:
				t.Fatalf("error %v, want %s", err, tt.kind)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if got := s.Calls(); got != len(tests) {
		t.Errorf("Calls() = %d, want %d", got, len(tests))
	}
}

func TestGraphFailNext(t *testing.T) {
	s := NewGraph(appSP)
	defer s.Close()
	s.FailNext(1, http.StatusForbidden, "Authorization_RequestDenied")
	s.FailNext(2, http.StatusNotFound, "Request_ResourceNotFound")
	s.FailNext(0, http.StatusBadRequest, "ignored")
	c := s.Client()
	want := []guard.ErrorKind{guard.KindForbidden, guard.KindNotFound, guard.KindNotFound, ""}
	for i, kind := range want {
		_, err := c.ServicePrincipal(t.Context(), appID)
		switch {
		case kind == "" && err != nil:
			t.Errorf("call %d: ServicePrincipal() error %v, want success", i, err)
		case kind != "" && guard.KindOf(err) != kind:
			t.Errorf("call %d: ServicePrincipal() error %v, want %s", i, err, kind)
		}
		if i == 0 && !strings.Contains(fmt.Sprint(err), graph.Permission) {
			t.Errorf("call 0: error %v, want it to name %s", err, graph.Permission)
		}
	}
	if got := s.Calls(); got != len(want) {
		t.Errorf("Calls() = %d, want %d", got, len(want))
	}
}

func TestGraphRejects(t *testing.T) {
	s := NewGraph(appSP)
	defer s.Close()
	hc := s.srv.Client()
	tests := []struct {
		name, method, path string
		token              bool
		status             int
	}{
		{"no token", http.MethodGet, "/v1.0/servicePrincipals(appId='" + appID + "')", false, http.StatusUnauthorized},
		{"unsupported filter", http.MethodGet, "/v1.0/servicePrincipals?$filter=displayName%20eq%20'x'", true, http.StatusBadRequest},
		{"mismatched lambda variable", http.MethodGet, "/v1.0/servicePrincipals?$filter=alternativeNames/any(x:y%20eq%20'x')", true, http.StatusBadRequest},
		{"other path", http.MethodGet, "/v1.0/applications", true, http.StatusNotFound},
		{"other method", http.MethodDelete, "/v1.0/servicePrincipals(appId='" + appID + "')", true, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, s.URL()+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.token {
				req.Header.Set("Authorization", "Bearer x")
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if err := resp.Body.Close(); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("%s %s answered %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
			}
		})
	}
}

func TestGraphConcurrent(t *testing.T) {
	s := NewGraph()
	defer s.Close()
	c := s.Client()
	const workers = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*workers)
	for i := range workers {
		wg.Go(func() {
			p := guard.Principal{AppID: fmt.Sprintf("%08x-0000-4000-8000-000000000000", i), ObjectID: fmt.Sprintf("%08x-1111-4000-8000-000000000000", i)}
			rid := fmt.Sprintf("/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-%d", i)
			s.AddManagedIdentity(rid, p)
			if got, err := c.ManagedIdentity(t.Context(), rid); err != nil || got != p {
				errs <- fmt.Errorf("worker %d: ManagedIdentity() = %+v, %v; want %+v", i, got, err, p)
			}
			if got, err := c.ServicePrincipal(t.Context(), p.AppID); err != nil || got != p {
				errs <- fmt.Errorf("worker %d: ServicePrincipal() = %+v, %v; want %+v", i, got, err, p)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.Calls(); got != 2*workers {
		t.Errorf("Calls() = %d, want %d", got, 2*workers)
	}
}

// TestGraphMemberOf: checkMemberGroups through the real client: nested
// membership counts, other groups and non-groups do not, and a malformed
// id is refused before anything is sent.
func TestGraphMemberOf(t *testing.T) {
	g := NewGraph()
	defer g.Close()
	const user, team, dept, other = "11111111-0000-4000-8000-000000000001", "22222222-0000-4000-8000-000000000002", "33333333-0000-4000-8000-000000000003", "44444444-0000-4000-8000-000000000004"
	g.AddGroup(dept, team)
	g.AddGroup(team, user)
	got, err := g.Client().MemberOf(t.Context(), user, []string{other, dept, user})
	if err != nil || len(got) != 1 || got[0] != dept {
		t.Errorf("MemberOf() = %v, %v; want the department, through the team", got, err)
	}
	if _, err := g.Client().MemberOf(t.Context(), "not-a-guid", []string{dept}); guard.KindOf(err) != guard.KindInvalid {
		t.Errorf("MemberOf(not a GUID) error = %v, want KindInvalid", err)
	}
}
