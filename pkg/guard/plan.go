package guard

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Plan is what a job will do, recorded before it does anything and written
// so a person can check it.
type Plan struct {
	// Target is the identity the control plane moves to.
	Target IdentityTarget `json:"target"`
	// TargetPrincipal is the user-assigned identity's principal; nil for a
	// system-assigned target, whose principal exists only after the update.
	TargetPrincipal *Principal `json:"targetPrincipal,omitempty"`
	// ServicePrincipal is the credential the cluster uses today.
	ServicePrincipal Principal `json:"servicePrincipal"`
	// ControlPlane are the service principal's role assignments the new
	// control-plane identity gets; Kubelet its AcrPull assignments, which
	// go to the kubelet identity.
	ControlPlane []RoleAssignment `json:"controlPlane,omitempty"`
	Kubelet      []RoleAssignment `json:"kubelet,omitempty"`
	// Addons are the roles each add-on's identity gets after the update,
	// by the add-on's key in addonProfiles, as az aks update grants them.
	Addons map[string][]RoleAssignment `json:"addons,omitempty"`
	// Needs are what the guard's identity must be allowed: the update,
	// its linked authorization on every resource the cluster references,
	// the grants. The pre-flight checks them before any change.
	Needs []Need `json:"needs,omitempty"`
	// IdentityNeeds are what the control-plane identity must be allowed
	// on resources outside the node resource group.
	IdentityNeeds []Need `json:"identityNeeds,omitempty"`
	// Scopes are where the service principal's role assignments were
	// looked up; assignments elsewhere are not carried over.
	Scopes []string `json:"scopes"`
	// Window describes the maintenance window the update waits for.
	Window string `json:"window"`
	// ClusterETag is the cluster's eTag when planned; the update is sent
	// with If-Match on the eTag read right before it.
	ClusterETag string   `json:"clusterETag"`
	Warnings    []string `json:"warnings,omitempty"`
	// Blocked, when set, is why the job cannot go on without a person.
	Blocked string `json:"blocked,omitempty"`
}

// addonKeys are the add-ons the plan grants roles to, sorted.
func (p *Plan) addonKeys() []string {
	if p == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(p.Addons))
}

// Summary is the plan in one line.
func (p *Plan) Summary() string {
	if p.Blocked != "" {
		return "blocked: " + p.Blocked
	}
	addons := 0
	for _, as := range p.Addons {
		addons += len(as)
	}
	return fmt.Sprintf("service principal %s to a %s identity; %d role assignment(s) for the control plane, %d for the kubelet, %d for add-ons; window: %s",
		p.ServicePrincipal.AppID, p.Target.Type, len(p.ControlPlane), len(p.Kubelet), addons, p.Window)
}

// Digest names what the plan changes, as a short hash: the service
// principal, the identity the control plane moves to, and every role
// assignment to each new identity (scope and role). The window, eTag,
// warnings and permissions are left out: they change nothing an approver
// agreed to.
func (p *Plan) Digest() string {
	if p == nil {
		return ""
	}
	return shortHash(p.material()...)
}

// material lists what Digest covers, one line each, sorted.
func (p *Plan) material() []string {
	out := []string{
		"service principal " + strings.ToLower(p.ServicePrincipal.AppID),
		"identity " + p.Target.Type + " " + strings.ToLower(p.Target.UserAssigned),
	}
	add := func(to string, as []RoleAssignment) {
		for _, a := range as {
			out = append(out, "grant "+a.describe()+" to the "+to)
		}
	}
	add("control-plane identity", p.ControlPlane)
	add("kubelet identity", p.Kubelet)
	for _, k := range p.addonKeys() {
		add(k+" add-on's identity", p.Addons[k])
	}
	slices.Sort(out)
	return out
}

// changes says how p differs from what was approved, was: what it adds
// and what it no longer has.
func (p *Plan) changes(was *Plan) string {
	before, after := was.material(), p.material()
	var parts []string
	for _, l := range after {
		if !slices.Contains(before, l) {
			parts = append(parts, "now "+l)
		}
	}
	for _, l := range before {
		if !slices.Contains(after, l) {
			parts = append(parts, "no longer "+l)
		}
	}
	return strings.Join(parts, "; ")
}

// Lines renders the plan for people: the job's record, alerts and the demo.
func (p *Plan) Lines() []string {
	var l []string
	target := "system-assigned managed identity"
	if p.Target.Type == "UserAssigned" {
		target = "user-assigned managed identity " + p.Target.UserAssigned
	}
	l = append(l, "move the control plane from service principal "+p.ServicePrincipal.AppID+
		" (object "+p.ServicePrincipal.ObjectID+") to a "+target)
	for _, a := range p.ControlPlane {
		l = append(l, "re-grant "+a.describe()+" to the control-plane identity")
	}
	for _, a := range p.Kubelet {
		l = append(l, "grant "+a.describe()+" to the kubelet identity")
	}
	for _, k := range p.addonKeys() {
		for _, a := range p.Addons[k] {
			l = append(l, "grant "+a.describe()+" to the "+k+" add-on's identity, as az aks update does")
		}
	}
	for _, n := range p.IdentityNeeds {
		l = append(l, "the control-plane identity needs "+n.String())
	}
	for _, n := range p.Needs {
		l = append(l, "the guard needs "+n.String())
	}
	if len(p.ControlPlane)+len(p.Kubelet) == 0 {
		l = append(l, "the service principal holds no role assignments to carry over")
	}
	l = append(l, "role assignments looked up in "+strings.Join(p.Scopes, ", ")+"; any elsewhere are not carried over")
	l = append(l, "maintenance window: "+p.Window)
	l = append(l, p.Warnings...)
	if p.Blocked != "" {
		l = append(l, "blocked: "+p.Blocked)
	}
	return l
}

func (a RoleAssignment) describe() string {
	role := a.RoleName
	if role == "" {
		role = RoleName(a.RoleDefinitionID)
	}
	if role == "" {
		role = "role " + roleGUID(a.RoleDefinitionID)
	}
	s := role + " on " + a.Scope
	if a.Condition != "" {
		s += " (with its condition)"
	}
	return s
}

// key identifies an assignment to make, whoever it is for.
func (a RoleAssignment) key() string {
	return strings.ToLower(a.Scope + "|" + roleGUID(a.RoleDefinitionID) + "|" + a.PrincipalID + "|" + a.Condition)
}

// roleGUID is the last segment of a role definition ID.
func roleGUID(id string) string {
	return strings.ToLower(id[strings.LastIndex(id, "/")+1:])
}

// broadRoles are roles a person should look at twice before the guard
// gives them to a new identity.
var broadRoles = []string{
	"8e3af657-a8ff-443c-a75c-2fe8c4bcb635", // Owner
	"b24988ac-6180-42a0-ab88-20f7382dd24c", // Contributor
	"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", // User Access Administrator
	"f58310d9-a9f6-439a-9e8d-f62e7b41a168", // Role Based Access Control Administrator
}

// broad warns about an assignment that grants much, or grants it widely.
func (a RoleAssignment) broad() string {
	role := RoleName(a.RoleDefinitionID)
	wide := slices.Contains(broadRoles, roleGUID(a.RoleDefinitionID))
	// A subscription, a management group or the root: every resource below.
	scope := strings.ToLower(strings.Trim(a.Scope, "/"))
	subscriptionWide := strings.Count(scope, "/") <= 1 || strings.HasPrefix(scope, "providers/microsoft.management/managementgroups/")
	switch {
	case wide && subscriptionWide:
		return "the service principal holds " + role + " on " + a.Scope + "; the new identity gets it too — consider narrowing it first"
	case wide:
		return "the service principal holds " + role + " on " + a.Scope + "; the new identity gets it too"
	case subscriptionWide:
		return "the service principal holds " + a.describe() + " at subscription scope or above; the new identity gets it too"
	}
	return ""
}

// plan works out what a job will do. A missing permission or an identity
// that cannot be used is recorded in Plan.Blocked — the job never runs
// blind; other failures are returned for a retry.
func (r *run) plan(ctx context.Context, c Cluster) (*Plan, error) {
	s := r.s
	p := &Plan{Target: IdentityTarget{Type: "SystemAssigned"}, ClusterETag: c.ETag}
	appID := strings.TrimSpace(c.ServicePrincipalClientID)
	if Evaluate(c).Verdict == VerdictMixed {
		p.ServicePrincipal = Principal{AppID: appID}
		p.Blocked = "manual review: the cluster has a " + c.IdentityType + " identity and still names service principal " + appID
		return p, nil
	}

	sp, err := s.directory.ServicePrincipal(ctx, appID)
	switch kind := KindOf(err); {
	case err == nil:
	case kind == KindForbidden:
		p.ServicePrincipal = Principal{AppID: appID}
		p.Blocked = "cannot read service principal " + appID + " in Microsoft Entra ID: the guard's identity needs the Microsoft Graph application permission Application.Read.All (" + err.Error() + ")"
		return p, nil
	case kind == KindNotFound:
		p.ServicePrincipal = Principal{AppID: appID}
		p.Blocked = "service principal " + appID + " does not exist in Microsoft Entra ID, so its role assignments cannot be known; migrate the cluster by hand"
		return p, nil
	default:
		return nil, fmt.Errorf("look up service principal %s: %w", appID, err)
	}
	p.ServicePrincipal = sp

	scopes := append([]string{"/subscriptions/" + c.ID.Subscription}, s.roleScopes...)
	held, err := s.roles.AssignmentsOf(ctx, sp.ObjectID, scopes)
	switch {
	case err == nil:
	case KindOf(err) == KindForbidden:
		p.Blocked = "cannot list the role assignments of service principal " + appID + ": the guard's identity needs Microsoft.Authorization/roleAssignments/read on " + strings.Join(scopes, ", ") + " (" + err.Error() + ")"
		return p, nil
	default:
		return nil, fmt.Errorf("list role assignments of %s: %w", sp.ObjectID, err)
	}
	p.Scopes = scopes
	p.Addons = addonGrants(c)
	defs := roleDefinitions{roles: s.roles}
	for _, a := range held {
		registry, err := defs.pullsImages(ctx, a)
		if err != nil {
			return nil, err
		}
		switch {
		case registry:
			// Nodes pull images, at whatever scope the role was given; the
			// control plane never does.
			p.Kubelet = append(p.Kubelet, a)
		case p.addonGrant(a) != "":
			p.Warnings = append(p.Warnings, "the service principal's "+a.describe()+" goes to the "+p.addonGrant(a)+" add-on's identity, which does that work after the update")
		default:
			p.ControlPlane = append(p.ControlPlane, a)
			if wide := defs.allowsPull(ctx, a); wide {
				p.Warnings = append(p.Warnings, "the service principal's "+a.describe()+" also lets nodes pull images from registries there; the kubelet identity gets no such role: grant it AcrPull on each registry the nodes pull from")
			}
		}
		if w := a.broad(); w != "" {
			p.Warnings = append(p.Warnings, w)
		}
	}

	p.IdentityNeeds = controlPlaneNeeds(c)
	uai, _ := c.Tag(IdentityTag)
	if uai = strings.TrimSpace(uai); uai != "" {
		// The identity the control plane moves to gets the service
		// principal's roles: whoever named it must be allowed to approve.
		blocked, err := r.identityTagSetter(ctx, c, uai)
		if err != nil || blocked != "" {
			p.Blocked = blocked
			return p, err
		}
	} else if len(p.IdentityNeeds) > 0 {
		uai = s.userAssigned
	}
	switch {
	case uai != "":
		mi, err := s.directory.ManagedIdentity(ctx, uai)
		switch kind := KindOf(err); {
		case err == nil:
			p.Target = IdentityTarget{Type: "UserAssigned", UserAssigned: uai}
			p.TargetPrincipal = &mi
		case kind == KindForbidden || kind == KindNotFound || kind == KindInvalid:
			p.Blocked = "cannot use user-assigned identity " + uai + ": " + err.Error()
			return p, nil
		default:
			return nil, fmt.Errorf("look up managed identity %s: %w", uai, err)
		}
		lacks, err := r.identityLacks(ctx, p, &defs)
		if err != nil || len(lacks) > 0 {
			if len(lacks) > 0 {
				p.Blocked = "the control-plane identity " + uai + " would not be allowed " + needList(lacks) +
					": grant it a role that allows this (or grant one to service principal " + appID + ", whose roles it gets ahead of the update), then approve again"
			}
			return p, err
		}
	case len(p.IdentityNeeds) > 0:
		p.Blocked = "the control-plane identity must be allowed " + needList(p.IdentityNeeds) +
			", outside the node resource group; a system-assigned identity cannot be granted that before the update, so Microsoft recommends a user-assigned one: tag the cluster " +
			IdentityTag + "=<user-assigned identity resource ID> or configure a default"
		return p, nil
	}

	configs, err := r.maintenance(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("read maintenance configurations: %w", err)
	}
	p.Window = MaintenanceWindowAt(configs, s.now()).Describe
	p.Needs = guardNeeds(c, p, s.nodeImages == NodeImagesEnforce)
	missing, unchecked, err := preflight(ctx, s.permissions, p.Needs)
	if err != nil {
		return nil, err
	}
	if len(unchecked) > 0 {
		p.Warnings = append(p.Warnings, "not checked ahead, since ARM's permissions API answers for resources and resource groups only: "+strings.Join(unchecked, ", "))
	}
	if len(missing) > 0 {
		if s.modeFor(c.ID) == ModeEnforce {
			p.Blocked = lacking(missing)
			return p, nil
		}
		p.Warnings = append(p.Warnings, "in enforce mode the job would block: "+lacking(missing))
	}
	p.Warnings = append(p.Warnings, kubeletWarning(c, s.nodeImages),
		"new role assignments can take up to an hour to propagate",
		"the old service principal "+appID+" is left in place; delete it only once kubelet moved on every pool and nothing else uses it")
	if c.Kubelet == nil {
		p.Warnings = append(p.Warnings, "AKS creates a kubelet identity; access the nodes had through the service principal is re-granted to it only for registry pulls")
	}
	if strings.EqualFold(c.NetworkPlugin, "kubenet") && len(p.IdentityNeeds) > 0 {
		// Which route table the subnet uses shows only in the network,
		// which the guard does not read.
		p.Warnings = append(p.Warnings, "kubenet on a subnet of your own: the control-plane identity also needs to write the subnet's route table (Microsoft.Network/routeTables/*); make sure it may")
	}
	return p, nil
}

// kubeletWarning says what happens to kubelet after the update.
func kubeletWarning(c Cluster, mode NodeImageUpgrade) string {
	var pools []string
	for _, p := range c.Pools {
		pools = append(pools, p.Name)
	}
	w := "kubelet keeps using the service principal until each node pool (" + strings.Join(pools, ", ") +
		") gets a node image upgrade, which needs a newer image than it runs and reimages its nodes; "
	if mode == NodeImagesEnforce {
		return w + "the job runs these upgrades one pool at a time in the node OS maintenance window"
	}
	return w + "the job ends kubelet-pending with the commands to run (AKSGUARD_NODE_IMAGE_UPGRADE=enforce runs them)"
}

// addonGrant names the add-on whose grant a is, or "".
func (p *Plan) addonGrant(a RoleAssignment) string {
	for _, k := range p.addonKeys() {
		for _, g := range p.Addons[k] {
			if strings.EqualFold(roleGUID(g.RoleDefinitionID), roleGUID(a.RoleDefinitionID)) && strings.EqualFold(strings.TrimRight(g.Scope, "/"), strings.TrimRight(a.Scope, "/")) {
				return k
			}
		}
	}
	return ""
}

func needList(needs []Need) string {
	parts := make([]string, len(needs))
	for i, n := range needs {
		parts[i] = n.String()
	}
	return strings.Join(parts, "; ")
}

// identityLacks returns the control-plane needs that neither the
// user-assigned identity's own role assignments nor those it gets ahead of
// the update allow.
func (r *run) identityLacks(ctx context.Context, p *Plan, defs *roleDefinitions) ([]Need, error) {
	if len(p.IdentityNeeds) == 0 {
		return nil, nil
	}
	var subs []string
	for _, n := range p.IdentityNeeds {
		if sub := subscriptionScope(n.Scope); sub != "" && !slices.Contains(subs, sub) {
			subs = append(subs, sub)
		}
	}
	own, err := r.s.roles.AssignmentsOf(ctx, p.TargetPrincipal.ObjectID, subs)
	switch {
	case KindOf(err) == KindForbidden:
		own = nil // what it holds cannot be read: only the planned grants count
	case err != nil:
		return nil, fmt.Errorf("list role assignments of %s: %w", p.Target.UserAssigned, err)
	}
	var lacks []Need
	for _, n := range p.IdentityNeeds {
		var missing []string
		for _, action := range n.Actions {
			ok, err := defs.anyAllows(ctx, slices.Concat(own, p.ControlPlane), n.Scope, action)
			if err != nil {
				return nil, err
			}
			if !ok {
				missing = append(missing, action)
			}
		}
		if len(missing) > 0 {
			lacks = append(lacks, Need{Scope: n.Scope, Actions: missing, Why: n.Why})
		}
	}
	return lacks, nil
}

// subscriptionScope is "/subscriptions/<id>" of a resource ID, or "".
func subscriptionScope(id string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	if len(parts) < 2 || !strings.EqualFold(parts[0], "subscriptions") {
		return ""
	}
	return "/subscriptions/" + parts[1]
}

// identityTagSetter checks, in Azure's change history, who set the identity
// tag to value: someone the approver list allows. It returns why the plan
// is blocked when not, or an error to retry.
func (r *run) identityTagSetter(ctx context.Context, c Cluster, value string) (string, error) {
	records, err := r.s.history.TagChanges(ctx, c.ID, IdentityTag, "")
	switch {
	case KindOf(err) == KindForbidden:
		return "cannot tell who set the tag " + IdentityTag + ": " + err.Error(), nil
	case err != nil:
		return "", fmt.Errorf("read who set the tag %s: %w", IdentityTag, err)
	}
	rec, why := credit(value, records)
	if rec == nil {
		return "cannot tell who set the tag " + IdentityTag + " to " + value + ": " + why + "; set it again", nil
	}
	by := setter(rec)
	if by.IsZero() {
		return "Azure's change record of the tag " + IdentityTag + " names no principal; set it again", nil
	}
	resolved, rerr := r.s.resolve(ctx, by)
	switch {
	case approverAllowed(resolved, r.s.approvers):
		return "", nil
	case rerr != nil && KindOf(rerr) != KindNotFound:
		return "", fmt.Errorf("resolve who set the tag %s: %w", IdentityTag, rerr)
	}
	return "the tag " + IdentityTag + " was set by " + by.String() + ", who is not on the approver list: the identity it names would get the service principal's roles; an approver must set it", nil
}
