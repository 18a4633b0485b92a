package resourcegraph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resourcegraph/armresourcegraph"

	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/clusterjson"
	"github.com/aksguard/aksguard/pkg/guard"
)

// Limits of Azure Resource Graph, from Microsoft's docs ("Guidance for
// throttled requests", "Troubleshoot errors"): a page holds at most 1,000
// rows, and a query names at most 1,000 subscriptions.
const (
	pageRows          = 1000
	subscriptionBatch = 1000
	// maxThrottled bounds the 429s one query may meet in a row.
	maxThrottled = 5
	// defaultQuotaWait is the wait after a 429 without the quota header:
	// the service's window is five seconds.
	defaultQuotaWait = 5 * time.Second
)

// Throttling headers Resource Graph adds to every answer.
const (
	headerQuotaRemaining = "x-ms-user-quota-remaining"
	headerQuotaResets    = "x-ms-user-quota-resets-after"
	headerSubsLimitHit   = "x-ms-tenant-subscription-limit-hit"
)

// FleetScope says which subscriptions a sweep lists: those under a
// management group, or every subscription the identity can read.
type FleetScope struct {
	// ManagementGroup is a management group's name (its id, not its
	// display name); empty for the whole tenant.
	ManagementGroup string
}

// Listing lists managed clusters with Azure Resource Graph for a sweep.
type Listing struct {
	c     *Client
	scope FleetScope
	// wait sleeps between throttled queries; tests advance a clock.
	wait func(ctx context.Context, d time.Duration) error
}

var _ guard.Fleet = (*Listing)(nil)

// Fleet returns a Listing of the clusters in scope. wait sleeps for a
// duration or until ctx ends; nil sleeps on the real clock.
func (c *Client) Fleet(scope FleetScope, wait func(ctx context.Context, d time.Duration) error) *Listing {
	if wait == nil {
		wait = sleep
	}
	return &Listing{c: c, scope: scope, wait: wait}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// subscriptionsQuery lists the subscriptions in scope; ids sort the rows,
// so the pages do not overlap.
const subscriptionsQuery = "resourcecontainers\n" +
	"| where type =~ 'microsoft.resources/subscriptions'\n" +
	"| project id, subscriptionId\n" +
	"| order by id asc"

// clustersQuery lists managed clusters with what the verdict, the approval
// tag and the kubelet check need, and the compliance state Azure Policy
// gives them for the built-in managed-identity definition where it is
// assigned (several assignments: non-compliant wins). It projects id, which
// paging needs.
var clustersQuery = "resources\n" +
	"| where type =~ 'microsoft.containerservice/managedclusters'\n" +
	"| extend lid = tolower(id)\n" +
	"| join kind=leftouter (\n" +
	"    policyresources\n" +
	"    | where type =~ 'microsoft.policyinsights/policystates'\n" +
	"    | where tostring(properties.policyDefinitionId) endswith '/" + guard.PolicyDefinitionID + "'\n" +
	"    | extend lid = tolower(tostring(properties.resourceId)), state = tostring(properties.complianceState), at = todatetime(properties.timestamp)\n" +
	"    | summarize nonCompliant = countif(state =~ 'NonCompliant'), policyAt = max(at), states = count() by lid\n" +
	"    | extend policyState = iff(nonCompliant > 0, 'NonCompliant', 'Compliant')\n" +
	"    | project lid, policyState, policyAt\n" +
	"  ) on lid\n" +
	"| project id, type, identity, tags, properties = pack('servicePrincipalProfile', properties.servicePrincipalProfile, 'agentPoolProfiles', properties.agentPoolProfiles), policyState, policyAt\n" +
	"| order by id asc"

// Clusters implements guard.Fleet: it lists the subscriptions in scope,
// then the clusters of each batch of up to 1,000 subscriptions, page by
// page with the skip token, handing each page to fn as it arrives. It
// waits when the quota headers say the user's quota is spent, and after a
// 429 for as long as they say.
func (l *Listing) Clusters(ctx context.Context, fn func([]guard.Listed) error) (guard.Listing, error) {
	out := guard.Listing{Complete: true}
	var subs []string
	err := l.pages(ctx, &out, subscriptionsQuery, nil, func(rows []any, _ []byte) error {
		for _, r := range rows {
			m, _ := r.(map[string]any)
			if s, _ := m["subscriptionId"].(string); s != "" {
				subs = append(subs, strings.ToLower(s))
			}
		}
		return nil
	})
	if err != nil {
		return out, err
	}
	out.Subscriptions = subs
	for start := 0; start < len(subs); start += subscriptionBatch {
		batch := subs[start:min(start+subscriptionBatch, len(subs))]
		err := l.pages(ctx, &out, clustersQuery, batch, func(rows []any, body []byte) error {
			if len(rows) == 0 {
				return nil
			}
			page, err := listedOf(rows, body)
			if err != nil {
				return guard.Errorf(guard.KindInvalid, "Resource Graph rows: %w", err)
			}
			return fn(page)
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// pages runs query over subs (nil: the scope's own) and hands each page's
// rows to fn, as the SDK decoded them and as the answer's body.
func (l *Listing) pages(ctx context.Context, out *guard.Listing, query string, subs []string, fn func(rows []any, body []byte) error) error {
	req := armresourcegraph.QueryRequest{
		Query: to.Ptr(query),
		Options: &armresourcegraph.QueryRequestOptions{
			ResultFormat: to.Ptr(armresourcegraph.ResultFormatObjectArray),
			Top:          to.Ptr(int32(pageRows)),
		},
	}
	switch {
	case subs != nil:
		req.Subscriptions = to.SliceOfPtrs(subs...)
	case l.scope.ManagementGroup != "":
		req.ManagementGroups = []*string{to.Ptr(l.scope.ManagementGroup)}
	}
	for {
		resp, body, err := l.query(ctx, out, req)
		if err != nil {
			return err
		}
		rows, ok := resp.Data.([]any)
		if resp.Data != nil && !ok {
			return guard.Errorf(guard.KindInvalid, "Resource Graph answered %T, not rows", resp.Data)
		}
		if err := fn(rows, body); err != nil {
			return err
		}
		if resp.SkipToken == nil || *resp.SkipToken == "" {
			return nil
		}
		req.Options.SkipToken = resp.SkipToken
	}
}

// query runs one query, honouring the quota headers: it waits before the
// next query when the quota is spent, and after a 429 until the quota
// resets, at most maxThrottled times.
func (l *Listing) query(ctx context.Context, out *guard.Listing, req armresourcegraph.QueryRequest) (armresourcegraph.ClientResourcesResponse, []byte, error) {
	for throttled := 0; ; throttled++ {
		var raw *http.Response
		out.Queries++
		resp, err := l.c.api.Resources(policy.WithCaptureResponse(ctx, &raw), req, nil)
		var re *azcore.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusTooManyRequests && throttled < maxThrottled {
			if err := l.wait(ctx, quotaWait(re.RawResponse, defaultQuotaWait)); err != nil {
				return resp, nil, err
			}
			continue
		}
		if err != nil {
			return resp, nil, azerr.Classify("list clusters with Azure Resource Graph", err)
		}
		var body []byte
		if raw != nil {
			// The SDK keeps the body it read; the page is parsed from it
			// once more, as cluster JSON, rather than from the SDK's maps.
			body, _ = runtime.Payload(raw)
			if strings.EqualFold(raw.Header.Get(headerSubsLimitHit), "true") {
				out.Complete = false
			}
			if n, err := strconv.Atoi(raw.Header.Get(headerQuotaRemaining)); err == nil && n <= 0 {
				if err := l.wait(ctx, quotaWait(raw, defaultQuotaWait)); err != nil {
					return resp, nil, err
				}
			}
		}
		return resp, body, nil
	}
}

// quotaWait reads x-ms-user-quota-resets-after (hh:mm:ss) from resp, or
// gives def.
func quotaWait(resp *http.Response, def time.Duration) time.Duration {
	if resp == nil {
		return def
	}
	parts := strings.Split(resp.Header.Get(headerQuotaResets), ":")
	if len(parts) != 3 {
		return def
	}
	var d time.Duration
	for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
		n, err := strconv.ParseFloat(parts[i], 64)
		if err != nil || n < 0 {
			return def
		}
		d += time.Duration(n * float64(unit))
	}
	return d
}

// listedOf reads a page of rows of clustersQuery: the clusters from the
// answer's body, which clusterjson reads as it reads Resource Graph
// results for `aksguard check` (so the two agree), in one pass; the policy
// columns from the rows the SDK decoded. Without the body (a transport
// that keeps none) the rows are encoded again.
func listedOf(rows []any, body []byte) ([]guard.Listed, error) {
	if len(body) == 0 {
		var err error
		if body, err = json.Marshal(rows); err != nil {
			return nil, err
		}
	}
	page := make([]guard.Listed, 0, len(rows))
	err := clusterjson.Each(bytes.NewReader(body), func(r clusterjson.Record) error {
		i := len(page)
		if i >= len(rows) {
			return fmt.Errorf("more clusters than rows")
		}
		l := guard.Listed{Cluster: r.Cluster}
		m, _ := rows[i].(map[string]any)
		l.Policy, _ = m["policyState"].(string)
		if at, _ := m["policyAt"].(string); at != "" {
			t, err := time.Parse(time.RFC3339Nano, at)
			if err != nil {
				return fmt.Errorf("row %d: policyAt %q: %w", i, at, err)
			}
			l.PolicyAt = t
		}
		page = append(page, l)
		return nil
	})
	if errors.Is(err, clusterjson.ErrPaged) {
		err = nil // pages are what the listing reads, one after the other
	}
	if err == nil && len(page) != len(rows) {
		err = fmt.Errorf("%d clusters in %d rows", len(page), len(rows))
	}
	return page, err
}
