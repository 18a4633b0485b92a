// Package graph looks up service principals in Microsoft Entra ID through
// Microsoft Graph v1.0, with an azcore pipeline and no Graph SDK: the guard
// needs three GET requests and a POST, and azcore gives them the same bearer-token,
// retry, logging and error handling as the ARM clients.
package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/azclient"
	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// DefaultEndpoint is Microsoft Graph in the global Azure cloud.
const DefaultEndpoint = "https://graph.microsoft.com"

// Permission is the Microsoft Graph application permission the guard's
// identity needs to look up service principals: the least privileged one
// for GET /servicePrincipals and GET /servicePrincipals(appId='…')
// (https://learn.microsoft.com/graph/api/serviceprincipal-get,
// https://learn.microsoft.com/graph/api/serviceprincipal-list).
const Permission = "Application.Read.All"

// UserPermission is the Microsoft Graph application permission the guard's
// identity needs to look up users, the least privileged one for GET /users
// (https://learn.microsoft.com/graph/api/user-list): without it, an
// approver list of object ids cannot be matched against the e-mail
// address Azure's change history names a person by.
const UserPermission = "User.Read.All"

const (
	moduleName    = "aksguard/graph"
	moduleVersion = "v0.1.0"
	// maxBody bounds a response the client decodes; one service principal
	// with three properties is well under 1 KiB.
	maxBody = 1 << 20
	// selectFields is the $select of the service principal requests.
	selectFields = "id,appId,displayName"
	// userFields is the $select of the user request.
	userFields = "id,userPrincipalName,mail,displayName"
)

// Client reads service principals from Microsoft Graph. It is safe for
// concurrent use.
type Client struct {
	endpoint string
	pl       runtime.Pipeline
}

var _ guard.Directory = (*Client)(nil)

// New returns a Client for DefaultEndpoint that authenticates with cred,
// requesting tokens for https://graph.microsoft.com/.default. opts may be
// nil; unless it sets them, retries are limited to MaxRetries 2,
// MaxRetryDelay 5s and TryTimeout 30s. New does not modify opts.
func New(cred azcore.TokenCredential, opts *azcore.ClientOptions) (*Client, error) {
	return NewWithEndpoint(DefaultEndpoint, cred, opts)
}

// NewWithEndpoint is New for another Graph endpoint: a national cloud's
// (https://graph.microsoft.us, https://microsoftgraph.chinacloudapi.cn), or
// a test server's. Tokens are requested for the scope endpoint + "/.default".
// The endpoint must be an https URL without path, query or user
// information; azcore's bearer-token policy refuses to send a token over
// plain HTTP.
func NewWithEndpoint(endpoint string, cred azcore.TokenCredential, opts *azcore.ClientOptions) (*Client, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("graph endpoint %q: %w", endpoint, err)
	}
	if u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("graph endpoint %q: want https://host[:port] with no path, query or user", endpoint)
	}
	base := "https://" + u.Host
	var o azcore.ClientOptions
	if opts != nil {
		o = *opts
	}
	o.Retry = azclient.Retry(o.Retry)
	c, err := azcore.NewClient(moduleName, moduleVersion, runtime.PipelineOptions{
		PerRetry:               []policy.Policy{runtime.NewBearerTokenPolicy(cred, []string{base + "/.default"}, nil)},
		AllowedQueryParameters: []string{"$select", "$filter"},
	}, &o)
	if err != nil {
		return nil, fmt.Errorf("graph client: %w", err)
	}
	return &Client{endpoint: base, pl: c.Pipeline()}, nil
}

// servicePrincipal is the part of Graph's servicePrincipal resource the
// client selects.
type servicePrincipal struct {
	ID          string `json:"id"`
	AppID       string `json:"appId"`
	DisplayName string `json:"displayName"`
}

func (sp servicePrincipal) principal() guard.Principal {
	return guard.Principal{AppID: sp.AppID, ObjectID: sp.ID, DisplayName: sp.DisplayName}
}

// ServicePrincipal returns the service principal of the application appID
// with GET /v1.0/servicePrincipals(appId='{appId}')?$select=id,appId,displayName
// (https://learn.microsoft.com/graph/api/serviceprincipal-get).
//
// Errors: KindInvalid when appID is not a GUID (nothing is sent) or Graph
// answers with another application's service principal; KindNotFound (404
// Request_ResourceNotFound) when the tenant has none; KindForbidden (403
// Authorization_RequestDenied) when the guard's identity lacks Permission,
// which the message names; KindTransient for throttling (with the
// Retry-After Graph asked for), 5xx, network failures and a body that is
// not the JSON expected. Graph errors are classified by azerr.Classify.
func (c *Client) ServicePrincipal(ctx context.Context, appID string) (guard.Principal, error) {
	op := "get service principal of application " + appID
	if !armid.IsGUID(appID) {
		return guard.Principal{}, guard.Errorf(guard.KindInvalid, "get service principal of application %q: application ID is not a GUID", appID)
	}
	var sp servicePrincipal
	if err := c.get(ctx, op, Permission, "/v1.0/servicePrincipals(appId='"+appID+"')", "$select="+selectFields, &sp); err != nil {
		return guard.Principal{}, err
	}
	if sp.ID == "" || !strings.EqualFold(sp.AppID, appID) {
		return guard.Principal{}, guard.Errorf(guard.KindInvalid, "%s: Graph answered with service principal %q of application %q", op, sp.ID, sp.AppID)
	}
	return sp.principal(), nil
}

// ManagedIdentity returns the service principal of the user-assigned
// managed identity with the given resource ID, with
// GET /v1.0/servicePrincipals?$filter=alternativeNames/any(x:x eq '{resourceID}')&$select=id,appId,displayName.
//
// A managed identity's service principal carries the identity's full
// resource ID among its alternativeNames, which support $filter with eq
// (https://learn.microsoft.com/graph/api/resources/serviceprincipal,
// property alternativeNames: "Used to retrieve service principals by
// subscription, identify resource group and full resource IDs for managed
// identities. Supports $filter (eq, not, ge, le, startsWith)"). eq, also
// inside any() on a string collection, works without advanced query
// parameters; only not/ne and endsWith need them
// (https://learn.microsoft.com/graph/aad-advanced-queries,
// https://learn.microsoft.com/graph/filter-query-parameter). The request
// therefore sends neither "ConsistencyLevel: eventual" nor $count=true:
// they would make the answer eventually consistent, which is worse right
// after the identity was created.
//
// Errors: KindInvalid when resourceID is not a user-assigned identity's
// resource ID (nothing is sent) or several service principals carry it;
// KindNotFound when none does (Graph answers an empty list, not 404); the
// other errors as ServicePrincipal's.
func (c *Client) ManagedIdentity(ctx context.Context, resourceID string) (guard.Principal, error) {
	op := "find service principal of managed identity " + resourceID
	if err := armid.CheckUserAssignedIdentity(resourceID); err != nil {
		return guard.Principal{}, guard.Errorf(guard.KindInvalid, "find service principal of managed identity: %w", err)
	}
	// An OData string literal doubles its single quotes.
	filter := "alternativeNames/any(x:x eq '" + strings.ReplaceAll(resourceID, "'", "''") + "')"
	var list struct {
		Value []servicePrincipal `json:"value"`
	}
	if err := c.get(ctx, op, Permission, "/v1.0/servicePrincipals", "$filter="+queryEscape(filter)+"&$select="+selectFields, &list); err != nil {
		return guard.Principal{}, err
	}
	switch len(list.Value) {
	case 0:
		return guard.Principal{}, guard.Errorf(guard.KindNotFound, "%s: no service principal has it among its alternativeNames", op)
	case 1:
	default:
		return guard.Principal{}, guard.Errorf(guard.KindInvalid, "%s: %d service principals have it among their alternativeNames", op, len(list.Value))
	}
	sp := list.Value[0]
	if sp.ID == "" || sp.AppID == "" {
		return guard.Principal{}, guard.Errorf(guard.KindInvalid, "%s: Graph answered with a service principal without id or appId", op)
	}
	return sp.principal(), nil
}

// User returns the user whose userPrincipalName or mail is name (compared
// as Graph compares them, case-insensitively), with
// GET /v1.0/users?$filter=userPrincipalName eq '{name}' or mail eq '{name}'&$select=id,userPrincipalName,mail,displayName
// (https://learn.microsoft.com/graph/api/user-list; both properties
// support eq without advanced query parameters). Azure's change history
// names a person by an e-mail address, which is their UPN in most tenants
// and their mail in others.
//
// Errors: KindInvalid when name is not an address (nothing is sent) or
// several users carry it; KindNotFound when none does; KindForbidden
// naming UserPermission; the others as ServicePrincipal's.
func (c *Client) User(ctx context.Context, name string) (guard.Principal, error) {
	op := "find user " + name
	if !strings.Contains(name, "@") || strings.ContainsAny(name, " \t\r\n") {
		return guard.Principal{}, guard.Errorf(guard.KindInvalid, "find user %q: not a user principal name or e-mail address", name)
	}
	lit := "'" + strings.ReplaceAll(name, "'", "''") + "'"
	filter := "userPrincipalName eq " + lit + " or mail eq " + lit
	var list struct {
		Value []struct {
			ID                string `json:"id"`
			UserPrincipalName string `json:"userPrincipalName"`
			DisplayName       string `json:"displayName"`
		} `json:"value"`
	}
	if err := c.get(ctx, op, UserPermission, "/v1.0/users", "$filter="+queryEscape(filter)+"&$select="+userFields, &list); err != nil {
		return guard.Principal{}, err
	}
	switch len(list.Value) {
	case 0:
		return guard.Principal{}, guard.Errorf(guard.KindNotFound, "%s: no user has it as userPrincipalName or mail", op)
	case 1:
	default:
		return guard.Principal{}, guard.Errorf(guard.KindInvalid, "%s: %d users have it as userPrincipalName or mail", op, len(list.Value))
	}
	u := list.Value[0]
	if u.ID == "" {
		return guard.Principal{}, guard.Errorf(guard.KindInvalid, "%s: Graph answered with a user without id", op)
	}
	return guard.Principal{ObjectID: u.ID, UPN: u.UserPrincipalName, DisplayName: u.DisplayName}, nil
}

// GroupPermission is the Microsoft Graph application permission the
// guard's identity needs to check whether an approver belongs to a group
// on the approver list (POST /directoryObjects/{id}/checkMemberGroups,
// https://learn.microsoft.com/graph/api/directoryobject-checkmembergroups).
const GroupPermission = "GroupMember.Read.All"

// MemberOf returns those of groupIDs the directory object objectID is a
// member of, directly or through nested groups, with Graph's
// checkMemberGroups. Errors as ServicePrincipal's; a refusal names
// GroupPermission.
func (c *Client) MemberOf(ctx context.Context, objectID string, groupIDs []string) ([]string, error) {
	op := "check the groups of " + objectID
	if !armid.IsGUID(objectID) {
		return nil, guard.Errorf(guard.KindInvalid, "%s: not an object id", op)
	}
	var out struct {
		Value []string `json:"value"`
	}
	body := map[string][]string{"groupIds": groupIDs}
	if err := c.send(ctx, op, GroupPermission, http.MethodPost, "/v1.0/directoryObjects/"+objectID+"/checkMemberGroups", "", body, &out); err != nil {
		return nil, err
	}
	return out.Value, nil
}

// get sends GET endpoint+path?rawQuery and decodes a 200 answer's JSON body
// into v. See send.
func (c *Client) get(ctx context.Context, op, permission, path, rawQuery string, v any) error {
	return c.send(ctx, op, permission, http.MethodGet, path, rawQuery, nil, v)
}

// send sends method endpoint+path?rawQuery, with body as JSON when it is
// not nil, and decodes a 200 answer's JSON body into v. Every failure
// comes back classified, described by op; a refusal names permission, the
// one the request needs.
func (c *Client) send(ctx context.Context, op, permission, method, path, rawQuery string, body, v any) error {
	req, err := runtime.NewRequest(ctx, method, c.endpoint+path)
	if err != nil {
		return guard.Errorf(guard.KindInvalid, "%s: build request: %w", op, err)
	}
	req.Raw().URL.RawQuery = rawQuery
	req.Raw().Header.Set("Accept", "application/json")
	if body != nil {
		if err := runtime.MarshalAsJSON(req, body); err != nil {
			return guard.Errorf(guard.KindInvalid, "%s: encode request: %w", op, err)
		}
	}
	resp, err := c.pl.Do(req)
	if err != nil {
		return azerr.Classify(op, err)
	}
	if !runtime.HasStatusCode(resp, http.StatusOK) {
		return withPermissionHint(azerr.Classify(op, runtime.NewResponseError(resp)), resp.StatusCode, permission)
	}
	answer, err := runtime.Payload(resp)
	if err != nil {
		return azerr.Classify(op, err)
	}
	if len(answer) > maxBody {
		return guard.Errorf(guard.KindTransient, "%s: response body larger than %d bytes", op, maxBody)
	}
	if err := json.Unmarshal(answer, v); err != nil {
		// Not what Graph sends; a proxy's page or a cut-off body. Retrying
		// is safe and may help.
		return guard.Errorf(guard.KindTransient, "%s: decode response: %w", op, err)
	}
	return nil
}

// withPermissionHint adds the permission the guard lacks to a 403's
// message. A 401 is another matter (a bad token), and keeps its message.
func withPermissionHint(err error, status int, permission string) error {
	var ge *guard.Error
	if status != http.StatusForbidden || !errors.As(err, &ge) || ge.Kind != guard.KindForbidden {
		return err
	}
	return &guard.Error{
		Kind:       ge.Kind,
		Code:       ge.Code,
		RetryAfter: ge.RetryAfter,
		Err:        fmt.Errorf("%w (grant the guard's identity the Microsoft Graph application permission %s, with admin consent)", ge.Err, permission),
	}
}

// queryEscape escapes s for a query string with %20 for spaces, as Graph's
// documentation writes its examples.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}
