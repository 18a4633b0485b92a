package azurefake

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2/fake"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/rbac"
)

// RBAC is a simulated Azure RBAC: a set of role assignments in any number of
// subscriptions, served to SDK clients through the armauthorization fake
// servers, so that clients built with ClientOptions talk to it as they
// would to ARM. Scopes and IDs are compared case-insensitively, as ARM
// does. RBAC counts the calls it serves and fails calls as its Faults say
// (target roles, or FailNext for one method). It is safe for concurrent use.
//
// Methods are named as the SDK names its operations, such as
// "RoleAssignmentsClient.Create"; a name without a client, such as
// "Create" or "NewListForScopePager", means a RoleAssignmentsClient method.
//
// It serves two operations; every other one fails with a "not implemented"
// error from the fake:
//
//   - RoleAssignmentsClient.NewListForScopePager, in one page, honouring the
//     filters ARM documents: none (every assignment at, above or below the
//     scope), "atScope()" (at or above), "principalId eq '<id>'" (the
//     principal's, at, above or below) and "assignedTo('<id>')" (as
//     principalId: the RBAC knows no groups). Any other filter is answered
//     with 400 BadRequest. The RBAC knows no management group hierarchy:
//     an assignment at a management group lies above every subscription.
//   - RoleAssignmentsClient.Create: 201 with the new assignment; 200 for an
//     existing name with the same role and principal (its condition is
//     updated); 409 RoleAssignmentExists for the same scope, role and
//     principal under another name; 400 RoleAssignmentUpdateNotPermitted for
//     an existing name with another role or principal.
type RBAC struct {
	faults *Faults

	mu          sync.Mutex
	assignments map[string]guard.RoleAssignment // by lower-cased ID
	created     []guard.RoleAssignment          // through Create, in order
	definitions map[string]guard.RoleDefinition // custom roles, by lower-cased GUID
	guard       string                          // the guard's principal id (permissions.go)

	// listMu serializes list requests. The fake keeps a pager's state by
	// request path, so two lists of the same scope at once would share it;
	// the RBAC answers in one page, so one request is one whole list.
	listMu sync.Mutex
	srv    policy.Transporter
}

// NewRBAC returns an RBAC with no role assignments, with Faults of its own.
func NewRBAC() *RBAC { return newRBAC(NewFaults(time.Now)) }

func newRBAC(faults *Faults) *RBAC {
	s := &RBAC{faults: faults, assignments: map[string]guard.RoleAssignment{}, definitions: map[string]guard.RoleDefinition{}}
	s.srv = fake.NewServerFactoryTransport(&fake.ServerFactory{
		RoleAssignmentsServer: fake.RoleAssignmentsServer{
			Create:               s.fakeCreate,
			NewListForScopePager: s.fakeListForScope,
		},
	})
	return s
}

// Add adds a, or replaces the assignment with the same ID. An assignment
// without an ID gets the one Client.Assign would give it: its scope, then
// /providers/Microsoft.Authorization/roleAssignments/ and
// AssignmentName(scope, role, principal). An assignment without a scope
// takes it from its ID. Add panics when a has neither a valid scope nor an
// ID, no role definition ID or no principal ID; that is a bug in the
// caller.
func (s *RBAC) Add(a guard.RoleAssignment) {
	if a.Scope == "" && a.ID != "" {
		if i := strings.LastIndex(strings.ToLower(a.ID), "/providers/microsoft.authorization/roleassignments/"); i > 0 {
			a.Scope = a.ID[:i]
		}
	}
	scope, err := rbac.CleanScope(a.Scope)
	if err != nil {
		panic("azurefake: RBAC.Add: " + err.Error())
	}
	if a.RoleDefinitionID == "" || a.PrincipalID == "" {
		panic("azurefake: RBAC.Add: role assignment without a role definition or principal")
	}
	a.Scope = scope
	if a.ID == "" {
		a.ID = assignmentID(scope, rbac.AssignmentName(scope, a.RoleDefinitionID, a.PrincipalID))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assignments[strings.ToLower(a.ID)] = a
}

// Assignments returns every role assignment, sorted by ID
// case-insensitively.
func (s *RBAC) Assignments() []guard.RoleAssignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]guard.RoleAssignment, 0, len(s.assignments))
	for _, a := range s.assignments {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b guard.RoleAssignment) int {
		return strings.Compare(strings.ToLower(a.ID), strings.ToLower(b.ID))
	})
	return out
}

// Created returns the role assignments made through
// RoleAssignmentsClient.Create (201), in order; Add's are not among them.
func (s *RBAC) Created() []guard.RoleAssignment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.created)
}

// Calls returns how many requests for method the RBAC has served, failed
// ones included. The SDK does not retry the fake's failures, so that is one
// request per call (per page, for a pager).
func (s *RBAC) Calls(method string) int {
	return s.faults.Calls(qualify("RoleAssignmentsClient", method))
}

// FailNext makes the next n calls of method fail with an
// *azcore.ResponseError of the given HTTP status and ARM error code, after
// the failures already asked for.
func (s *RBAC) FailNext(method string, n int, status int, code string) {
	s.faults.failNext(qualify("RoleAssignmentsClient", method), n, status, code, 0)
}

// ClientOptions returns options for SDK clients of any subscription that
// route every request to the RBAC. Use them with any credential, such as
// azcore/fake.TokenCredential.
func (s *RBAC) ClientOptions() *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: simRouter{s}}}
}

// Client returns an rbac.Client that uses this RBAC, authenticated with the SDK's
// fake credential.
func (s *RBAC) Client() *rbac.Client { return rbac.New(&azfake.TokenCredential{}, s.ClientOptions()) }

// simRouter is the RBAC's policy.Transporter. It counts each request, fails
// it when FailNext asked for that, and otherwise hands it to the fake
// servers.
type simRouter struct{ s *RBAC }

func (r simRouter) Do(req *http.Request) (*http.Response, error) {
	method, ok := req.Context().Value(runtime.CtxAPINameKey{}).(string)
	if !ok {
		return nil, simError{fmt.Errorf("azurefake rbac: %s %s names no SDK operation", req.Method, req.URL.Path)}
	}
	o := r.s.faults.take(method)
	if o.refuse != nil {
		return nil, injected(req, o.refuse)
	}
	switch method {
	case getRoleDefinition:
		return r.s.serveDefinition(req)
	case listPermissions, listGroupPermissions:
		return r.s.servePermissions(req)
	}
	if strings.HasSuffix(method, "Pager") {
		r.s.listMu.Lock()
		defer r.s.listMu.Unlock()
	}
	resp, err := r.s.srv.Do(req)
	if err == nil && o.lose {
		resp.Body.Close()
		return nil, lostAnswer{method}
	}
	return resp, err
}

// simError is a failure of the RBAC itself. It is non-retriable, so the
// SDK's retry policy gives it back at once.
type simError struct{ error }

func (simError) NonRetriable() {}

func (e simError) Unwrap() error { return e.error }

var (
	principalEqRE = regexp.MustCompile(`(?i)^\s*principalId\s+eq\s+'([^']*)'\s*$`)
	assignedToRE  = regexp.MustCompile(`(?i)^\s*assignedTo\('([^']*)'\)\s*$`)
	atScopeRE     = regexp.MustCompile(`(?i)^\s*atScope\(\)\s*$`)
)

// fakeListForScope serves RoleAssignmentsClient.NewListForScopePager. The
// fake hands over the path's scope without its leading slash and the
// filter already query-decoded.
func (s *RBAC) fakeListForScope(scope string, opts *armauthorization.RoleAssignmentsClientListForScopeOptions) (resp azfake.PagerResponder[armauthorization.RoleAssignmentsClientListForScopeResponse]) {
	q := "/" + strings.Trim(scope, "/")
	var filter string
	if opts != nil && opts.Filter != nil {
		filter = *opts.Filter
	}
	principal, below := "", true
	switch {
	case strings.TrimSpace(filter) == "":
	case atScopeRE.MatchString(filter):
		below = false
	case principalEqRE.MatchString(filter):
		principal = principalEqRE.FindStringSubmatch(filter)[1]
	case assignedToRE.MatchString(filter):
		principal = assignedToRE.FindStringSubmatch(filter)[1]
	default:
		// ARM answers 400 for a filter it does not support; the RBAC's code
		// is its own.
		resp.AddResponseError(http.StatusBadRequest, "BadRequest")
		return resp
	}
	var page []*armauthorization.RoleAssignment
	for _, a := range s.Assignments() {
		if principal != "" && !strings.EqualFold(a.PrincipalID, principal) {
			continue
		}
		if !covers(a.Scope, q) && !(below && covers(q, a.Scope)) {
			continue
		}
		page = append(page, toSDK(a))
	}
	resp.AddPage(http.StatusOK, armauthorization.RoleAssignmentsClientListForScopeResponse{
		RoleAssignmentListResult: armauthorization.RoleAssignmentListResult{Value: page},
	}, nil)
	return resp
}

// covers reports whether scope outer is scope inner or lies above it. The
// RBAC knows no management group hierarchy: a management group lies above
// every subscription.
func covers(outer, inner string) bool {
	o, i := strings.ToLower(strings.TrimRight(outer, "/")), strings.ToLower(strings.TrimRight(inner, "/"))
	if o == i || strings.HasPrefix(i, o+"/") {
		return true
	}
	return strings.HasPrefix(o, managementGroups) && !strings.HasPrefix(i, managementGroups)
}

// managementGroups starts the scope of every management group, lower-cased.
const managementGroups = "/providers/microsoft.management/managementgroups/"

// fakeCreate serves RoleAssignmentsClient.Create as ARM answers it.
func (s *RBAC) fakeCreate(_ context.Context, scope, name string, params armauthorization.RoleAssignmentCreateParameters, _ *armauthorization.RoleAssignmentsClientCreateOptions) (resp azfake.Responder[armauthorization.RoleAssignmentsClientCreateResponse], errResp azfake.ErrorResponder) {
	p := params.Properties
	if p == nil || deref(p.PrincipalID) == "" || deref(p.RoleDefinitionID) == "" {
		errResp.SetResponseError(http.StatusBadRequest, "InvalidRequestContent")
		return resp, errResp
	}
	if !armid.IsGUID(name) {
		errResp.SetResponseError(http.StatusBadRequest, "InvalidRoleAssignmentId")
		return resp, errResp
	}
	scope = "/" + strings.Trim(scope, "/")
	a := guard.RoleAssignment{
		ID:               assignmentID(scope, name),
		Scope:            scope,
		RoleDefinitionID: *p.RoleDefinitionID,
		PrincipalID:      *p.PrincipalID,
		Condition:        deref(p.Condition),
		ConditionVersion: deref(p.ConditionVersion),
	}
	if p.PrincipalType != nil {
		a.PrincipalType = string(*p.PrincipalType)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	status := http.StatusCreated
	if old, ok := s.assignments[strings.ToLower(a.ID)]; ok {
		if !sameGrant(old, a) {
			errResp.SetResponseError(http.StatusBadRequest, "RoleAssignmentUpdateNotPermitted")
			return resp, errResp
		}
		a.ID = old.ID
		status = http.StatusOK
	} else {
		for _, old := range s.assignments {
			if sameGrant(old, a) {
				errResp.SetResponseError(http.StatusConflict, "RoleAssignmentExists")
				return resp, errResp
			}
		}
	}
	s.assignments[strings.ToLower(a.ID)] = a
	if status == http.StatusCreated {
		s.created = append(s.created, a)
	}
	resp.SetResponse(status, armauthorization.RoleAssignmentsClientCreateResponse{RoleAssignment: *toSDK(a)}, nil)
	return resp, errResp
}

// sameGrant reports whether a and b give the same role to the same
// principal at the same scope. A role counts by its GUID, whichever form
// of role definition ID names it.
func sameGrant(a, b guard.RoleAssignment) bool {
	ra, rb := rbac.RoleGUID(a.RoleDefinitionID), rbac.RoleGUID(b.RoleDefinitionID)
	if ra == "" || rb == "" {
		ra, rb = a.RoleDefinitionID, b.RoleDefinitionID
	}
	return strings.EqualFold(ra, rb) &&
		strings.EqualFold(a.PrincipalID, b.PrincipalID) &&
		strings.EqualFold(strings.TrimRight(a.Scope, "/"), strings.TrimRight(b.Scope, "/"))
}

// assignmentID returns the resource ID of the role assignment name at
// scope.
func assignmentID(scope, name string) string {
	return strings.TrimRight(scope, "/") + "/providers/Microsoft.Authorization/roleAssignments/" + name
}

// toSDK returns a as ARM's REST API shows it.
func toSDK(a guard.RoleAssignment) *armauthorization.RoleAssignment {
	name := a.ID[strings.LastIndex(a.ID, "/")+1:]
	typ := "Microsoft.Authorization/roleAssignments"
	p := &armauthorization.RoleAssignmentProperties{
		Scope:            to.Ptr(a.Scope),
		RoleDefinitionID: to.Ptr(a.RoleDefinitionID),
		PrincipalID:      to.Ptr(a.PrincipalID),
	}
	if a.PrincipalType != "" {
		p.PrincipalType = (*armauthorization.PrincipalType)(to.Ptr(a.PrincipalType))
	}
	if a.Condition != "" {
		p.Condition = to.Ptr(a.Condition)
	}
	if a.ConditionVersion != "" {
		p.ConditionVersion = to.Ptr(a.ConditionVersion)
	}
	return &armauthorization.RoleAssignment{ID: to.Ptr(a.ID), Name: &name, Type: &typ, Properties: p}
}
