package azurefake

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/guard"
)

// sdkClient returns the SDK's own client on s, for tests of the Sim as an
// ARM stand-in.
func sdkClient(t *testing.T, s *RBAC) *armauthorization.RoleAssignmentsClient {
	t.Helper()
	c, err := armauthorization.NewRoleAssignmentsClient(specSub, &azfake.TokenCredential{}, s.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// listIDs lists scope with filter through the SDK and returns the names of
// the assignments.
func listIDs(t *testing.T, c *armauthorization.RoleAssignmentsClient, scope, filter string) ([]string, error) {
	t.Helper()
	var opts *armauthorization.RoleAssignmentsClientListForScopeOptions
	if filter != "" {
		opts = &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: &filter}
	}
	var names []string
	pager := c.NewListForScopePager(scope, opts)
	for pager.More() {
		page, err := pager.NextPage(t.Context())
		if err != nil {
			return nil, err
		}
		for _, a := range page.Value {
			names = append(names, *a.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}

func TestRBACListFilters(t *testing.T) {
	// The assignments of the ListForResourceGroup example, plus one of
	// another principal below the resource group.
	s := NewRBAC()
	for _, a := range sampleAssignments(t, "roleassignments_list_spec_2022-04-01_ListForResourceGroup.json") {
		s.Add(a)
	}
	vault := "/subscriptions/" + specSub + "/resourceGroups/testrg/providers/Microsoft.KeyVault/vaults/kv1"
	s.Add(guard.RoleAssignment{ID: vault + "/providers/Microsoft.Authorization/roleAssignments/2c0d8d0e-6a38-4a3b-9a7e-0b6a1f0c7e55",
		RoleDefinitionID: specRole, PrincipalID: other, PrincipalType: "Group"})
	const (
		atSub = "b0f43c54-e787-4862-89b1-a653fa9cf747"
		atRG  = "96786e4b-dede-4c2e-8736-8ab911987f08"
		atKV  = "2c0d8d0e-6a38-4a3b-9a7e-0b6a1f0c7e55"
	)
	sub, rg := "/subscriptions/"+specSub, "/subscriptions/"+specSub+"/resourceGroups/testrg"
	c := sdkClient(t, s)

	tests := []struct {
		scope, filter string
		want          []string
	}{
		{sub, "", []string{atKV, atSub, atRG}},
		{rg, "", []string{atKV, atSub, atRG}},
		{vault, "", []string{atKV, atSub, atRG}},
		{rg, "atScope()", []string{atSub, atRG}},
		{sub, "atScope()", []string{atSub}},
		{sub, "principalId+eq+%27" + specPrincipal + "%27", []string{atSub, atRG}},
		{vault, "principalId+eq+%27" + other + "%27", []string{atKV}},
		{sub, "assignedTo(%27" + specPrincipal + "%27)", []string{atSub, atRG}},
		{"/subscriptions/" + subB, "", nil},
	}
	for _, tt := range tests {
		got, err := listIDs(t, c, tt.scope, tt.filter)
		if err != nil {
			t.Errorf("list %s filter %q error %v", tt.scope, tt.filter, err)
			continue
		}
		if diff := cmp.Diff(slices.Sorted(slices.Values(tt.want)), got); diff != "" {
			t.Errorf("list %s filter %q mismatch (-want +got):\n%s", tt.scope, tt.filter, diff)
		}
	}

	_, err := listIDs(t, c, sub, "roleDefinitionId+eq+%27x%27")
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
		t.Errorf("list with an unsupported filter: error %v, want HTTP 400", err)
	}
}

func TestRBACCreate(t *testing.T) {
	sub := "/subscriptions/" + subA
	name := "5f2b6a2e-0c41-4b8e-9d5a-7f0f8b3c2d11"
	props := func(role, principal string) armauthorization.RoleAssignmentCreateParameters {
		return armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr(role), PrincipalID: to.Ptr(principal),
		}}
	}
	tests := []struct {
		name   string
		create string // assignment name
		params armauthorization.RoleAssignmentCreateParameters
		status int    // success status
		code   string // error code, for a failure
	}{
		{name: "new", create: "0b9c8d7e-6f5a-4b3c-9d2e-1f0a9b8c7d6e", params: props(contributor(subA), spNew), status: http.StatusCreated},
		{name: "same name, same grant", create: name, params: props(contributor(subA), spOld), status: http.StatusOK},
		{name: "another name, same grant", create: "6a1d2e3f-4b5c-4d6e-8f70-8192a3b4c5d6", params: props(contributor(subA), spOld), code: "RoleAssignmentExists"},
		{name: "same name, another principal", create: name, params: props(contributor(subA), spNew), code: "RoleAssignmentUpdateNotPermitted"},
		{name: "name not a GUID", create: "payments", params: props(contributor(subA), spNew), code: "InvalidRoleAssignmentId"},
		{name: "no properties", create: name, code: "InvalidRequestContent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewRBAC()
			s.Add(guard.RoleAssignment{ID: assignmentID(sub, name), RoleDefinitionID: contributor(subA), PrincipalID: spOld})
			var raw *http.Response
			_, err := sdkClient(t, s).Create(policy.WithCaptureResponse(t.Context(), &raw), sub, tt.create, tt.params, nil)
			var re *azcore.ResponseError
			switch {
			case tt.code == "" && err != nil:
				t.Fatalf("Create(%s) error %v, want HTTP %d", tt.create, err, tt.status)
			case tt.code == "" && raw.StatusCode != tt.status:
				t.Errorf("Create(%s) answered HTTP %d, want %d", tt.create, raw.StatusCode, tt.status)
			case tt.code != "" && (!errors.As(err, &re) || re.ErrorCode != tt.code):
				t.Fatalf("Create(%s) error %v, want code %s", tt.create, err, tt.code)
			}
			want := 1
			if tt.status == http.StatusCreated {
				want = 2
			}
			if got := len(s.Assignments()); got != want {
				t.Errorf("%d assignments after Create(%s), want %d", got, tt.create, want)
			}
		})
	}
}

func TestRBACFailNext(t *testing.T) {
	s := NewRBAC()
	s.FailNext("Create", 2, http.StatusTooManyRequests, "TooManyRequests")
	s.FailNext("RoleAssignmentsClient.Create", 1, http.StatusForbidden, "AuthorizationFailed")
	s.FailNext("Create", 0, http.StatusForbidden, "ignored")
	c := s.Client()
	a := guard.RoleAssignment{Scope: "/subscriptions/" + subA, RoleDefinitionID: contributor(subA), PrincipalID: spNew}
	want := []guard.ErrorKind{guard.KindTransient, guard.KindTransient, guard.KindForbidden, ""}
	for i, kind := range want {
		err := c.Assign(t.Context(), a)
		switch {
		case kind == "" && err != nil:
			t.Errorf("call %d: Assign() error %v, want success", i, err)
		case kind != "" && guard.KindOf(err) != kind:
			t.Errorf("call %d: Assign() error %v, want %s", i, err, kind)
		}
	}
	if got := s.Calls("Create"); got != len(want) {
		t.Errorf("Calls(Create) = %d, want %d", got, len(want))
	}
	if got := s.Calls("NewListForScopePager"); got != 0 {
		t.Errorf("Calls(NewListForScopePager) = %d, want 0", got)
	}
}

func TestRBACAddPanics(t *testing.T) {
	for _, a := range []guard.RoleAssignment{
		{},
		{Scope: "subscriptions/" + subA, RoleDefinitionID: contributor(subA), PrincipalID: spNew},
		{Scope: "/subscriptions/" + subA, PrincipalID: spNew},
		{Scope: "/subscriptions/" + subA, RoleDefinitionID: contributor(subA)},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Add(%+v) did not panic", a)
				}
			}()
			NewRBAC().Add(a)
		}()
	}
}
