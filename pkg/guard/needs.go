package guard

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Need is what a principal must be allowed on a resource for the
// migration, and why.
type Need struct {
	Scope   string   `json:"scope"`
	Actions []string `json:"actions"`
	Why     string   `json:"why"`
}

func (n Need) String() string {
	return strings.Join(n.Actions, ", ") + " on " + n.Scope + " (" + n.Why + ")"
}

// PermissionSet is what one role assignment allows, as ARM's permissions
// API and role definitions give it: Actions less NotActions.
type PermissionSet struct {
	Actions    []string `json:"actions"`
	NotActions []string `json:"notActions,omitempty"`
}

// RoleDefinition is an Azure RBAC role's definition.
type RoleDefinition struct {
	ID          string
	Name        string
	Permissions []PermissionSet
}

// Permissions says what the guard's own identity may do.
type Permissions interface {
	// Mine returns the guard's permissions on scope, a resource or a
	// resource group ID, as ARM's permissions API lists them: one set per
	// role assignment that applies. It cannot be asked about a
	// subscription or above (KindInvalid). It does not weigh deny
	// assignments or conditions.
	Mine(ctx context.Context, scope string) ([]PermissionSet, error)
}

// Allows reports whether the permission sets allow action: some set has
// an action that matches it and no not-action of that set does.
func Allows(sets []PermissionSet, action string) bool { return allows(sets, action) }

func allows(sets []PermissionSet, action string) bool {
	for _, s := range sets {
		if slices.ContainsFunc(s.Actions, func(p string) bool { return actionMatches(p, action) }) &&
			!slices.ContainsFunc(s.NotActions, func(p string) bool { return actionMatches(p, action) }) {
			return true
		}
	}
	return false
}

// actionMatches matches an action against a pattern in which * stands for
// any run of characters, case-insensitively, as ARM does. A "/*/" also
// matches a single "/": Managed Identity Operator's
// "userAssignedIdentities/*/assign/action" allows
// "userAssignedIdentities/assign/action".
func actionMatches(pattern, action string) bool {
	return globMatches(pattern, action) || (strings.Contains(pattern, "/*/") && globMatches(strings.ReplaceAll(pattern, "/*/", "/"), action))
}

func globMatches(pattern, action string) bool {
	p, a := strings.ToLower(pattern), strings.ToLower(action)
	parts := strings.Split(p, "*")
	if len(parts) == 1 {
		return p == a
	}
	if !strings.HasPrefix(a, parts[0]) {
		return false
	}
	a = a[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(a, mid)
		if i < 0 {
			return false
		}
		a = a[i+len(mid):]
	}
	return strings.HasSuffix(a, parts[len(parts)-1])
}

// scopeCovers reports whether a role assignment at outer applies at inner:
// the same resource, or one below it, compared case-insensitively by path
// segment.
func scopeCovers(outer, inner string) bool {
	o, i := strings.ToLower(strings.TrimRight(outer, "/")), strings.ToLower(strings.TrimRight(inner, "/"))
	return o == "" || o == i || strings.HasPrefix(i, o+"/")
}

// Actions the guard or the control-plane identity need, by what they are
// for. The guard's come from "Azure Kubernetes Service (AKS) service
// permissions" (the identity creating or operating the cluster); a
// full-body PUT is checked against every resource the body references
// (linked authorization, azure-cli issue 22232).
const (
	actClusterWrite   = "Microsoft.ContainerService/managedClusters/write"
	actNodeImage      = "Microsoft.ContainerService/managedClusters/agentPools/upgradeNodeImageVersion/action"
	actAssignRoles    = "Microsoft.Authorization/roleAssignments/write"
	actSubnetJoin     = "Microsoft.Network/virtualNetworks/subnets/join/action"
	actSubnetRead     = "Microsoft.Network/virtualNetworks/subnets/read"
	actPublicIPJoin   = "Microsoft.Network/publicIPAddresses/join/action"
	actPublicIPRead   = "Microsoft.Network/publicIPAddresses/read"
	actIPPrefixJoin   = "Microsoft.Network/publicIPPrefixes/join/action"
	actDESRead        = "Microsoft.Compute/diskEncryptionSets/read"
	actWorkspaceKeys  = "Microsoft.OperationalInsights/workspaces/sharedkeys/read"
	actIdentityAssign = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"
	actDNSZoneWrite   = "Microsoft.Network/privateDnsZones/write"
)

// guardNeeds are what the guard's identity must be allowed for the job:
// write the cluster, pass the update's linked authorization on every
// resource the cluster references, grant the planned roles and, when it
// runs them, upgrade node images.
func guardNeeds(c Cluster, p *Plan, nodeImages bool) []Need {
	var needs []Need
	add := func(scope, why string, actions ...string) {
		if scope == "" {
			return
		}
		for i, n := range needs {
			if strings.EqualFold(n.Scope, scope) {
				for _, a := range actions {
					if !slices.ContainsFunc(n.Actions, func(x string) bool { return strings.EqualFold(x, a) }) {
						needs[i].Actions = append(needs[i].Actions, a)
					}
				}
				return
			}
		}
		needs = append(needs, Need{Scope: scope, Actions: actions, Why: why})
	}
	cluster := []string{actClusterWrite}
	if nodeImages {
		cluster = append(cluster, actNodeImage)
	}
	add(c.ID.String(), "the update", cluster...)
	for _, pool := range c.Pools {
		add(pool.VnetSubnetID, "linked authorization: pool "+pool.Name+" uses this subnet", actSubnetJoin)
		add(pool.PodSubnetID, "linked authorization: pool "+pool.Name+" puts its pods in this subnet", actSubnetJoin)
	}
	for _, ip := range c.OutboundIPs {
		add(ip, "linked authorization: the load balancer's outbound IP", actPublicIPJoin)
	}
	for _, prefix := range c.OutboundIPPrefixes {
		add(prefix, "linked authorization: the load balancer's outbound IP prefix", actIPPrefixJoin)
	}
	add(c.DiskEncryptionSetID, "linked authorization: the cluster's disk encryption set", actDESRead)
	if a, ok := c.Addon(addonMonitoring); ok && a.Enabled {
		add(a.Setting("logAnalyticsWorkspaceResourceID"), "linked authorization: the monitoring add-on's Log Analytics workspace", actWorkspaceKeys)
	}
	if p.Target.Type == "UserAssigned" {
		add(p.Target.UserAssigned, "the update attaches this identity to the cluster", actIdentityAssign)
	}
	if c.Kubelet != nil && !inNodeResourceGroup(c, c.Kubelet.ResourceID) {
		add(c.Kubelet.ResourceID, "linked authorization: the cluster's own kubelet identity", actIdentityAssign)
	}
	for _, a := range p.grants() {
		add(a.Scope, "grant "+a.describe(), actAssignRoles)
	}
	return needs
}

// controlPlaneNeeds are what the control-plane identity must be allowed
// on resources outside the node resource group, which AKS does not grant
// it: Microsoft says a system-assigned identity cannot be granted them in
// time and recommends a user-assigned one.
func controlPlaneNeeds(c Cluster) []Need {
	var needs []Need
	seen := map[string]bool{}
	add := func(scope, why string, actions ...string) {
		if scope == "" || inNodeResourceGroup(c, scope) || seen[strings.ToLower(scope)] {
			return
		}
		seen[strings.ToLower(scope)] = true
		needs = append(needs, Need{Scope: scope, Actions: actions, Why: why})
	}
	for _, pool := range c.Pools {
		add(pool.VnetSubnetID, "pool "+pool.Name+"'s subnet", actSubnetRead, actSubnetJoin)
	}
	for _, ip := range c.OutboundIPs {
		add(ip, "the load balancer's outbound IP", actPublicIPRead, actPublicIPJoin)
	}
	if c.HasCustomPrivateDNSZone() {
		add(c.PrivateDNSZone, "the API server's private DNS zone", actDNSZoneWrite)
	}
	return needs
}

// inNodeResourceGroup reports whether resource id lies in the cluster's
// node resource group, whose resources AKS manages and grants itself.
func inNodeResourceGroup(c Cluster, id string) bool {
	return c.NodeResourceGroup != "" && scopeCovers("/subscriptions/"+c.ID.Subscription+"/resourceGroups/"+c.NodeResourceGroup, id)
}

// preflight asks ARM what the guard may do on every scope of needs and
// returns the needs it lacks, with only the missing actions, and the
// scopes it could not ask about. Errors other than a refusal to say are
// returned for a retry.
func preflight(ctx context.Context, perms Permissions, needs []Need) (missing []Need, unchecked []string, err error) {
	for _, n := range needs {
		sets, err := perms.Mine(ctx, n.Scope)
		switch kind := KindOf(err); {
		case err == nil:
		case kind == KindInvalid:
			unchecked = append(unchecked, n.Scope)
			continue
		case kind == KindNotFound:
			// A resource that is gone cannot be linked; ARM says so at the
			// update.
			continue
		case kind == KindForbidden:
			// Not even allowed to ask: nothing is known to be allowed.
			sets = nil
		default:
			return nil, nil, fmt.Errorf("read the guard's permissions on %s: %w", n.Scope, err)
		}
		var lack []string
		for _, a := range n.Actions {
			if !allows(sets, a) {
				lack = append(lack, a)
			}
		}
		if len(lack) > 0 {
			missing = append(missing, Need{Scope: n.Scope, Actions: lack, Why: n.Why})
		}
	}
	return missing, unchecked, nil
}

// grants are every assignment the plan makes.
func (p *Plan) grants() []RoleAssignment {
	out := slices.Concat(p.ControlPlane, p.Kubelet)
	for _, k := range p.addonKeys() {
		out = append(out, p.Addons[k]...)
	}
	return out
}
