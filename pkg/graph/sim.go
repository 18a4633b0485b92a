package graph

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/aksguard/aksguard/pkg/guard"
)

// Sim is an in-process stand-in for the two Microsoft Graph requests Client
// sends, served over real HTTP and TLS by an httptest server (Graph has no
// SDK fake). It holds service principals, some of them managed identities'
// with their resource IDs, counts the requests it serves and can fail the
// next ones on request. It is safe for concurrent use; Close it when done.
//
// It answers as Graph v1.0 does:
//
//   - GET /v1.0/servicePrincipals(appId='{appId}'): the service principal,
//     or 404 Request_ResourceNotFound;
//   - GET /v1.0/servicePrincipals?$filter=alternativeNames/any(x:x eq '{id}'):
//     {"value":[…]} with the managed identity's service principal, or none;
//     resource IDs compare case-insensitively;
//   - both honour $select over id, appId, displayName and
//     servicePrincipalType;
//   - a request without a bearer token gets 401 InvalidAuthenticationToken,
//     any other filter 400 Request_UnsupportedQuery, any other path 404
//     Request_ResourceNotFound, any other method 405.
type Sim struct {
	srv *httptest.Server

	mu         sync.Mutex
	byApp      map[string]simPrincipal // by lower-cased appId
	byResource map[string]simPrincipal // by lower-cased resource ID
	calls      int
	failures   []failure // oldest first
}

// simPrincipal is a service principal the Sim holds.
type simPrincipal struct {
	guard.Principal
	// resourceID is the managed identity's resource ID; "" for an
	// application's service principal.
	resourceID string
}

// failure is a failure FailNext asked for.
type failure struct {
	status int
	code   string
	left   int
}

// NewSim starts a Sim that holds the service principals sps.
func NewSim(sps ...guard.Principal) *Sim {
	s := &Sim{byApp: map[string]simPrincipal{}, byResource: map[string]simPrincipal{}}
	for _, p := range sps {
		s.Add(p)
	}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// Add adds the service principal of an application, or replaces the one
// with the same appId.
func (s *Sim) Add(p guard.Principal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byApp[strings.ToLower(p.AppID)] = simPrincipal{Principal: p}
}

// AddManagedIdentity adds the service principal of the user-assigned
// managed identity with resource ID resourceID; it is found by its appId
// (the identity's client ID) too, as in Graph.
func (s *Sim) AddManagedIdentity(resourceID string, p guard.Principal) {
	sp := simPrincipal{Principal: p, resourceID: resourceID}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byApp[strings.ToLower(p.AppID)] = sp
	s.byResource[strings.ToLower(resourceID)] = sp
}

// URL returns the Sim's base URL, https://127.0.0.1:<port>.
func (s *Sim) URL() string { return s.srv.URL }

// Client returns a Client that talks to the Sim over TLS, trusting its
// certificate, authenticated with the SDK's fake credential.
func (s *Sim) Client() *Client {
	c, err := NewWithEndpoint(s.srv.URL, &azfake.TokenCredential{}, &azcore.ClientOptions{Transport: s.srv.Client()})
	if err != nil {
		panic("graph: Sim.Client: " + err.Error()) // the Sim's own URL is valid
	}
	return c
}

// Close shuts the Sim's server down.
func (s *Sim) Close() { s.srv.Close() }

// Calls returns how many requests the Sim has served, failed ones
// included. Client retries 429 and 5xx answers, so one call may be
// several requests.
func (s *Sim) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// FailNext makes the next n requests fail with the given HTTP status and
// Graph error code, after the failures already asked for.
func (s *Sim) FailNext(n, status int, code string) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, failure{status: status, code: code, left: n})
}

// record counts a request and returns the failure it must end in, if
// FailNext asked for one.
func (s *Sim) record() (failure, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if len(s.failures) == 0 {
		return failure{}, false
	}
	fl := s.failures[0]
	s.failures[0].left--
	if s.failures[0].left == 0 {
		s.failures = s.failures[1:]
	}
	return fl, true
}

var (
	byAppIDPath  = regexp.MustCompile(`^/v1\.0/servicePrincipals\(appId='([^']*)'\)$`)
	altNameQuery = regexp.MustCompile(`^alternativeNames/any\((\w+):\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\)$`)
)

const metadata = "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals"

func (s *Sim) serve(w http.ResponseWriter, r *http.Request) {
	if fl, ok := s.record(); ok {
		writeError(w, fl.status, fl.code, "Failure injected by the Graph Sim.")
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "Request_BadRequest", "The Graph Sim serves GET only.")
		return
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || tok == "" {
		writeError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return
	}
	q := r.URL.Query()
	sel := q.Get("$select")
	if m := byAppIDPath.FindStringSubmatch(r.URL.Path); m != nil {
		s.mu.Lock()
		sp, ok := s.byApp[strings.ToLower(m[1])]
		s.mu.Unlock()
		if !ok {
			writeError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '"+m[1]+"' does not exist or one of its queried reference-property objects are not present.")
			return
		}
		body := sp.fields(sel)
		body["@odata.context"] = metadata + "/$entity"
		writeJSON(w, http.StatusOK, body)
		return
	}
	if r.URL.Path != "/v1.0/servicePrincipals" {
		writeError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource not found for the segment '"+r.URL.Path+"'.")
		return
	}
	m := altNameQuery.FindStringSubmatch(q.Get("$filter"))
	if m == nil || m[1] != m[2] {
		writeError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "The Graph Sim supports only $filter=alternativeNames/any(x:x eq '…').")
		return
	}
	id := strings.ReplaceAll(m[3], "''", "'")
	value := []map[string]any{}
	s.mu.Lock()
	if sp, ok := s.byResource[strings.ToLower(id)]; ok {
		value = append(value, sp.fields(sel))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": metadata, "value": value})
}

// fields returns the service principal's properties that $select names,
// all of them when it names none.
func (sp simPrincipal) fields(sel string) map[string]any {
	typ := "Application"
	if sp.resourceID != "" {
		typ = "ManagedIdentity"
	}
	all := map[string]any{"id": sp.ObjectID, "appId": sp.AppID, "displayName": sp.DisplayName, "servicePrincipalType": typ}
	if sel == "" {
		return all
	}
	out := map[string]any{}
	for _, f := range strings.Split(sel, ",") {
		if v, ok := all[strings.TrimSpace(f)]; ok {
			out[strings.TrimSpace(f)] = v
		}
	}
	return out
}

// writeError writes Graph's error body, {"error":{"code","message"}}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		// The client went away; nobody is left to tell.
		return
	}
}
