package guard

import (
	"strings"
	"testing"
)

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name string
		in   Cluster
		want Verdict
	}{
		{"service principal, no identity", Cluster{HasServicePrincipalProfile: true, ServicePrincipalClientID: "63113597-dbba-427d-82d3-94e4060d0e8b"}, VerdictServicePrincipal},
		{"service principal, identity None", Cluster{IdentityType: "None", HasServicePrincipalProfile: true, ServicePrincipalClientID: "63113597-dbba-427d-82d3-94e4060d0e8b"}, VerdictServicePrincipal},
		{"service principal, identity none lower case", Cluster{IdentityType: "none", HasServicePrincipalProfile: true, ServicePrincipalClientID: "app"}, VerdictServicePrincipal},
		{"system assigned with msi", Cluster{IdentityType: "SystemAssigned", HasServicePrincipalProfile: true, ServicePrincipalClientID: "msi"}, VerdictManagedIdentity},
		{"system assigned with MSI upper case", Cluster{IdentityType: "SystemAssigned", HasServicePrincipalProfile: true, ServicePrincipalClientID: "MSI"}, VerdictManagedIdentity},
		{"system assigned with Msi mixed case", Cluster{IdentityType: "systemassigned", HasServicePrincipalProfile: true, ServicePrincipalClientID: " Msi "}, VerdictManagedIdentity},
		{"user assigned, no profile", Cluster{IdentityType: "UserAssigned"}, VerdictManagedIdentity},
		{"identity with empty clientId", Cluster{IdentityType: "UserAssigned", HasServicePrincipalProfile: true}, VerdictManagedIdentity},
		{"mixed", Cluster{IdentityType: "SystemAssigned", HasServicePrincipalProfile: true, ServicePrincipalClientID: "63113597-dbba-427d-82d3-94e4060d0e8b"}, VerdictMixed},
		{"mixed user assigned", Cluster{IdentityType: "UserAssigned", HasServicePrincipalProfile: true, ServicePrincipalClientID: "app"}, VerdictMixed},
		{"nothing at all", Cluster{}, VerdictUnknown},
		{"profile without clientId", Cluster{HasServicePrincipalProfile: true}, VerdictUnknown},
		{"msi without identity", Cluster{HasServicePrincipalProfile: true, ServicePrincipalClientID: "msi"}, VerdictUnknown},
		{"unsupported identity type", Cluster{IdentityType: "SystemAssigned, UserAssigned"}, VerdictUnknown},
		{"not a cluster", Cluster{Type: "Microsoft.Storage/storageAccounts", HasServicePrincipalProfile: true, ServicePrincipalClientID: "app"}, VerdictUnknown},
		{"Resource Graph lower-case type", Cluster{Type: "microsoft.containerservice/managedclusters", HasServicePrincipalProfile: true, ServicePrincipalClientID: "app"}, VerdictServicePrincipal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Evaluate(tt.in)
			if got.Verdict != tt.want {
				t.Errorf("Evaluate(%+v) = %s %q, want %s", tt.in, got.Verdict, got.Reasons, tt.want)
			}
			if len(got.Reasons) == 0 {
				t.Errorf("Evaluate(%+v) gave no reasons", tt.in)
			}
		})
	}
}

func TestVerdictCompliantAndFlagged(t *testing.T) {
	tests := []struct {
		v                  Verdict
		compliant, flagged bool
	}{
		{VerdictServicePrincipal, false, true},
		{VerdictManagedIdentity, true, false},
		{VerdictMixed, false, true},
		{VerdictUnknown, false, false},
	}
	for _, tt := range tests {
		if tt.v.Compliant() != tt.compliant || tt.v.Flagged() != tt.flagged {
			t.Errorf("%s: Compliant() = %v, Flagged() = %v; want %v, %v", tt.v, tt.v.Compliant(), tt.v.Flagged(), tt.compliant, tt.flagged)
		}
	}
}

func TestClusterIDKey(t *testing.T) {
	a := ClusterID{Subscription: "DB1AB6F0-4769-4b27-930e-01e2ef9c123c", ResourceGroup: "RG(1).x_y", Name: "Cluster-1"}
	b := ClusterID{Subscription: "db1ab6f0-4769-4b27-930e-01e2ef9c123c", ResourceGroup: "rg(1).x_y", Name: "cluster-1"}
	if a.Key() != b.Key() || !a.Same(b) {
		t.Errorf("Key(%v) = %q, Key(%v) = %q; want equal", a, a.Key(), b, b.Key())
	}
	for _, bad := range []string{"/", `\`, "#", "?", "%", "'", "\x01"} {
		k := EncodeKey("a" + bad + "b")
		for _, c := range []string{"/", `\`, "#", "?", "%", "'", "\x01"} {
			if strings.IndexByte(k, c[0]) >= 0 {
				t.Errorf("EncodeKey(%q) = %q, which contains %q", "a"+bad+"b", k, c)
			}
		}
	}
	if EncodeKey("a/b") == EncodeKey("a:b") {
		t.Errorf("EncodeKey(a/b) = EncodeKey(a:b) = %q, want distinct", EncodeKey("a/b"))
	}
}
