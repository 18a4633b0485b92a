package guard

import (
	"strings"
)

// Verdict says how a cluster's control plane authenticates to Azure.
type Verdict string

const (
	// VerdictServicePrincipal: no managed identity; servicePrincipalProfile
	// holds an application id. Non-compliant, flagged, remediable.
	VerdictServicePrincipal Verdict = "service-principal"
	// VerdictManagedIdentity: a system- or user-assigned identity and no
	// service principal. Compliant.
	VerdictManagedIdentity Verdict = "managed-identity"
	// VerdictMixed: a managed identity is set, yet servicePrincipalProfile
	// still holds an application id. Non-compliant, flagged, manual review.
	VerdictMixed Verdict = "mixed"
	// VerdictUnknown: the resource does not say enough to decide. Reported,
	// not flagged.
	VerdictUnknown Verdict = "unknown"
)

// Compliant reports whether the verdict satisfies Azure Policy
// da6e2401-19da-4532-9141-fb8fbde08431 (AKS clusters should use managed
// identities). An unknown verdict is not shown compliant.
func (v Verdict) Compliant() bool { return v == VerdictManagedIdentity }

// Flagged reports whether the verdict opens a finding.
func (v Verdict) Flagged() bool { return v == VerdictServicePrincipal || v == VerdictMixed }

// msiClientID is the servicePrincipalProfile.clientId AKS reports for a
// cluster whose control plane uses a managed identity.
const msiClientID = "msi"

// usesMSI reports whether c's servicePrincipalProfile says the control
// plane uses its managed identity.
func (c *Cluster) usesMSI() bool {
	return strings.EqualFold(strings.TrimSpace(c.ServicePrincipalClientID), msiClientID)
}

// Evaluation is a verdict with the facts that led to it, in words a person
// reads in a report or an alert.
type Evaluation struct {
	Verdict Verdict
	Reasons []string
}

// Evaluate applies the verdict table of the design to c. It never fails:
// missing or contradictory data gives VerdictUnknown with the reason.
func Evaluate(c Cluster) Evaluation {
	if c.Type != "" && !strings.EqualFold(c.Type, "Microsoft.ContainerService/managedClusters") {
		return Evaluation{VerdictUnknown, []string{"resource type " + c.Type + " is not Microsoft.ContainerService/managedClusters"}}
	}
	sp := strings.TrimSpace(c.ServicePrincipalClientID)
	usesMSI := c.usesMSI()
	hasSP := sp != "" && !usesMSI

	switch it := strings.ToLower(strings.TrimSpace(c.IdentityType)); it {
	case "systemassigned", "userassigned":
		if hasSP {
			return Evaluation{VerdictMixed, []string{
				"identity.type is " + c.IdentityType,
				"servicePrincipalProfile.clientId is " + sp + ", not msi",
			}}
		}
		r := []string{"identity.type is " + c.IdentityType}
		if usesMSI {
			r = append(r, "servicePrincipalProfile.clientId is msi")
		} else {
			r = append(r, "no service principal")
		}
		return Evaluation{VerdictManagedIdentity, r}
	case "", "none":
		what := "no identity"
		if it == "none" {
			what = "identity.type is None"
		}
		switch {
		case hasSP:
			return Evaluation{VerdictServicePrincipal, []string{what, "servicePrincipalProfile.clientId is " + sp}}
		case usesMSI:
			return Evaluation{VerdictUnknown, []string{what + " but servicePrincipalProfile.clientId is msi"}}
		case c.HasServicePrincipalProfile:
			return Evaluation{VerdictUnknown, []string{what + " and servicePrincipalProfile has no clientId"}}
		default:
			return Evaluation{VerdictUnknown, []string{what + " and no servicePrincipalProfile"}}
		}
	default:
		return Evaluation{VerdictUnknown, []string{"identity.type " + c.IdentityType + " is not one AKS supports"}}
	}
}
