package azurefake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"

	"github.com/aksguard/aksguard/pkg/graph"
	"github.com/aksguard/aksguard/pkg/guard"
)

// Graph is an in-process stand-in for the Microsoft Graph requests
// graph.Client sends, served over real HTTP and TLS by an httptest server
// (Graph has no SDK fake). It holds service principals, some of them
// managed identities' with their resource IDs, and users, counts the
// requests it serves and fails them as its Faults say (target graph). It is
// safe for concurrent use; Close it when done.
//
// It answers as Graph v1.0 does:
//
//   - GET /v1.0/servicePrincipals(appId='{appId}'): the service principal,
//     or 404 Request_ResourceNotFound;
//   - GET /v1.0/servicePrincipals?$filter=alternativeNames/any(x:x eq '{id}'):
//     {"value":[…]} with the managed identity's service principal, or none;
//     resource IDs compare case-insensitively;
//   - GET /v1.0/users?$filter=userPrincipalName eq '{name}' or mail eq '{name}':
//     {"value":[…]} with the user, or none; names compare
//     case-insensitively;
//   - POST /v1.0/directoryObjects/{id}/checkMemberGroups {"groupIds":[…]}:
//     {"value":[…]} with the groups the object is in, through nested
//     groups too;
//   - all honour $select over the properties they know;
//   - a request without a bearer token gets 401 InvalidAuthenticationToken,
//     any other filter 400 Request_UnsupportedQuery, any other path 404
//     Request_ResourceNotFound, any other method 405.
type Graph struct {
	srv    *httptest.Server
	faults *Faults

	mu         sync.Mutex
	byApp      map[string]graphPrincipal  // by lower-cased appId
	byResource map[string]graphPrincipal  // by lower-cased resource ID
	users      map[string]guard.Principal // by lower-cased UPN and mail
	members    map[string][]string        // group object id → member object ids (users or groups), lower case
}

// graphPrincipal is a service principal the Graph holds.
type graphPrincipal struct {
	guard.Principal
	// resourceID is the managed identity's resource ID; "" for an
	// application's service principal.
	resourceID string
}

// graphMethod names every Graph request in Faults.
const graphMethod = "graph"

// NewGraph starts a Graph, with Faults of its own, that holds the service
// principals sps.
func NewGraph(sps ...guard.Principal) *Graph { return newGraph(NewFaults(time.Now), sps...) }

func newGraph(faults *Faults, sps ...guard.Principal) *Graph {
	s := &Graph{faults: faults, byApp: map[string]graphPrincipal{}, byResource: map[string]graphPrincipal{}, users: map[string]guard.Principal{}}
	for _, p := range sps {
		s.Add(p)
	}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	return s
}

// Add adds the service principal of an application, or replaces the one
// with the same appId.
func (s *Graph) Add(p guard.Principal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byApp[strings.ToLower(p.AppID)] = graphPrincipal{Principal: p}
}

// AddManagedIdentity adds the service principal of the user-assigned
// managed identity with resource ID resourceID; it is found by its appId
// (the identity's client ID) too, as in Graph.
func (s *Graph) AddManagedIdentity(resourceID string, p guard.Principal) {
	sp := graphPrincipal{Principal: p, resourceID: resourceID}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byApp[strings.ToLower(p.AppID)] = sp
	s.byResource[strings.ToLower(resourceID)] = sp
}

// AddUser adds a user, found by its UPN or mail.
func (s *Graph) AddUser(p guard.Principal, mail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range []string{p.UPN, mail} {
		if n != "" {
			s.users[strings.ToLower(n)] = p
		}
	}
}

// AddGroup makes members (object ids of users, service principals or other
// groups) members of group.
func (s *Graph) AddGroup(group string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.members == nil {
		s.members = map[string][]string{}
	}
	for _, m := range members {
		s.members[strings.ToLower(group)] = append(s.members[strings.ToLower(group)], strings.ToLower(m))
	}
}

// memberOf reports whether object is in group, directly or through nested
// groups. Callers hold s.mu.
func (s *Graph) memberOf(object, group string, seen map[string]bool) bool {
	if seen[group] {
		return false
	}
	seen[group] = true
	for _, m := range s.members[group] {
		if m == object || s.memberOf(object, m, seen) {
			return true
		}
	}
	return false
}

var checkGroupsPath = regexp.MustCompile(`^/v1\.0/directoryObjects/([0-9a-fA-F-]{36})/checkMemberGroups$`)

// serveCheckGroups answers POST /v1.0/directoryObjects/{id}/checkMemberGroups
// as Graph does: the ids of the groups given the object is a member of,
// transitively.
func (s *Graph) serveCheckGroups(w http.ResponseWriter, r *http.Request, object string) {
	var in struct {
		GroupIDs []string `json:"groupIds"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || len(in.GroupIDs) == 0 || len(in.GroupIDs) > 20 {
		writeError(w, http.StatusBadRequest, "Request_BadRequest", "groupIds must list 1 to 20 group ids.")
		return
	}
	value := []string{}
	s.mu.Lock()
	for _, g := range in.GroupIDs {
		if s.memberOf(strings.ToLower(object), strings.ToLower(g), map[string]bool{}) {
			value = append(value, g)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)", "value": value})
}

// URL returns the Graph's base URL, https://127.0.0.1:<port>.
func (s *Graph) URL() string { return s.srv.URL }

// Client returns a graph.Client that talks to the Graph over TLS, trusting
// its certificate, authenticated with the SDK's fake credential.
func (s *Graph) Client() *graph.Client {
	c, err := graph.NewWithEndpoint(s.srv.URL, &azfake.TokenCredential{}, &azcore.ClientOptions{Transport: s.srv.Client()})
	if err != nil {
		panic("azurefake: Graph.Client: " + err.Error()) // the Graph's own URL is valid
	}
	return c
}

// Close shuts the Graph's server down.
func (s *Graph) Close() { s.srv.Close() }

// Calls returns how many requests the Graph has served, failed ones
// included. graph.Client retries 429 and 5xx answers, so one call may be
// several requests.
func (s *Graph) Calls() int { return s.faults.Calls(graphMethod) }

// FailNext makes the next n requests fail with the given HTTP status and
// Graph error code, after the failures already asked for.
func (s *Graph) FailNext(n, status int, code string) {
	s.faults.failNext(graphMethod, n, status, code, 0)
}

var (
	byAppIDPath  = regexp.MustCompile(`^/v1\.0/servicePrincipals\(appId='([^']*)'\)$`)
	altNameQuery = regexp.MustCompile(`^alternativeNames/any\((\w+):\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\)$`)
)

const metadata = "https://graph.microsoft.com/v1.0/$metadata#servicePrincipals"

func (s *Graph) serve(w http.ResponseWriter, r *http.Request) {
	o := s.faults.take(graphMethod)
	if o.refuse != nil {
		status, code := o.refuse.statusOf("Authorization_RequestDenied")
		if o.refuse.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(o.refuse.retryAfter/time.Second)))
		}
		writeError(w, status, code, "Failure injected by the simulated Graph.")
		return
	}
	if !o.lose {
		s.answer(w, r)
		return
	}
	// Handle the request, then drop the connection instead of answering.
	s.answer(httptest.NewRecorder(), r)
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	writeError(w, http.StatusBadGateway, "BadGateway", "The simulated Graph lost its answer.")
}

func (s *Graph) answer(w http.ResponseWriter, r *http.Request) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); !ok || tok == "" {
		writeError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return
	}
	if m := checkGroupsPath.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPost {
		s.serveCheckGroups(w, r, m[1])
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "Request_BadRequest", "The simulated Graph serves GET, and POST to checkMemberGroups, only.")
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
	if r.URL.Path == "/v1.0/users" {
		s.serveUsers(w, q.Get("$filter"), sel)
		return
	}
	if r.URL.Path != "/v1.0/servicePrincipals" {
		writeError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource not found for the segment '"+r.URL.Path+"'.")
		return
	}
	m := altNameQuery.FindStringSubmatch(q.Get("$filter"))
	if m == nil || m[1] != m[2] {
		writeError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "The simulated Graph supports only $filter=alternativeNames/any(x:x eq '…').")
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

var userQuery = regexp.MustCompile(`^userPrincipalName eq '((?:[^']|'')*)' or mail eq '((?:[^']|'')*)'$`)

// serveUsers answers GET /v1.0/users with the filter graph.Client sends.
func (s *Graph) serveUsers(w http.ResponseWriter, filter, sel string) {
	m := userQuery.FindStringSubmatch(filter)
	if m == nil || m[1] != m[2] {
		writeError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "The simulated Graph supports only $filter=userPrincipalName eq '…' or mail eq '…'.")
		return
	}
	name := strings.ToLower(strings.ReplaceAll(m[1], "''", "'"))
	value := []map[string]any{}
	s.mu.Lock()
	if u, ok := s.users[name]; ok {
		value = append(value, selected(map[string]any{"id": u.ObjectID, "userPrincipalName": u.UPN, "displayName": u.DisplayName}, sel))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users", "value": value})
}

// fields returns the service principal's properties that $select names,
// all of them when it names none.
func (sp graphPrincipal) fields(sel string) map[string]any {
	typ := "Application"
	if sp.resourceID != "" {
		typ = "ManagedIdentity"
	}
	return selected(map[string]any{"id": sp.ObjectID, "appId": sp.AppID, "displayName": sp.DisplayName, "servicePrincipalType": typ}, sel)
}

// selected returns the properties of all that $select names, all of them
// when it names none.
func selected(all map[string]any, sel string) map[string]any {
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
