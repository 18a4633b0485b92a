// Package resourcegraph queries Azure Resource Graph with the
// armresourcegraph SDK: the change history of a cluster (the
// resourcechanges table), which says who set a tag.
package resourcegraph

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resourcegraph/armresourcegraph"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/azclient"
	"github.com/aksguard/aksguard/pkg/azerr"
	"github.com/aksguard/aksguard/pkg/guard"
)

// resourcesAPI is the part of armresourcegraph.Client that Client uses; its
// method copies the SDK's signature exactly.
type resourcesAPI interface {
	Resources(ctx context.Context, query armresourcegraph.QueryRequest, options *armresourcegraph.ClientResourcesOptions) (armresourcegraph.ClientResourcesResponse, error)
}

var _ resourcesAPI = (*armresourcegraph.Client)(nil)

// Client queries Azure Resource Graph. It is safe for concurrent use.
type Client struct {
	api resourcesAPI
}

var _ guard.ChangeHistory = (*Client)(nil)

// New returns a Client that authenticates with cred. opts may be nil; tests
// and the simulator pass options whose Transport is the SDK's fake. Unless
// opts sets them, retries are bounded as azclient.Retry says.
func New(cred azcore.TokenCredential, opts *arm.ClientOptions) (*Client, error) {
	var o arm.ClientOptions
	if opts != nil {
		o = *opts
	}
	o.Retry = azclient.Retry(o.Retry)
	if o.Retry.StatusCodes == nil {
		// The SDK's defaults without 429: Resource Graph's throttling
		// says when its quota resets in a header of its own, which the
		// SDK does not read; callers wait for it (Listing) or try later.
		o.Retry.StatusCodes = []int{http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusBadGateway,
			http.StatusServiceUnavailable, http.StatusGatewayTimeout}
	}
	c, err := armresourcegraph.NewClient(cred, &o)
	if err != nil {
		return nil, fmt.Errorf("resource graph client: %w", err)
	}
	return &Client{api: c}, nil
}

// maxChanges bounds the records one query returns: more than two weeks of
// a cluster's tag changes, creations and deletions.
const maxChanges = 100

// TagChanges implements guard.ChangeHistory with one query of the
// resourcechanges table in the cluster's subscription. The query filters on
// the service's side; the rows are checked again here, so a row for another
// resource or without the tag never counts. Errors are classified by
// azerr; a refusal is KindForbidden with the permission named.
func (c *Client) TagChanges(ctx context.Context, id guard.ClusterID, tag, correlationID string) ([]guard.Change, error) {
	op := "read the change history of cluster " + id.String()
	if id.Subscription == "" || id.ResourceGroup == "" || id.Name == "" {
		return nil, guard.Errorf(guard.KindInvalid, "%s: incomplete cluster ID", op)
	}
	if !safeCorrelation.MatchString(correlationID) {
		correlationID = "" // not one ARM makes; never put it in a query
	}
	resp, err := c.api.Resources(ctx, armresourcegraph.QueryRequest{
		Query:         to.Ptr(changesQuery(id, tag, correlationID)),
		Subscriptions: []*string{to.Ptr(id.Subscription)},
		Options: &armresourcegraph.QueryRequestOptions{
			ResultFormat: to.Ptr(armresourcegraph.ResultFormatObjectArray),
			Top:          to.Ptr(int32(maxChanges)),
		},
	}, nil)
	if err != nil {
		err = azerr.Classify(op, err)
		if guard.KindOf(err) == guard.KindForbidden {
			err = fmt.Errorf("%w; the guard's identity needs read access to the cluster (Reader) to query its change history in Azure Resource Graph", err)
		}
		return nil, err
	}
	return parseChanges(id, tag, correlationID, resp.Data)
}

// safeCorrelation is what an ARM correlation id looks like; anything else
// is left out of the query.
var safeCorrelation = regexp.MustCompile(`^[A-Za-z0-9-]{0,64}$`)

// changesQuery is the Resource Graph query for TagChanges. Resource IDs and
// tag names are compared case-insensitively, as ARM compares them.
func changesQuery(id guard.ClusterID, tag, correlationID string) string {
	var b strings.Builder
	b.WriteString("resourcechanges\n")
	fmt.Fprintf(&b, "| where properties.targetResourceId =~ %s\n", kqlString(id.String()))
	b.WriteString("| extend changeTime = todatetime(properties.changeAttributes.timestamp), changeType = tostring(properties.changeType)\n")
	fmt.Fprintf(&b, "| where changeType != 'Update' or tostring(properties.changes) contains %s or tobool(properties.changeAttributes.isTruncated)", kqlString(`"tags.`+tag+`"`))
	if correlationID != "" {
		fmt.Fprintf(&b, " or tostring(properties.changeAttributes.correlationId) =~ %s", kqlString(correlationID))
	}
	b.WriteString("\n| order by changeTime desc\n")
	fmt.Fprintf(&b, "| limit %d\n", maxChanges)
	b.WriteString("| project properties")
	return b.String()
}

// kqlString quotes s as a KQL string literal.
func kqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// changeRow is one row of the query: the change resource's properties.
type changeRow struct {
	Properties struct {
		TargetResourceID string `json:"targetResourceId"`
		ChangeType       string `json:"changeType"`
		ChangeAttributes struct {
			CorrelationID string          `json:"correlationId"`
			Timestamp     string          `json:"timestamp"`
			ChangedBy     string          `json:"changedBy"`
			ChangedByType string          `json:"changedByType"`
			ClientType    string          `json:"clientType"`
			Operation     string          `json:"operation"`
			IsTruncated   json.RawMessage `json:"isTruncated"`
		} `json:"changeAttributes"`
		Changes map[string]struct {
			PreviousValue json.RawMessage `json:"previousValue"`
			NewValue      json.RawMessage `json:"newValue"`
		} `json:"changes"`
	} `json:"properties"`
}

// parseChanges reads the rows of an objectArray answer into Changes,
// newest first, keeping those TagChanges promises.
func parseChanges(id guard.ClusterID, tag, correlationID string, data any) ([]guard.Change, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, guard.Errorf(guard.KindInvalid, "change history of %s: %w", id, err)
	}
	var rows []changeRow
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, guard.Errorf(guard.KindInvalid, "change history of %s: rows are not change records: %w", id, err)
	}
	var out []guard.Change
	for i, r := range rows {
		p := r.Properties
		target, err := armid.ParseCluster(p.TargetResourceID)
		if err != nil || !target.Same(id) {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, p.ChangeAttributes.Timestamp)
		if err != nil {
			return nil, guard.Errorf(guard.KindInvalid, "change history of %s: row %d: timestamp %q: %w", id, i, p.ChangeAttributes.Timestamp, err)
		}
		c := guard.Change{
			Type: p.ChangeType, At: at, CorrelationID: p.ChangeAttributes.CorrelationID,
			ChangedBy: p.ChangeAttributes.ChangedBy, ChangedByType: p.ChangeAttributes.ChangedByType,
			ClientType: p.ChangeAttributes.ClientType, Operation: p.ChangeAttributes.Operation,
			Truncated: truthy(p.ChangeAttributes.IsTruncated),
		}
		for path, v := range p.Changes {
			if strings.EqualFold(path, "tags."+tag) {
				c.Tag = &guard.TagChange{Previous: value(v.PreviousValue), New: value(v.NewValue)}
			}
		}
		keep := c.Type != guard.ChangeUpdate || c.Tag != nil || c.Truncated ||
			correlationID != "" && strings.EqualFold(c.CorrelationID, correlationID)
		if keep {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b guard.Change) int { return b.At.Compare(a.At) })
	return out, nil
}

// value is a property value of a change record as a string: "" for null,
// absent, or "null" (Microsoft's own example writes a missing previous
// value so), the text of a string, and the JSON of anything else.
func value(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "null" {
			return ""
		}
		return s
	}
	if t := strings.TrimSpace(string(raw)); t != "null" {
		return t
	}
	return ""
}

// truthy reads a flag written as a JSON boolean or as a string.
func truthy(raw json.RawMessage) bool {
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		return b
	}
	var s string
	return json.Unmarshal(raw, &s) == nil && strings.EqualFold(s, "true")
}

// ClustersUsing implements guard.Inventory: the clusters, in every
// subscription the guard may read, whose servicePrincipalProfile.clientId
// is appID, with one Resource Graph query of the resources table.
func (c *Client) ClustersUsing(ctx context.Context, appID string) ([]guard.ClusterID, error) {
	op := "find the clusters that use service principal " + appID
	if !armid.IsGUID(appID) {
		return nil, guard.Errorf(guard.KindInvalid, "%s: not an application id", op)
	}
	query := "resources\n| where type =~ 'microsoft.containerservice/managedclusters'\n" +
		"| where tostring(properties.servicePrincipalProfile.clientId) =~ '" + appID + "'\n| project id"
	var out []guard.ClusterID
	var skip *string
	for {
		resp, err := c.api.Resources(ctx, armresourcegraph.QueryRequest{
			Query: to.Ptr(query),
			Options: &armresourcegraph.QueryRequestOptions{
				ResultFormat: to.Ptr(armresourcegraph.ResultFormatObjectArray),
				SkipToken:    skip,
			},
		}, nil)
		if err != nil {
			return nil, azerr.Classify(op, err)
		}
		rows, _ := resp.Data.([]any)
		for _, r := range rows {
			m, _ := r.(map[string]any)
			s, _ := m["id"].(string)
			if id, err := armid.ParseCluster(s); err == nil {
				out = append(out, id)
			}
		}
		if resp.SkipToken == nil || *resp.SkipToken == "" {
			return out, nil
		}
		skip = resp.SkipToken
	}
}
