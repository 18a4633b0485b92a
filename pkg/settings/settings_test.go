package settings

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/guard"
)

func TestGuard(t *testing.T) {
	env := map[string]string{
		PrincipalID:  "c0ffee00-1d2e-4f3a-8b9c-0d1e2f3a4b5c",
		ClientID:     "b1e2d3c4-a5f6-4789-8abc-def012345678",
		Debounce:     "90s",
		Mode:         "enforce",
		EnforceIn:    "/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2, /subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourceGroups/rg-a",
		Approvers:    "5f0c2a4e-8d9b-4c71-9e3a-2b6d1f7a8c90;dana@contoso.com",
		RoleScopes:   "/providers/Microsoft.Management/managementGroups/contoso",
		MaxUpdating:  "5",
		UserAssigned: "/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourceGroups/rg-id/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cp",
	}
	var cfg guard.Config
	if problems := Guard(func(k string) string { return env[k] }, &cfg); len(problems) > 0 {
		t.Fatalf("Guard() problems %q", problems)
	}
	want := guard.Config{
		Self: []string{env[PrincipalID], env[ClientID]}, Debounce: 90 * time.Second, Mode: guard.ModeEnforce,
		EnforceScopes: []string{"/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2", "/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourceGroups/rg-a"},
		Approvers:     []string{"5f0c2a4e-8d9b-4c71-9e3a-2b6d1f7a8c90", "dana@contoso.com"},
		RoleScopes:    []string{"/providers/Microsoft.Management/managementGroups/contoso"}, MaxUpdating: 5,
		UserAssignedIdentity: env[UserAssigned],
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("Guard() config mismatch (-want +got):\n%s", diff)
	}
}

func TestGuardNamesEveryProblem(t *testing.T) {
	env := map[string]string{
		PrincipalID: "guard", ClientID: "x", Debounce: "soon", Mode: "yolo", EnforceIn: "/subscriptions/abc",
		Approvers: "dana", RoleScopes: "/tenants/x", MaxUpdating: "0", UserAssigned: "/subscriptions/x",
	}
	problems := Guard(func(k string) string { return env[k] }, &guard.Config{})
	for name := range env {
		if !slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, name+"=") }) {
			t.Errorf("Guard() problems %q do not name %s", problems, name)
		}
	}
	if !slices.IsSorted(problems) {
		t.Errorf("Guard() problems %q, want them sorted", problems)
	}
}

func TestEverySettingOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range All {
		if seen[s.Name] {
			t.Errorf("%s is listed twice", s.Name)
		}
		seen[s.Name] = true
		if got, ok := Lookup(s.Name); !ok || got.Name != s.Name {
			t.Errorf("Lookup(%s) = %+v, %v", s.Name, got, ok)
		}
	}
	if _, ok := Lookup("AKSGUARD_NOPE"); ok {
		t.Error("Lookup(AKSGUARD_NOPE) found a setting")
	}
}
