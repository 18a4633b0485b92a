package graph

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-cmp/cmp"

	"github.com/aksguard/aksguard/pkg/guard"
)

const (
	appID    = "3bf1b8fa-ad21-402f-888a-ec509e7f55f1"
	objectID = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
	miApp    = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
	miObject = "0f9e8d7c-6b5a-4493-a281-70f6e5d4c3b2"
	// miID is a user-assigned identity's resource ID.
	miID = "/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourceGroups/rg-payments/providers/Microsoft.ManagedIdentity/userAssignedIdentities/payments-control-plane"
)

// request is what the test server saw of one request.
type request struct {
	method, path, rawQuery string
	query                  url.Values
	header                 http.Header
}

// graphServer is a TLS test server that answers every request with status,
// headers and body, and keeps what it saw.
type graphServer struct {
	*httptest.Server
	status int
	header map[string]string
	body   string

	mu   sync.Mutex
	seen []request
}

func newGraphServer(t *testing.T, status int, body string, header map[string]string) *graphServer {
	t.Helper()
	g := &graphServer{status: status, body: body, header: header}
	g.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.seen = append(g.seen, request{method: r.Method, path: r.URL.Path, rawQuery: r.URL.RawQuery, query: r.URL.Query(), header: r.Header.Clone()})
		g.mu.Unlock()
		for k, v := range g.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(g.status)
		if _, err := io.WriteString(w, g.body); err != nil {
			t.Errorf("write response: %v", err)
		}
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *graphServer) requests() []request {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.seen)
}

// client returns a Client for g that trusts its certificate.
func (g *graphServer) client(t *testing.T) *Client {
	t.Helper()
	c, err := NewWithEndpoint(g.URL, &azfake.TokenCredential{}, &azcore.ClientOptions{Transport: g.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkRequest checks what every Graph request must carry.
func checkRequest(t *testing.T, r request) {
	t.Helper()
	if r.method != http.MethodGet {
		t.Errorf("method %s, want GET", r.method)
	}
	if got := r.header.Get("Authorization"); got != "Bearer fake_token" {
		t.Errorf("Authorization %q, want the credential's bearer token", got)
	}
	if got := r.header.Get("Accept"); got != "application/json" {
		t.Errorf("Accept %q, want application/json", got)
	}
	// No advanced query: it would make the answer eventually consistent.
	if got := r.header.Get("ConsistencyLevel"); got != "" {
		t.Errorf("ConsistencyLevel %q, want none", got)
	}
	if r.query.Has("$count") {
		t.Errorf("query %q has $count, want none", r.rawQuery)
	}
	if got, want := r.query.Get("$select"), selectOf(r.path); got != want {
		t.Errorf("$select %q, want %s", got, want)
	}
}

// selectOf is the $select a request of path carries.
func selectOf(path string) string {
	if path == "/v1.0/users" {
		return "id,userPrincipalName,mail,displayName"
	}
	return "id,appId,displayName"
}

// graphError is Graph's error body.
func graphError(code, message string) string {
	return `{"error":{"code":"` + code + `","message":"` + message + `","innerError":{"date":"2025-05-18T19:03:10","request-id":"d9bbd4d8-bb2d-44e6-99a1-71a9516da744","client-request-id":"539da3bd-942f-25db-636b-27f6f6e8eae4"}}}`
}

// errorCase is an answer of the test server and the error it must give.
type errorCase struct {
	name       string
	status     int
	header     map[string]string
	body       string
	kind       guard.ErrorKind
	code       string
	retryAfter time.Duration
	contains   string // in the error message
	requests   int
}

// errorCases are the failures both look-ups must classify alike.
var errorCases = []errorCase{
	{
		name: "not found", status: http.StatusNotFound,
		body: graphError("Request_ResourceNotFound", "Resource '"+appID+"' does not exist or one of its queried reference-property objects are not present."),
		kind: guard.KindNotFound, code: "Request_ResourceNotFound", contains: "does not exist", requests: 1,
	},
	{
		name: "forbidden", status: http.StatusForbidden,
		body: graphError("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
		kind: guard.KindForbidden, code: "Authorization_RequestDenied", contains: "Application.Read.All", requests: 1,
	},
	{
		name: "bad token", status: http.StatusUnauthorized,
		body: graphError("InvalidAuthenticationToken", "Access token validation failure. Invalid audience."),
		kind: guard.KindForbidden, code: "InvalidAuthenticationToken", contains: "Invalid audience", requests: 1,
	},
	{
		name: "throttled beyond the retry budget", status: http.StatusTooManyRequests, header: map[string]string{"Retry-After": "30"},
		body: graphError("TooManyRequests", "Too many requests."),
		kind: guard.KindTransient, code: "TooManyRequests", retryAfter: 30 * time.Second, requests: 1,
	},
	{
		name: "malformed JSON", status: http.StatusOK, body: `{"id": "` + objectID + `", "appId": `,
		kind: guard.KindTransient, contains: "decode response", requests: 1,
	},
}

func TestServicePrincipal(t *testing.T) {
	g := newGraphServer(t, http.StatusOK, `{
		"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals(id,appId,displayName)/$entity",
		"id": "`+objectID+`",
		"appId": "`+appID+`",
		"displayName": "payments-aks-sp"
	}`, nil)
	got, err := g.client(t).ServicePrincipal(t.Context(), appID)
	if err != nil {
		t.Fatalf("ServicePrincipal(%s) error %v", appID, err)
	}
	want := guard.Principal{AppID: appID, ObjectID: objectID, DisplayName: "payments-aks-sp"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ServicePrincipal(%s) mismatch (-want +got):\n%s", appID, diff)
	}
	reqs := g.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	checkRequest(t, reqs[0])
	if want := "/v1.0/servicePrincipals(appId='" + appID + "')"; reqs[0].path != want {
		t.Errorf("path %q, want %q", reqs[0].path, want)
	}
	if want := "$select=id,appId,displayName"; reqs[0].rawQuery != want {
		t.Errorf("query %q, want %q", reqs[0].rawQuery, want)
	}
}

func TestServicePrincipalErrors(t *testing.T) {
	cases := append(slices.Clone(errorCases), errorCase{
		name: "another application's", status: http.StatusOK, body: `{"id":"` + miObject + `","appId":"` + miApp + `"}`,
		kind: guard.KindInvalid, contains: miApp, requests: 1,
	})
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraphServer(t, tt.status, tt.body, tt.header)
			_, err := g.client(t).ServicePrincipal(t.Context(), appID)
			checkError(t, "ServicePrincipal", err, tt.kind, tt.code, tt.retryAfter, tt.contains)
			if want := "get service principal of application " + appID; err != nil && !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want it to start with %q", err, want)
			}
			if got := len(g.requests()); got != tt.requests {
				t.Errorf("%d requests, want %d", got, tt.requests)
			}
		})
	}
}

func checkError(t *testing.T, fn string, err error, kind guard.ErrorKind, code string, retryAfter time.Duration, contains string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s() error = nil, want %s", fn, kind)
	}
	if got := guard.KindOf(err); got != kind {
		t.Errorf("KindOf(%s()) = %s, want %s (error %v)", fn, got, kind, err)
	}
	if got := guard.CodeOf(err); got != code {
		t.Errorf("CodeOf(%s()) = %q, want %q", fn, got, code)
	}
	if got := guard.RetryAfterOf(err); got != retryAfter {
		t.Errorf("RetryAfterOf(%s()) = %s, want %s", fn, got, retryAfter)
	}
	if !strings.Contains(err.Error(), contains) {
		t.Errorf("%s() error %q, want it to contain %q", fn, err, contains)
	}
	if code != "" {
		var re *azcore.ResponseError
		if !errors.As(err, &re) {
			t.Errorf("%s() error does not wrap the SDK's *azcore.ResponseError", fn)
		}
	}
	if kind == guard.KindForbidden && code == "InvalidAuthenticationToken" && strings.Contains(err.Error(), Permission) {
		t.Errorf("%s() error %q names a permission for a 401", fn, err)
	}
}

func TestManagedIdentity(t *testing.T) {
	tests := []struct {
		name string
		body string
		want guard.Principal
		kind guard.ErrorKind // for a failure
	}{
		{
			name: "one",
			body: `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#servicePrincipals(id,appId,displayName)",
				"value":[{"id":"` + miObject + `","appId":"` + miApp + `","displayName":"payments-control-plane"}]}`,
			want: guard.Principal{AppID: miApp, ObjectID: miObject, DisplayName: "payments-control-plane"},
		},
		{name: "none", body: `{"value":[]}`, kind: guard.KindNotFound},
		{name: "two", body: `{"value":[{"id":"` + miObject + `","appId":"` + miApp + `"},{"id":"` + objectID + `","appId":"` + appID + `"}]}`, kind: guard.KindInvalid},
		{name: "without ids", body: `{"value":[{"displayName":"payments-control-plane"}]}`, kind: guard.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraphServer(t, http.StatusOK, tt.body, nil)
			got, err := g.client(t).ManagedIdentity(t.Context(), miID)
			switch {
			case tt.kind == "" && err != nil:
				t.Fatalf("ManagedIdentity(%s) error %v", miID, err)
			case tt.kind != "" && guard.KindOf(err) != tt.kind:
				t.Fatalf("ManagedIdentity(%s) error %v, want %s", miID, err, tt.kind)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ManagedIdentity(%s) mismatch (-want +got):\n%s", miID, diff)
			}
			reqs := g.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			checkRequest(t, reqs[0])
			if reqs[0].path != "/v1.0/servicePrincipals" {
				t.Errorf("path %q, want /v1.0/servicePrincipals", reqs[0].path)
			}
			if want := "alternativeNames/any(x:x eq '" + miID + "')"; reqs[0].query.Get("$filter") != want {
				t.Errorf("$filter %q, want %q", reqs[0].query.Get("$filter"), want)
			}
			if strings.ContainsAny(reqs[0].rawQuery, " '+") {
				t.Errorf("raw query %q, want spaces as %%20 and quotes escaped", reqs[0].rawQuery)
			}
		})
	}
}

func TestManagedIdentityErrors(t *testing.T) {
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraphServer(t, tt.status, tt.body, tt.header)
			_, err := g.client(t).ManagedIdentity(t.Context(), miID)
			checkError(t, "ManagedIdentity", err, tt.kind, tt.code, tt.retryAfter, tt.contains)
			if got := len(g.requests()); got != tt.requests {
				t.Errorf("%d requests, want %d", got, tt.requests)
			}
		})
	}
}

func TestUser(t *testing.T) {
	const upn, user = "dana.whitfield@contoso.com", "5f0c2a4e-8d9b-4c71-9e3a-2b6d1f7a8c90"
	tests := []struct {
		name string
		body string
		want guard.Principal
		kind guard.ErrorKind // for a failure
	}{
		{
			name: "one",
			body: `{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users(id,userPrincipalName,mail,displayName)",
				"value":[{"id":"` + user + `","userPrincipalName":"` + upn + `","mail":"dana@contoso.com","displayName":"Dana Whitfield"}]}`,
			want: guard.Principal{ObjectID: user, UPN: upn, DisplayName: "Dana Whitfield"},
		},
		{name: "none", body: `{"value":[]}`, kind: guard.KindNotFound},
		{name: "two", body: `{"value":[{"id":"` + user + `"},{"id":"` + objectID + `"}]}`, kind: guard.KindInvalid},
		{name: "without id", body: `{"value":[{"userPrincipalName":"` + upn + `"}]}`, kind: guard.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraphServer(t, http.StatusOK, tt.body, nil)
			got, err := g.client(t).User(t.Context(), "O'Brien@contoso.com")
			switch {
			case tt.kind == "" && err != nil:
				t.Fatalf("User() error %v", err)
			case tt.kind != "" && guard.KindOf(err) != tt.kind:
				t.Fatalf("User() error %v, want %s", err, tt.kind)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("User() mismatch (-want +got):\n%s", diff)
			}
			reqs := g.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			checkRequest(t, reqs[0])
			if reqs[0].path != "/v1.0/users" {
				t.Errorf("path %q, want /v1.0/users", reqs[0].path)
			}
			if want := "userPrincipalName eq 'O''Brien@contoso.com' or mail eq 'O''Brien@contoso.com'"; reqs[0].query.Get("$filter") != want {
				t.Errorf("$filter %q, want %q (quotes doubled)", reqs[0].query.Get("$filter"), want)
			}
		})
	}
}

func TestUserErrors(t *testing.T) {
	g := newGraphServer(t, http.StatusForbidden, graphError("Authorization_RequestDenied", "Insufficient privileges to complete the operation."), nil)
	_, err := g.client(t).User(t.Context(), "dana@contoso.com")
	checkError(t, "User", err, guard.KindForbidden, "Authorization_RequestDenied", 0, UserPermission)
	for _, name := range []string{"dana", "dana @contoso.com", ""} {
		if _, err := g.client(t).User(t.Context(), name); guard.KindOf(err) != guard.KindInvalid {
			t.Errorf("User(%q) error = %v, want %s and nothing sent", name, err, guard.KindInvalid)
		}
	}
	if n := len(g.requests()); n != 1 {
		t.Errorf("%d requests, want 1: invalid names are not sent", n)
	}
}

func TestInvalidInput(t *testing.T) {
	tests := []struct {
		name string
		call func(*Client) error
	}{
		{"app ID not a GUID", func(c *Client) error {
			_, err := c.ServicePrincipal(t.Context(), "payments-sp")
			return err
		}},
		{"app ID with a path", func(c *Client) error {
			_, err := c.ServicePrincipal(t.Context(), appID+"')/owners?x=('")
			return err
		}},
		{"resource ID of a VM", func(c *Client) error {
			_, err := c.ManagedIdentity(t.Context(), "/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1")
			return err
		}},
		{"not a resource ID", func(c *Client) error {
			_, err := c.ManagedIdentity(t.Context(), "payments-control-plane")
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGraphServer(t, http.StatusOK, `{}`, nil)
			err := tt.call(g.client(t))
			if got := guard.KindOf(err); err == nil || got != guard.KindInvalid {
				t.Errorf("error %v (%s), want %s", err, got, guard.KindInvalid)
			}
			if n := len(g.requests()); n != 0 {
				t.Errorf("%d requests sent for invalid input, want 0", n)
			}
		})
	}
}

// scopeRecorder is a credential that keeps the scopes it was asked for.
type scopeRecorder struct {
	mu     sync.Mutex
	scopes []string
}

func (r *scopeRecorder) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scopes = append(r.scopes, opts.Scopes...)
	return azcore.AccessToken{Token: "recorded", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// transportFunc answers requests in process, without a network.
type transportFunc func(*http.Request) (*http.Response, error)

func (f transportFunc) Do(req *http.Request) (*http.Response, error) { return f(req) }

func TestNewDefaultEndpoint(t *testing.T) {
	var got string
	tr := transportFunc(func(req *http.Request) (*http.Response, error) {
		got = req.URL.String()
		return &http.Response{
			StatusCode: http.StatusOK,
			Header:     http.Header{"Content-Type": {"application/json"}},
			Body:       io.NopCloser(strings.NewReader(`{"id":"` + objectID + `","appId":"` + appID + `"}`)),
			Request:    req,
		}, nil
	})
	cred := &scopeRecorder{}
	c, err := New(cred, &azcore.ClientOptions{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ServicePrincipal(t.Context(), appID); err != nil {
		t.Fatalf("ServicePrincipal() error %v", err)
	}
	if want := "https://graph.microsoft.com/v1.0/servicePrincipals(appId='" + appID + "')?$select=id,appId,displayName"; got != want {
		t.Errorf("request URL %q, want %q", got, want)
	}
	if want := []string{"https://graph.microsoft.com/.default"}; !slices.Equal(cred.scopes, want) {
		t.Errorf("token scopes %q, want %q", cred.scopes, want)
	}
}

func TestNewWithEndpoint(t *testing.T) {
	for _, tt := range []struct {
		endpoint string
		ok       bool
	}{
		{"https://graph.microsoft.com", true},
		{"https://graph.microsoft.us/", true},
		{"https://127.0.0.1:8443", true},
		{"http://graph.microsoft.com", false},
		{"https://graph.microsoft.com/v1.0", false},
		{"https://graph.microsoft.com?x=1", false},
		{"https://user@graph.microsoft.com", false},
		{"graph.microsoft.com", false},
		{"", false},
	} {
		_, err := NewWithEndpoint(tt.endpoint, &azfake.TokenCredential{}, nil)
		if (err == nil) != tt.ok {
			t.Errorf("NewWithEndpoint(%q) error %v, want ok %t", tt.endpoint, err, tt.ok)
		}
	}
}
