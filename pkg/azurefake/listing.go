package azurefake

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resourcegraph/armresourcegraph"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
)

// The fleet answers the two queries of a sweep (resourcegraph.Listing):
// the subscriptions in scope (resourcecontainers) and the clusters of a
// batch of subscriptions with their Azure Policy state (resources joined
// with policyresources). It pages them as Resource Graph does: at most the
// request's $top rows, 1,000 by default, with a skip token for the rest,
// in id order. It does not evaluate the query's text beyond telling the
// two apart.

// PolicyState is the compliance state Azure Policy gives a cluster for
// the built-in managed-identity definition.
type PolicyState struct {
	State string // "Compliant" or "NonCompliant"
	At    time.Time
}

// SetPolicyState records Azure Policy's state of cluster id; a zero state
// means the definition is not assigned to it.
func (f *Fleet) SetPolicyState(id guard.ClusterID, s PolicyState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.policy == nil {
		f.policy = map[string]PolicyState{}
	}
	if s.State == "" {
		delete(f.policy, key(id))
		return
	}
	f.policy[key(id)] = s
}

// AddSubscription makes a subscription readable that holds no cluster.
func (f *Fleet) AddSubscription(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subscriptions = append(f.subscriptions, strings.ToLower(id))
}

// SetGraphQuota makes Resource Graph allow n queries per five-second
// window of the fleet's clock, answering 429 beyond them, with the quota
// headers on every answer; 0 (the default) never throttles.
func (f *Fleet) SetGraphQuota(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.quota = graphQuota{limit: n}
}

// GraphQueries counts the Resource Graph queries the fleet answered,
// throttled ones included.
func (f *Fleet) GraphQueries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.quota.queries
}

// graphQuota is Resource Graph's per-user quota: limit queries a window.
type graphQuota struct {
	limit   int
	queries int
	start   time.Time
	used    int
}

const quotaWindow = 5 * time.Second

// take counts a query and says whether it is over the quota, and the
// headers to answer with.
func (q *graphQuota) take(now time.Time) (over bool, h http.Header) {
	q.queries++
	if q.limit == 0 {
		return false, nil
	}
	if now.Sub(q.start) >= quotaWindow || now.Before(q.start) {
		q.start, q.used = now, 0
	}
	q.used++
	left := q.start.Add(quotaWindow).Sub(now)
	s := int(left.Round(time.Second) / time.Second)
	h = http.Header{}
	h.Set("x-ms-user-quota-remaining", strconv.Itoa(max(q.limit-q.used, 0)))
	h.Set("x-ms-user-quota-resets-after", fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60))
	return q.used > q.limit, h
}

// throttled is Resource Graph's 429 answer.
func throttled(req *http.Request, h http.Header) *http.Response {
	h.Set("Content-Type", "application/json")
	body := `{"error":{"code":"RateLimiting","message":"Please provide below info when asking for support: timestamp = …. Rate limit exceeded."}}`
	return &http.Response{StatusCode: http.StatusTooManyRequests, Status: "429 Too Many Requests", Header: h,
		Body: io.NopCloser(strings.NewReader(body)), Request: req, ContentLength: int64(len(body))}
}

// listingQuery tells the sweep's queries apart.
func listingQuery(text string) string {
	t := strings.ToLower(strings.TrimSpace(text))
	switch {
	case strings.HasPrefix(t, "resourcecontainers"):
		return "subscriptions"
	case strings.HasPrefix(t, "resources") && strings.Contains(t, "policystate"):
		return "clusters"
	}
	return ""
}

// fakeListing answers a query of the sweep.
func (f *Fleet) fakeListing(kind string, q armresourcegraph.QueryRequest) (resp azfake.Responder[armresourcegraph.ClientResourcesResponse], errResp azfake.ErrorResponder) {
	top, skip := pageRowsDefault, 0
	if o := q.Options; o != nil {
		if o.Top != nil && *o.Top > 0 {
			top = int(*o.Top)
		}
		if o.SkipToken != nil {
			n, err := strconv.Atoi(*o.SkipToken)
			if err != nil || n < 0 {
				errResp.SetResponseError(http.StatusBadRequest, "InvalidSkipToken")
				return resp, errResp
			}
			skip = n
		}
	}
	var rows []any
	var total int
	switch kind {
	case "subscriptions":
		subs := f.subscriptionList()
		total = len(subs)
		for _, s := range subs[min(skip, total):min(skip+top, total)] {
			rows = append(rows, map[string]any{"id": "/subscriptions/" + s, "subscriptionId": s})
		}
	default:
		in := map[string]bool{}
		for _, s := range q.Subscriptions {
			in[strings.ToLower(deref(s))] = true
		}
		var page []armcontainerservice.ManagedCluster
		var policies []PolicyState
		f.mu.Lock()
		keys := slices.Sorted(maps.Keys(f.clusters))
		var chosen []string
		for _, k := range keys {
			id, err := armid.ParseCluster(deref(f.clusters[k].ID))
			if err == nil && in[strings.ToLower(id.Subscription)] {
				chosen = append(chosen, k)
			}
		}
		total = len(chosen)
		for _, k := range chosen[min(skip, total):min(skip+top, total)] {
			page = append(page, f.clusters[k])
			policies = append(policies, f.policy[k])
		}
		f.mu.Unlock()
		for i, mc := range page {
			rows = append(rows, clusterRow(mc, policies[i]))
		}
	}
	if rows == nil {
		rows = []any{}
	}
	n, all := int64(len(rows)), int64(total)
	r := armresourcegraph.QueryResponse{Count: &n, TotalRecords: &all, Data: rows, ResultTruncated: to.Ptr(armresourcegraph.ResultTruncatedFalse)}
	if skip+top < total {
		r.SkipToken = to.Ptr(strconv.Itoa(skip + top))
	}
	resp.SetResponse(http.StatusOK, armresourcegraph.ClientResourcesResponse{QueryResponse: r}, nil)
	return resp, errResp
}

// pageRowsDefault is Resource Graph's page size without $top.
const pageRowsDefault = 1000

// subscriptionList is every subscription that holds a cluster, and those
// added, sorted.
func (f *Fleet) subscriptionList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	set := map[string]bool{}
	for _, s := range f.subscriptions {
		set[s] = true
	}
	for _, mc := range f.clusters {
		if id, err := armid.ParseCluster(deref(mc.ID)); err == nil {
			set[strings.ToLower(id.Subscription)] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// clusterRow is mc as a row of the sweep's cluster query: the ARM body
// reduced to the columns it projects, and the policy state.
func clusterRow(mc armcontainerservice.ManagedCluster, p PolicyState) map[string]any {
	b, err := json.Marshal(mc)
	if err != nil {
		panic("azurefake: cluster does not marshal: " + err.Error())
	}
	var body struct {
		ID         string          `json:"id"`
		Identity   json.RawMessage `json:"identity"`
		Tags       json.RawMessage `json:"tags"`
		Properties struct {
			ServicePrincipalProfile json.RawMessage `json:"servicePrincipalProfile"`
			AgentPoolProfiles       json.RawMessage `json:"agentPoolProfiles"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		panic("azurefake: cluster does not unmarshal: " + err.Error())
	}
	row := map[string]any{
		"id":   body.ID,
		"type": "microsoft.containerservice/managedclusters",
		"properties": map[string]any{
			"servicePrincipalProfile": raw(body.Properties.ServicePrincipalProfile),
			"agentPoolProfiles":       raw(body.Properties.AgentPoolProfiles),
		},
		"identity": raw(body.Identity),
		"tags":     raw(body.Tags),
	}
	if p.State != "" {
		row["policyState"] = p.State
		row["policyAt"] = p.At.UTC().Format(time.RFC3339Nano)
	} else {
		row["policyState"], row["policyAt"] = "", ""
	}
	return row
}

// raw decodes a JSON value into the generic form the SDK gives rows; nil
// stays nil.
func raw(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		panic("azurefake: " + err.Error())
	}
	return v
}
