package guard

import (
	"strings"
	"testing"
	"time"
)

// TestBroadGrantWarnings: the plan warns about every grant the new identity
// would inherit that gives much, or gives it widely.
func TestBroadGrantWarnings(t *testing.T) {
	const sub = "/subscriptions/db1ab6f0-4769-4b27-930e-01e2ef9c123c"
	role := func(guid string) string { return sub + "/providers/Microsoft.Authorization/roleDefinitions/" + guid }
	const (
		contributor        = "b24988ac-6180-42a0-ab88-20f7382dd24c"
		networkContributor = "4d97b98b-1d4f-4787-a291-c67834d212e7"
	)
	tests := []struct {
		name, scope, role string
		want              string // a part of the warning; "" for none
	}{
		{"contributor on the subscription", sub, role(contributor), "consider narrowing it first"},
		{"contributor on a resource group", sub + "/resourceGroups/rg-network", role(contributor), "holds Contributor on"},
		{"network contributor on a subnet's vnet", sub + "/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-1", role(networkContributor), ""},
		{"network contributor on the subscription", sub, role(networkContributor), "at subscription scope or above"},
		{"network contributor on a management group", "/providers/Microsoft.Management/managementGroups/corp", role(networkContributor), "at subscription scope or above"},
		{"contributor on a management group", "/providers/Microsoft.Management/managementGroups/corp", role(contributor), "consider narrowing it first"},
		{"network contributor at the root", "/", role(networkContributor), "at subscription scope or above"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RoleAssignment{Scope: tt.scope, RoleDefinitionID: tt.role, PrincipalID: "2f0e1d2c-3b4a-4596-8877-66554433aa11"}.broad()
			switch {
			case tt.want == "" && got != "":
				t.Errorf("broad() = %q, want no warning", got)
			case tt.want != "" && !strings.Contains(got, tt.want):
				t.Errorf("broad() = %q, want a warning saying %q", got, tt.want)
			}
		})
	}
}

// TestActionMatches holds ARM's wildcard rules for role actions.
func TestActionMatches(t *testing.T) {
	for _, tt := range []struct {
		pattern, action string
		want            bool
	}{
		{"*", "Microsoft.Network/virtualNetworks/subnets/join/action", true},
		{"Microsoft.Network/*", "microsoft.network/virtualNetworks/subnets/join/action", true},
		{"*/read", "Microsoft.Network/virtualNetworks/subnets/read", true},
		{"*/read", "Microsoft.Network/virtualNetworks/subnets/join/action", false},
		{"Microsoft.Authorization/*/Write", "Microsoft.Authorization/roleAssignments/write", true},
		{"Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action", "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", true},
		{"Microsoft.ContainerService/managedClusters/read", "Microsoft.ContainerService/managedClusters/write", false},
		{"Microsoft.Compute/*", "Microsoft.ComputeX/diskEncryptionSets/read", false},
	} {
		if got := actionMatches(tt.pattern, tt.action); got != tt.want {
			t.Errorf("actionMatches(%q, %q) = %v, want %v", tt.pattern, tt.action, got, tt.want)
		}
	}
	contributor := []PermissionSet{{Actions: []string{"*"}, NotActions: []string{"Microsoft.Authorization/*/Write"}}}
	if allows(contributor, "Microsoft.Authorization/roleAssignments/write") || !allows(contributor, "Microsoft.Network/virtualNetworks/subnets/join/action") {
		t.Error("allows(Contributor) does not honour its not-actions")
	}
}

// TestFailureCounts holds the retry rules the README states: a step is
// tried 9 times in all after transient errors (8 retries), a refusal for a
// missing permission 4 times (3 retries) before the job blocks, and a
// missing resource cancels a job that has not sent its update but fails
// one that may have changed the cluster; after an update was sent, the
// outcome says a new approval resumes it.
func TestFailureCounts(t *testing.T) {
	r := &run{}
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	transient, forbidden, missing := Errorf(KindTransient, "busy"), Errorf(KindForbidden, "refused"), Errorf(KindNotFound, "gone")
	for _, tt := range []struct {
		name     string
		attempts int
		err      error
		sent     bool
		want     JobState
		text     string
	}{
		{"eighth retry", 7, transient, false, JobPlanned, "retrying at"},
		{"ninth try fails", 8, transient, false, JobFailed, "kept failing"},
		{"third retry of a refusal", 2, forbidden, false, JobPlanned, "retrying at"},
		{"fourth refusal blocks", 3, forbidden, false, JobBlocked, "may not"},
		{"missing before the update", 0, missing, false, JobCancelled, "not found"},
		{"missing after the update", 0, missing, true, JobFailed, "approve again to resume"},
		{"failed after the update", 8, transient, true, JobFailed, "approve again to resume"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			j := Job{State: JobPlanned, Attempts: tt.attempts}
			if tt.sent {
				j.UpdateETag = "etag-1"
			}
			mv := r.failure(j, "read the cluster", tt.err, now)
			if mv.state != tt.want || !strings.Contains(mv.outcome, tt.text) {
				t.Errorf("failure(attempts %d, %v) = %s %q, want %s saying %q", tt.attempts, tt.err, mv.state, mv.outcome, tt.want, tt.text)
			}
		})
	}
}
