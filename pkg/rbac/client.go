// Package rbac reads and writes Azure RBAC role assignments with the
// armauthorization SDK and turns them into guard.RoleAssignments.
// pkg/azurefake simulates what it talks to.
package rbac

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/google/uuid"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/azclient"
	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// DefaultPrincipalType is the principal type Assign sends when the
// assignment names none. Setting it lets ARM skip the Microsoft Graph
// look-up of the principal, which fails with PrincipalNotFound while a new
// identity has not replicated yet.
const DefaultPrincipalType = string(armauthorization.PrincipalTypeServicePrincipal)

// conditionVersion is the only version ARM accepts for conditions
// (api-version 2022-04-01).
const conditionVersion = "2.0"

// roleAssignmentsAPI is the part of armauthorization.RoleAssignmentsClient
// that Client uses; its methods copy the SDK's signatures exactly.
type roleAssignmentsAPI interface {
	NewListForScopePager(scope string, options *armauthorization.RoleAssignmentsClientListForScopeOptions) *runtime.Pager[armauthorization.RoleAssignmentsClientListForScopeResponse]
	Create(ctx context.Context, scope string, roleAssignmentName string, parameters armauthorization.RoleAssignmentCreateParameters, options *armauthorization.RoleAssignmentsClientCreateOptions) (armauthorization.RoleAssignmentsClientCreateResponse, error)
}

var _ roleAssignmentsAPI = (*armauthorization.RoleAssignmentsClient)(nil)

// roleDefinitionsAPI is the part of armauthorization.RoleDefinitionsClient
// that Client uses; its method copies the SDK's signature exactly.
type roleDefinitionsAPI interface {
	GetByID(ctx context.Context, roleID string, options *armauthorization.RoleDefinitionsClientGetByIDOptions) (armauthorization.RoleDefinitionsClientGetByIDResponse, error)
}

var _ roleDefinitionsAPI = (*armauthorization.RoleDefinitionsClient)(nil)

// permissionsAPI is the part of armauthorization.PermissionsClient that
// Client uses; its methods copy the SDK's signatures exactly.
type permissionsAPI interface {
	NewListForResourcePager(resourceGroupName string, resourceProviderNamespace string, parentResourcePath string, resourceType string, resourceName string, options *armauthorization.PermissionsClientListForResourceOptions) *runtime.Pager[armauthorization.PermissionsClientListForResourceResponse]
	NewListForResourceGroupPager(resourceGroupName string, options *armauthorization.PermissionsClientListForResourceGroupOptions) *runtime.Pager[armauthorization.PermissionsClientListForResourceGroupResponse]
}

var _ permissionsAPI = (*armauthorization.PermissionsClient)(nil)

// sdk holds the SDK clients of one subscription.
type sdk struct {
	assignments roleAssignmentsAPI
	definitions roleDefinitionsAPI
	permissions permissionsAPI
}

// Client reads and creates role assignments in ARM, reads role
// definitions, and asks ARM what the guard's own identity may do. It keeps
// one set of SDK clients per subscription, created on first use, and is
// safe for concurrent use.
type Client struct {
	apis azclient.PerSubscription[sdk]
}

var (
	_ guard.Roles       = (*Client)(nil)
	_ guard.Permissions = (*Client)(nil)
)

// New returns a Client that authenticates with cred. opts may be nil; tests
// and the demo pass options whose Transport is an SDK fake (see
// azurefake.RBAC.ClientOptions). Unless opts sets them, retries are limited to
// MaxRetries 2, MaxRetryDelay 5s and TryTimeout 30s; New does not modify
// opts.
func New(cred azcore.TokenCredential, opts *arm.ClientOptions) *Client {
	var o arm.ClientOptions
	if opts != nil {
		o = *opts
	}
	o.Retry = azclient.Retry(o.Retry)
	return &Client{apis: azclient.PerSubscription[sdk]{New: func(subscription string) (sdk, error) {
		ra, err := armauthorization.NewRoleAssignmentsClient(subscription, cred, &o)
		if err != nil {
			return sdk{}, err
		}
		rd, err := armauthorization.NewRoleDefinitionsClient(cred, &o)
		if err != nil {
			return sdk{}, err
		}
		pc, err := armauthorization.NewPermissionsClient(subscription, cred, &o)
		if err != nil {
			return sdk{}, err
		}
		return sdk{assignments: ra, definitions: rd, permissions: pc}, nil
	}}}
}

// api returns the SDK client for subscription, creating it on first use.
// Scopes above subscriptions (management groups) share the client of the
// subscription "": the operations Client uses take the scope in the path
// and never read the client's subscription.
func (c *Client) api(subscription string) (roleAssignmentsAPI, error) {
	s, err := c.apis.Get(subscription)
	return s.assignments, err
}

// AssignmentsOf lists, for each scope, the role assignments held directly by
// the principal with object id principalID at, above or below that scope,
// with RoleAssignmentsClient.NewListForScopePager and the filter
// "principalId eq '<id>'".
//
// The filter is chosen for what it returns (see
// https://learn.microsoft.com/azure/role-based-access-control/role-assignments-list-rest
// and https://learn.microsoft.com/rest/api/authorization/role-assignments/list-for-scope):
// "principalId eq '{id}'" returns the assignments of that principal at,
// above or below the scope; "assignedTo('{id}')" would add those of every
// group the principal is a member of, transitively, which belong to the
// group and must not be copied to another identity. The results are
// filtered on the principal once more here, and deduplicated by assignment
// ID (case-insensitively), keeping the order ARM returned them in, scope by
// scope.
//
// Errors: KindInvalid for a principal ID that is not a GUID or a malformed
// scope; otherwise ARM errors classified by azerr.Classify, such as
// KindForbidden (AuthorizationFailed) when the guard may not read role
// assignments there.
func (c *Client) AssignmentsOf(ctx context.Context, principalID string, scopes []string) ([]guard.RoleAssignment, error) {
	if !armid.IsGUID(principalID) {
		return nil, guard.Errorf(guard.KindInvalid, "list role assignments of %q: principal ID is not a GUID", principalID)
	}
	var out []guard.RoleAssignment
	seen := map[string]bool{}
	for _, scope := range scopes {
		op := fmt.Sprintf("list role assignments of %s at %s", principalID, scope)
		s, err := CleanScope(scope)
		if err != nil {
			return nil, guard.Errorf(guard.KindInvalid, "%s: %w", op, err)
		}
		api, err := c.api(subscriptionOf(s))
		if err != nil {
			return nil, guard.Errorf(guard.KindInvalid, "%s: create client: %w", op, err)
		}
		pager := api.NewListForScopePager(s, &armauthorization.RoleAssignmentsClientListForScopeOptions{
			Filter: principalFilter(principalID),
		})
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				return nil, azerr.Classify(op, err)
			}
			for _, ra := range page.Value {
				a, ok := toAssignment(ra)
				if !ok || !strings.EqualFold(a.PrincipalID, principalID) {
					continue
				}
				k := strings.ToLower(a.ID)
				if seen[k] {
					continue
				}
				seen[k] = true
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// principalFilter returns the $filter value for the assignments of
// principalID. The SDK appends $filter to the query unencoded (the spec
// marks it x-ms-skip-url-encoding), and a raw space makes ARM's front end
// answer "HTTP Error 400. The request is badly formed"
// (https://github.com/Azure/azure-sdk-for-go/issues/20847), so the value is
// query-encoded here, as in the documentation's
// "$filter=principalId+eq+'{objectId}'". The quotes are required: ARM
// rejects "principalId eq {id}"
// (https://github.com/Azure/azure-rest-api-specs/issues/28255).
func principalFilter(principalID string) *string {
	f := url.QueryEscape("principalId eq '" + strings.ToLower(principalID) + "'")
	return &f
}

// toAssignment maps an SDK role assignment; ok is false when it carries no
// properties or no ID.
func toAssignment(ra *armauthorization.RoleAssignment) (a guard.RoleAssignment, ok bool) {
	if ra == nil || ra.Properties == nil || deref(ra.ID) == "" {
		return guard.RoleAssignment{}, false
	}
	p := ra.Properties
	a = guard.RoleAssignment{
		ID:               *ra.ID,
		Scope:            deref(p.Scope),
		RoleDefinitionID: deref(p.RoleDefinitionID),
		PrincipalID:      deref(p.PrincipalID),
		Condition:        deref(p.Condition),
		ConditionVersion: deref(p.ConditionVersion),
	}
	if p.PrincipalType != nil {
		a.PrincipalType = string(*p.PrincipalType)
	}
	if a.Scope == "" {
		// The ID is <scope>/providers/Microsoft.Authorization/roleAssignments/<name>.
		if i := strings.LastIndex(strings.ToLower(a.ID), assignmentsSegment); i > 0 {
			a.Scope = a.ID[:i]
		}
	}
	return a, true
}

// assignmentsSegment is what separates a role assignment's scope from its
// name in its resource ID, lower-cased.
const assignmentsSegment = "/providers/microsoft.authorization/roleassignments/"

// Assign creates the role assignment a with RoleAssignmentsClient.Create
// under a deterministic name, AssignmentName(a.Scope, a.RoleDefinitionID,
// a.PrincipalID), so that a retry after a lost response addresses the same
// assignment. It sends a.PrincipalType, DefaultPrincipalType when empty, and
// a.Condition with a.ConditionVersion ("2.0" when a condition has none);
// a.ID and a.RoleName are ignored.
//
// An assignment that exists already counts as done (nil): a PUT to the
// same name succeeds (Create is create-or-update; an existing assignment
// under that name gets a's condition), and 409 RoleAssignmentExists, which
// ARM answers for the same scope, role and principal under another name, is
// taken as done too. ARM decides what "the same" means there: an existing
// assignment under another name whose condition differs from a's is left
// as it is.
//
// Errors: KindInvalid for a malformed scope, role definition ID or
// principal ID; otherwise ARM errors classified by azerr.Classify:
// KindTransient with code PrincipalNotFound right after the identity was
// created, KindForbidden (AuthorizationFailed) without the right to assign.
func (c *Client) Assign(ctx context.Context, a guard.RoleAssignment) error {
	op := fmt.Sprintf("assign role %s on %s to %s", a.RoleDefinitionID, a.Scope, a.PrincipalID)
	scope, err := CleanScope(a.Scope)
	if err != nil {
		return guard.Errorf(guard.KindInvalid, "%s: %w", op, err)
	}
	if !armid.IsGUID(a.PrincipalID) {
		return guard.Errorf(guard.KindInvalid, "%s: principal ID is not a GUID", op)
	}
	if RoleGUID(a.RoleDefinitionID) == "" {
		return guard.Errorf(guard.KindInvalid, "%s: not a role definition ID (want …/providers/Microsoft.Authorization/roleDefinitions/<guid>)", op)
	}
	api, err := c.api(subscriptionOf(scope))
	if err != nil {
		return guard.Errorf(guard.KindInvalid, "%s: create client: %w", op, err)
	}
	props := &armauthorization.RoleAssignmentProperties{
		PrincipalID:      &a.PrincipalID,
		RoleDefinitionID: &a.RoleDefinitionID,
	}
	pt := a.PrincipalType
	if pt == "" {
		pt = DefaultPrincipalType
	}
	props.PrincipalType = (*armauthorization.PrincipalType)(&pt)
	if a.Condition != "" {
		cond, ver := a.Condition, a.ConditionVersion
		if ver == "" {
			ver = conditionVersion
		}
		props.Condition, props.ConditionVersion = &cond, &ver
	}
	name := AssignmentName(scope, a.RoleDefinitionID, a.PrincipalID)
	_, err = api.Create(ctx, scope, name, armauthorization.RoleAssignmentCreateParameters{Properties: props}, nil)
	if err != nil {
		err = azerr.Classify(op, err)
		if guard.CodeOf(err) == "RoleAssignmentExists" {
			return nil
		}
		return err
	}
	return nil
}

// assignmentNamespace is the name-based UUID namespace of AssignmentName,
// fixed for this project so that every guard computes the same names.
var assignmentNamespace = uuid.UUID{0x6b, 0x1f, 0x3c, 0x52, 0x9e, 0x07, 0x4d, 0x1a, 0x8f, 0x3e, 0x2a, 0xc4, 0x51, 0x7d, 0x90, 0xe3}

// AssignmentName returns the role assignment name (a GUID) that Assign
// uses for a role on a scope for a principal: a name-based UUID (version 5,
// SHA-1, RFC 9562 section 5.5) of the lower-cased scope without a trailing
// slash, the role definition's GUID and the principal ID. The role counts
// by its GUID, so the tenant-level form
// "/providers/Microsoft.Authorization/roleDefinitions/<guid>" that ARM
// returns and the subscription-level form callers send give the same name.
func AssignmentName(scope, roleDefinitionID, principalID string) string {
	role := RoleGUID(roleDefinitionID)
	if role == "" {
		role = roleDefinitionID
	}
	name := strings.ToLower(strings.TrimRight(scope, "/")) + "\n" + strings.ToLower(role) + "\n" + strings.ToLower(principalID)
	return uuid.NewSHA1(assignmentNamespace, []byte(name)).String()
}

var (
	roleDefRE = regexp.MustCompile(`(?i)^(/.*)?/providers/microsoft\.authorization/roledefinitions/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)
)

// maxScope bounds the length of a scope.
const maxScope = 2048

// RoleGUID returns the GUID at the end of a role definition's resource ID,
// or "" when id is not one.
func RoleGUID(id string) string {
	m := roleDefRE.FindStringSubmatch(id)
	if m == nil {
		return ""
	}
	return m[2]
}

// CleanScope checks a scope and returns it without a trailing slash. The
// SDK pastes the scope into the request path unescaped, so a scope must be
// an absolute path of plain segments: no empty, "." or ".." segments, and
// none of ? # % \, spaces or control characters, which would change the
// request's meaning.
func CleanScope(scope string) (string, error) {
	s := strings.TrimRight(scope, "/")
	switch {
	case s == "":
		return "", fmt.Errorf("empty scope")
	case len(s) > maxScope:
		return "", fmt.Errorf("scope longer than %d bytes", maxScope)
	case s[0] != '/':
		return "", fmt.Errorf("scope %q does not start with /", scope)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(`?#%\`, r) {
			return "", fmt.Errorf("scope %q contains %q", scope, r)
		}
	}
	for _, seg := range strings.Split(s[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("scope %q has an empty, . or .. segment", scope)
		}
	}
	return s, nil
}

// subscriptionOf returns the subscription ID of a scope, or "" for a scope
// above subscriptions.
func subscriptionOf(scope string) string {
	parts := strings.Split(strings.Trim(scope, "/"), "/")
	if len(parts) >= 2 && strings.EqualFold(parts[0], "subscriptions") {
		return parts[1]
	}
	return ""
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
