package rbac_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2/fake"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/rbac"
	"github.com/aksguard/aksguard/pkg/sampletest"
)

// The subscription, principal and role of the azure-rest-api-specs
// Authorization 2022-04-01 examples.
const (
	specSub       = "a925f2f7-5c63-4b7b-8799-25a5f97bc3b2"
	specPrincipal = "ce2ce14e-85d7-4629-bdbc-454d0519d987"
	specRole      = "/providers/Microsoft.Authorization/roleDefinitions/0b5fe924-9a61-425c-96af-cfe6e287ca2d"
)

const (
	subA   = "7081f3a5-4a28-420f-983d-d492b49d20a2"
	subB   = "e8b427c5-2832-403d-beae-d6552b1bcfb5"
	spOld  = "3bf1b8fa-ad21-402f-888a-ec509e7f55f1" // the cluster's service principal
	spNew  = "9d7c0b3e-2f14-4e51-a1c2-5b6f0e8d4a71" // the new control-plane identity
	other  = "11111111-1111-4111-8111-111111111111"
	mgRoot = "/providers/Microsoft.Management/managementGroups/contoso"
)

// Built-in roles, in the subscription-level form callers send.
func contributor(sub string) string {
	return "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"
}

func acrPull(sub string) string {
	return "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + guard.AcrPullRoleID
}

// sampleList decodes a sample list body as the SDK does.
func sampleList(t *testing.T, file string) armauthorization.RoleAssignmentsClientListForScopeResponse {
	t.Helper()
	var page armauthorization.RoleAssignmentsClientListForScopeResponse
	if err := json.Unmarshal(sampletest.Read(t, file), &page.RoleAssignmentListResult); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return page
}

// recorder is a transport that keeps the raw query of every request before
// handing it on.
type recorder struct {
	next policy.Transporter

	mu      sync.Mutex
	queries []string
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.queries = append(r.queries, req.URL.RawQuery)
	r.mu.Unlock()
	return r.next.Do(req)
}

// fakeClient returns a Client served by srv, and the recorder in front of it.
func fakeClient(srv *fake.RoleAssignmentsServer) (*rbac.Client, *recorder) {
	rec := &recorder{next: fake.NewRoleAssignmentsServerTransport(srv)}
	return rbac.New(&azfake.TokenCredential{}, &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: rec}}), rec
}

func TestAssignmentsOfSamples(t *testing.T) {
	// ARM pages: the ListForScope example, then the ListForResourceGroup
	// example, which repeats the subscription-level assignment.
	var gotScope, gotFilter string
	srv := &fake.RoleAssignmentsServer{
		NewListForScopePager: func(scope string, opts *armauthorization.RoleAssignmentsClientListForScopeOptions) (resp azfake.PagerResponder[armauthorization.RoleAssignmentsClientListForScopeResponse]) {
			gotScope = scope
			if opts != nil && opts.Filter != nil {
				gotFilter = *opts.Filter
			}
			resp.AddPage(http.StatusOK, sampleList(t, "roleassignments_list_spec_2022-04-01_ListForScope.json"), nil)
			resp.AddPage(http.StatusOK, sampleList(t, "roleassignments_list_spec_2022-04-01_ListForResourceGroup.json"), nil)
			return resp
		},
	}
	c, rec := fakeClient(srv)
	scope := "/subscriptions/" + specSub

	got, err := c.AssignmentsOf(t.Context(), specPrincipal, []string{scope})
	if err != nil {
		t.Fatalf("AssignmentsOf(%s, %s) error %v", specPrincipal, scope, err)
	}
	want := []guard.RoleAssignment{
		{
			ID:               "/subscriptions/" + specSub + "/providers/Microsoft.Authorization/roleAssignments/b0f43c54-e787-4862-89b1-a653fa9cf747",
			Scope:            "/subscriptions/" + specSub,
			RoleDefinitionID: specRole,
			PrincipalID:      specPrincipal,
			PrincipalType:    "User",
		},
		{
			ID:               "/subscriptions/" + specSub + "/resourceGroups/testrg/providers/Microsoft.Authorization/roleAssignments/96786e4b-dede-4c2e-8736-8ab911987f08",
			Scope:            "/subscriptions/" + specSub + "/resourceGroups/testrg",
			RoleDefinitionID: specRole,
			PrincipalID:      specPrincipal,
			PrincipalType:    "User",
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AssignmentsOf(%s, %s) mismatch (-want +got):\n%s", specPrincipal, scope, diff)
	}
	// The fake hands over the path's scope without its leading slash.
	if want := "subscriptions/" + specSub; gotScope != want {
		t.Errorf("listed scope %q, want %q", gotScope, want)
	}
	if want := "principalId eq '" + specPrincipal + "'"; gotFilter != want {
		t.Errorf("listed with filter %q, want %q", gotFilter, want)
	}
	// On the wire the filter is query-encoded: a raw space is a malformed
	// request line.
	if len(rec.queries) != 2 {
		t.Fatalf("%d requests, want 2 (one per page): %q", len(rec.queries), rec.queries)
	}
	if want := "$filter=principalId+eq+%27" + specPrincipal + "%27"; !strings.Contains(rec.queries[0], want) {
		t.Errorf("first request query %q, want it to contain %q", rec.queries[0], want)
	}
	for _, q := range rec.queries {
		if strings.ContainsAny(q, " '") {
			t.Errorf("request query %q holds a raw space or quote", q)
		}
	}
}

// assignmentID is the resource ID of the role assignment name at scope.
func assignmentID(scope, name string) string {
	return strings.TrimRight(scope, "/") + "/providers/Microsoft.Authorization/roleAssignments/" + name
}

// toSDK returns a as ARM's REST API shows it.
func toSDK(a guard.RoleAssignment) *armauthorization.RoleAssignment {
	return &armauthorization.RoleAssignment{ID: to.Ptr(a.ID), Properties: &armauthorization.RoleAssignmentProperties{
		Scope: to.Ptr(a.Scope), RoleDefinitionID: to.Ptr(a.RoleDefinitionID), PrincipalID: to.Ptr(a.PrincipalID),
		PrincipalType: to.Ptr(armauthorization.PrincipalType(a.PrincipalType)),
	}}
}

func TestAssignmentsOfFiltersPrincipal(t *testing.T) {
	// A server that ignores the filter and returns everyone's assignments,
	// as assignedTo() would return a group's: only the principal's own
	// count.
	sub := "/subscriptions/" + subA
	everyone := []*armauthorization.RoleAssignment{
		toSDK(guard.RoleAssignment{Scope: sub, ID: assignmentID(sub, rbac.AssignmentName(sub, contributor(subA), spOld)), RoleDefinitionID: contributor(subA), PrincipalID: spOld, PrincipalType: "ServicePrincipal"}),
		toSDK(guard.RoleAssignment{Scope: sub, ID: assignmentID(sub, rbac.AssignmentName(sub, contributor(subA), other)), RoleDefinitionID: contributor(subA), PrincipalID: other, PrincipalType: "Group"}),
		{ID: to.Ptr(sub + "/providers/Microsoft.Authorization/roleAssignments/no-properties")},
		nil,
	}
	srv := &fake.RoleAssignmentsServer{
		NewListForScopePager: func(string, *armauthorization.RoleAssignmentsClientListForScopeOptions) (resp azfake.PagerResponder[armauthorization.RoleAssignmentsClientListForScopeResponse]) {
			resp.AddPage(http.StatusOK, armauthorization.RoleAssignmentsClientListForScopeResponse{
				RoleAssignmentListResult: armauthorization.RoleAssignmentListResult{Value: everyone},
			}, nil)
			return resp
		},
	}
	c, _ := fakeClient(srv)
	// The principal's ID in upper case: GUIDs compare case-insensitively.
	got, err := c.AssignmentsOf(t.Context(), strings.ToUpper(spOld), []string{sub})
	if err != nil {
		t.Fatalf("AssignmentsOf() error %v", err)
	}
	if len(got) != 1 || got[0].PrincipalID != spOld {
		t.Errorf("AssignmentsOf(%s) = %+v, want only the assignment of %s", spOld, got, spOld)
	}
}

func TestAssignmentsOfSim(t *testing.T) {
	subAScope, subBScope := "/subscriptions/"+subA, "/subscriptions/"+subB
	rg := subAScope + "/resourceGroups/rg-payments"
	acr := subBScope + "/resourceGroups/rg-shared/providers/Microsoft.ContainerRegistry/registries/payments"
	s := azurefake.NewRBAC()
	held := []guard.RoleAssignment{
		{Scope: mgRoot, RoleDefinitionID: "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7", PrincipalID: spOld, PrincipalType: "ServicePrincipal"},
		{Scope: subAScope, RoleDefinitionID: contributor(subA), PrincipalID: spOld, PrincipalType: "ServicePrincipal"},
		{Scope: rg, RoleDefinitionID: contributor(subA), PrincipalID: spOld, PrincipalType: "ServicePrincipal",
			Condition: "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:ContainerName] StringEqualsIgnoreCase 'logs'", ConditionVersion: "2.0"},
		{Scope: acr, RoleDefinitionID: acrPull(subB), PrincipalID: spOld, PrincipalType: "ServicePrincipal"},
	}
	for _, a := range held {
		s.Add(a)
	}
	// Someone else's, at the same scopes.
	s.Add(guard.RoleAssignment{Scope: subAScope, RoleDefinitionID: contributor(subA), PrincipalID: other, PrincipalType: "User"})
	s.Add(guard.RoleAssignment{Scope: acr, RoleDefinitionID: acrPull(subB), PrincipalID: other, PrincipalType: "User"})
	byScope := map[string]guard.RoleAssignment{}
	for _, a := range s.Assignments() {
		if a.PrincipalID == spOld {
			byScope[a.Scope] = a
		}
	}

	tests := []struct {
		name   string
		scopes []string
		want   []string // scopes of the assignments, in order
		apis   int      // SDK clients created
	}{
		{name: "no scopes", apis: 0},
		{name: "subscription: above, at and below", scopes: []string{subAScope}, want: []string{mgRoot, subAScope, rg}, apis: 1},
		{name: "resource group: above and at", scopes: []string{rg}, want: []string{mgRoot, subAScope, rg}, apis: 1},
		{name: "two subscriptions", scopes: []string{subAScope, subBScope}, want: []string{mgRoot, subAScope, rg, acr}, apis: 2},
		{name: "overlapping scopes are deduplicated", scopes: []string{subAScope, rg, strings.ToUpper(subAScope) + "/"}, want: []string{mgRoot, subAScope, rg}, apis: 1},
		{name: "subscription without any", scopes: []string{"/subscriptions/" + other}, want: []string{mgRoot}, apis: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s.Client()
			got, err := c.AssignmentsOf(t.Context(), spOld, tt.scopes)
			if err != nil {
				t.Fatalf("AssignmentsOf(%s, %q) error %v", spOld, tt.scopes, err)
			}
			var want []guard.RoleAssignment
			for _, sc := range tt.want {
				want = append(want, byScope[sc])
			}
			// The Sim lists in ID order; compare as sets.
			sortByID := cmp.Transformer("sort", func(in []guard.RoleAssignment) map[string]guard.RoleAssignment {
				m := map[string]guard.RoleAssignment{}
				for _, a := range in {
					m[a.ID] = a
				}
				return m
			})
			if diff := cmp.Diff(want, got, sortByID); diff != "" {
				t.Errorf("AssignmentsOf(%s, %q) mismatch (-want +got):\n%s", spOld, tt.scopes, diff)
			}
			if len(got) != len(tt.want) {
				t.Errorf("AssignmentsOf(%s, %q) returned %d assignments, want %d", spOld, tt.scopes, len(got), len(tt.want))
			}
			if n := rbac.SubscriptionClients(c); n != tt.apis {
				t.Errorf("%d SDK clients after AssignmentsOf(%q), want %d (one per subscription)", n, tt.scopes, tt.apis)
			}
		})
	}
}

func TestAssign(t *testing.T) {
	// The spec's CreateForResource example: its request parameters and the
	// scope as the path carries it.
	var ex struct {
		Scope      string                                          `json:"scope"`
		Parameters armauthorization.RoleAssignmentCreateParameters `json:"parameters"`
	}
	if err := json.Unmarshal(sampletest.Read(t, "wrapper_spec_2022-04-01_RoleAssignments_CreateForResource.json", "parameters"), &ex); err != nil {
		t.Fatal(err)
	}
	exScope := "/" + ex.Scope
	cond := "@Resource[Microsoft.Storage/storageAccounts/blobServices/containers:ContainerName] StringEqualsIgnoreCase 'logs'"
	sub := "/subscriptions/" + subA

	tests := []struct {
		name string
		in   guard.RoleAssignment
		want guard.RoleAssignment
	}{
		{
			name: "spec example",
			in: guard.RoleAssignment{
				Scope:            exScope,
				RoleDefinitionID: *ex.Parameters.Properties.RoleDefinitionID,
				PrincipalID:      *ex.Parameters.Properties.PrincipalID,
				PrincipalType:    string(*ex.Parameters.Properties.PrincipalType),
			},
			want: guard.RoleAssignment{
				ID:               assignmentID(exScope, rbac.AssignmentName(exScope, specRole, specPrincipal)),
				Scope:            exScope,
				RoleDefinitionID: *ex.Parameters.Properties.RoleDefinitionID,
				PrincipalID:      specPrincipal,
				PrincipalType:    "User",
			},
		},
		{
			name: "principal type defaults to ServicePrincipal; ID and role name ignored",
			in:   guard.RoleAssignment{ID: "ignored", RoleName: "Contributor", Scope: sub + "/", RoleDefinitionID: contributor(subA), PrincipalID: spNew},
			want: guard.RoleAssignment{
				ID:               assignmentID(sub, rbac.AssignmentName(sub, contributor(subA), spNew)),
				Scope:            sub,
				RoleDefinitionID: contributor(subA),
				PrincipalID:      spNew,
				PrincipalType:    "ServicePrincipal",
			},
		},
		{
			name: "condition version defaults to 2.0",
			in:   guard.RoleAssignment{Scope: sub, RoleDefinitionID: contributor(subA), PrincipalID: spNew, Condition: cond},
			want: guard.RoleAssignment{
				ID:               assignmentID(sub, rbac.AssignmentName(sub, contributor(subA), spNew)),
				Scope:            sub,
				RoleDefinitionID: contributor(subA),
				PrincipalID:      spNew,
				PrincipalType:    "ServicePrincipal",
				Condition:        cond,
				ConditionVersion: "2.0",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := azurefake.NewRBAC()
			if err := s.Client().Assign(t.Context(), tt.in); err != nil {
				t.Fatalf("Assign(%+v) error %v", tt.in, err)
			}
			if diff := cmp.Diff([]guard.RoleAssignment{tt.want}, s.Assignments()); diff != "" {
				t.Errorf("after Assign(%+v) mismatch (-want +got):\n%s", tt.in, diff)
			}
			if got := s.Calls("Create"); got != 1 {
				t.Errorf("Calls(Create) = %d, want 1", got)
			}
		})
	}
}

func TestAssignExisting(t *testing.T) {
	sub := "/subscriptions/" + subA
	a := guard.RoleAssignment{Scope: sub, RoleDefinitionID: contributor(subA), PrincipalID: spNew}
	tests := []struct {
		name     string
		existing *guard.RoleAssignment // added to the Sim before Assign
	}{
		{name: "same name: ARM answers 200"},
		{
			name: "same grant under another name: ARM answers 409 RoleAssignmentExists",
			existing: &guard.RoleAssignment{
				ID:    sub + "/providers/Microsoft.Authorization/roleAssignments/5f2b6a2e-0c41-4b8e-9d5a-7f0f8b3c2d11",
				Scope: sub,
				// The tenant-level form ARM lists: the same role.
				RoleDefinitionID: "/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c",
				PrincipalID:      strings.ToUpper(spNew),
				PrincipalType:    "ServicePrincipal",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := azurefake.NewRBAC()
			if tt.existing != nil {
				s.Add(*tt.existing)
			}
			c := s.Client()
			for i := range 3 {
				if err := c.Assign(t.Context(), a); err != nil {
					t.Fatalf("call %d: Assign(%+v) error %v, want nil: it exists", i, a, err)
				}
			}
			if got := len(s.Assignments()); got != 1 {
				t.Errorf("%d assignments after Assign, want 1: %+v", got, s.Assignments())
			}
			if got := s.Calls("Create"); got != 3 {
				t.Errorf("Calls(Create) = %d, want 3", got)
			}
		})
	}
}

func TestClientErrors(t *testing.T) {
	sub := "/subscriptions/" + subA
	assign := func(c *rbac.Client) error {
		return c.Assign(t.Context(), guard.RoleAssignment{Scope: sub, RoleDefinitionID: contributor(subA), PrincipalID: spNew})
	}
	list := func(c *rbac.Client) error {
		_, err := c.AssignmentsOf(t.Context(), spOld, []string{sub})
		return err
	}
	tests := []struct {
		name   string
		method string
		call   func(*rbac.Client) error
		status int
		code   string
		kind   guard.ErrorKind
		prefix string
	}{
		{"assign forbidden", "Create", assign, http.StatusForbidden, "AuthorizationFailed", guard.KindForbidden,
			"assign role " + contributor(subA) + " on " + sub + " to " + spNew},
		{"assign principal not replicated yet", "Create", assign, http.StatusBadRequest, "PrincipalNotFound", guard.KindTransient, "assign role "},
		{"assign throttled", "RoleAssignmentsClient.Create", assign, http.StatusTooManyRequests, "TooManyRequests", guard.KindTransient, "assign role "},
		{"assign invalid condition", "Create", assign, http.StatusBadRequest, "InvalidRequestContent", guard.KindInvalid, "assign role "},
		{"list forbidden", "NewListForScopePager", list, http.StatusForbidden, "AuthorizationFailed", guard.KindForbidden,
			"list role assignments of " + spOld + " at " + sub},
		{"list scope gone", "NewListForScopePager", list, http.StatusNotFound, "SubscriptionNotFound", guard.KindNotFound, "list role assignments "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := azurefake.NewRBAC()
			s.FailNext(tt.method, 1, tt.status, tt.code)
			err := tt.call(s.Client())
			if err == nil {
				t.Fatalf("error = nil, want %s (%s)", tt.kind, tt.code)
			}
			if got := guard.KindOf(err); got != tt.kind {
				t.Errorf("KindOf(%v) = %s, want %s", err, got, tt.kind)
			}
			if got := guard.CodeOf(err); got != tt.code {
				t.Errorf("CodeOf(%v) = %q, want %q", err, got, tt.code)
			}
			if !strings.HasPrefix(err.Error(), tt.prefix) {
				t.Errorf("error %q, want it to start with %q", err, tt.prefix)
			}
			var re *azcore.ResponseError
			if !errors.As(err, &re) {
				t.Errorf("error %v does not wrap the SDK's *azcore.ResponseError", err)
			}
			if got := s.Calls(tt.method); got != 1 {
				t.Errorf("Calls(%s) = %d, want 1: fake failures are not retried", tt.method, got)
			}
			if len(s.Assignments()) != 0 {
				t.Errorf("assignments after a failed call: %+v", s.Assignments())
			}
		})
	}
}

func TestClientInvalidInput(t *testing.T) {
	sub := "/subscriptions/" + subA
	tests := []struct {
		name string
		call func(*rbac.Client) error
	}{
		{"list: principal not a GUID", func(c *rbac.Client) error {
			_, err := c.AssignmentsOf(t.Context(), "abc' or principalId eq 'x", []string{sub})
			return err
		}},
		{"list: relative scope", func(c *rbac.Client) error {
			_, err := c.AssignmentsOf(t.Context(), spOld, []string{"subscriptions/" + subA})
			return err
		}},
		{"list: scope with a query", func(c *rbac.Client) error {
			_, err := c.AssignmentsOf(t.Context(), spOld, []string{sub + "?$filter=atScope()"})
			return err
		}},
		{"list: scope with ..", func(c *rbac.Client) error {
			_, err := c.AssignmentsOf(t.Context(), spOld, []string{sub + "/../" + subB})
			return err
		}},
		{"list: empty scope", func(c *rbac.Client) error {
			_, err := c.AssignmentsOf(t.Context(), spOld, []string{"/"})
			return err
		}},
		{"assign: principal not a GUID", func(c *rbac.Client) error {
			return c.Assign(t.Context(), guard.RoleAssignment{Scope: sub, RoleDefinitionID: contributor(subA), PrincipalID: "payments-sp"})
		}},
		{"assign: role is not a role definition ID", func(c *rbac.Client) error {
			return c.Assign(t.Context(), guard.RoleAssignment{Scope: sub, RoleDefinitionID: "Contributor", PrincipalID: spNew})
		}},
		{"assign: scope with a space", func(c *rbac.Client) error {
			return c.Assign(t.Context(), guard.RoleAssignment{Scope: sub + "/resourceGroups/rg one", RoleDefinitionID: contributor(subA), PrincipalID: spNew})
		}},
		{"assign: scope with an encoded slash", func(c *rbac.Client) error {
			return c.Assign(t.Context(), guard.RoleAssignment{Scope: sub + "%2F..", RoleDefinitionID: contributor(subA), PrincipalID: spNew})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := azurefake.NewRBAC()
			err := tt.call(s.Client())
			if got := guard.KindOf(err); err == nil || got != guard.KindInvalid {
				t.Errorf("error %v (%s), want %s", err, got, guard.KindInvalid)
			}
			if n := s.Calls("Create") + s.Calls("NewListForScopePager"); n != 0 {
				t.Errorf("%d requests sent for invalid input, want 0", n)
			}
		})
	}
}

func TestAssignmentName(t *testing.T) {
	sub := "/subscriptions/" + subA
	name := rbac.AssignmentName(sub, contributor(subA), spNew)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(name) {
		t.Errorf("rbac.AssignmentName() = %q, want a lower-case version-5 GUID", name)
	}
	// Pinned: a change would give the assignments the guard made new names
	// (ARM would answer RoleAssignmentExists to them). The value is Python's
	// uuid.uuid5(UUID("6b1f3c52-9e07-4d1a-8f3e-2ac4517d90e3"),
	// "<scope>\n<role GUID>\n<principal>"), all lower-case.
	if want := "8e3923a4-8d4f-5a89-ac08-afbaf8ed0ed5"; name != want {
		t.Errorf("rbac.AssignmentName() = %q, want the pinned %q", name, want)
	}

	same := []struct{ scope, role, principal string }{
		{sub, contributor(subA), spNew},
		{strings.ToUpper(sub) + "/", strings.ToUpper(contributor(subA)), strings.ToUpper(spNew)},
		// The tenant-level form of the same role.
		{sub, "/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c", spNew},
	}
	for _, in := range same {
		for range 3 {
			if got := rbac.AssignmentName(in.scope, in.role, in.principal); got != name {
				t.Errorf("rbac.AssignmentName(%q, %q, %q) = %s, want %s", in.scope, in.role, in.principal, got, name)
			}
		}
	}
	differ := []struct{ scope, role, principal string }{
		{"/subscriptions/" + subB, contributor(subA), spNew},
		{sub + "/resourceGroups/rg", contributor(subA), spNew},
		{sub, acrPull(subA), spNew},
		{sub, contributor(subA), spOld},
	}
	seen := map[string]bool{name: true}
	for _, in := range differ {
		got := rbac.AssignmentName(in.scope, in.role, in.principal)
		if seen[got] {
			t.Errorf("rbac.AssignmentName(%q, %q, %q) = %s, which another input gave too", in.scope, in.role, in.principal, got)
		}
		seen[got] = true
	}
}

func TestClientConcurrent(t *testing.T) {
	s := azurefake.NewRBAC()
	c := s.Client()
	subs := []string{subA, subB}
	const workers = 16
	var wg sync.WaitGroup
	errs := make(chan error, workers*4)
	for i := range workers {
		wg.Go(func() {
			sub := "/subscriptions/" + subs[i%2]
			rg := fmt.Sprintf("%s/resourceGroups/rg-%d", sub, (i/2)%4)
			for _, scope := range []string{sub, rg} {
				// Half the workers grant the same roles: those race on the
				// same names.
				if err := c.Assign(t.Context(), guard.RoleAssignment{Scope: scope, RoleDefinitionID: contributor(subs[i%2]), PrincipalID: spNew}); err != nil {
					errs <- fmt.Errorf("worker %d: Assign(%s) error %v", i, scope, err)
				}
			}
			if _, err := c.AssignmentsOf(t.Context(), spNew, []string{sub}); err != nil {
				errs <- fmt.Errorf("worker %d: AssignmentsOf(%s) error %v", i, sub, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Two subscriptions, each with itself and four resource groups.
	if got := len(s.Assignments()); got != 10 {
		t.Errorf("%d assignments after the concurrent grants, want 10", got)
	}
	got, err := c.AssignmentsOf(t.Context(), spNew, []string{"/subscriptions/" + subA, "/subscriptions/" + subB})
	if err != nil || len(got) != 10 {
		t.Errorf("AssignmentsOf(both subscriptions) = %d assignments, %v; want 10, nil", len(got), err)
	}
	if n := rbac.SubscriptionClients(c); n != 2 {
		t.Errorf("%d SDK clients, want 2 (one per subscription)", n)
	}
}
