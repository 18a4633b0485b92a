// Package clusterjson reads AKS cluster descriptions in every shape an
// operator has at hand and turns them into guard.Clusters:
//
//   - an ARM REST body (GET managedClusters): identity at the top,
//     servicePrincipalProfile under "properties";
//   - `az aks show -o json`: the same fields flattened to the top level;
//   - a list response {"value": […]} and `az aks list -o json` (an array);
//   - Azure Resource Graph results: {"data": […]} as `az graph query` and the
//     REST API return them, the table form {"data": {"columns", "rows"}},
//     or the rows alone;
//   - any number of the above, one after another (JSON lines).
package clusterjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/jsonin"
)

// Record is one cluster found in the input.
type Record struct {
	// Path says where in the input the cluster was, for messages:
	// "[2]", "value[0]", "data[5]".
	Path string
	// RawID is the id as the input spells it; it may be empty.
	RawID   string
	Name    string
	Cluster guard.Cluster
}

// Parse reads every cluster in data. See Each.
func Parse(data []byte) ([]Record, error) {
	var out []Record
	err := Each(bytes.NewReader(data), func(r Record) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// Each reads r once and calls fn for every cluster in it, in order. Memory
// stays bounded by the largest single cluster, whatever the input's size:
// arrays, lists and Resource Graph results are read one cluster at a
// time. It fails on malformed JSON, invalid UTF-8 and duplicate keys
// (jsonin), naming the line and column, and on a value that is neither a
// cluster nor a known wrapper, naming where it is; clusters before the
// failure have been handed to fn.
func Each(r io.Reader, fn func(Record) error) error {
	return jsonin.Walk(r, &walker{fn: fn})
}

// clusterKeys are the fields by which an object is recognised as a cluster.
var clusterKeys = []string{"id", "name", "type", "properties", "identity", "servicePrincipalProfile"}

// parseObject reads the JSON object raw, found at path, as a cluster.
func parseObject(raw []byte, path string) (Record, error) {
	rec, looks, err := parseCluster(raw)
	switch {
	case err != nil:
		return Record{}, fmt.Errorf("%s: %w", path, err)
	case !looks:
		return Record{}, fmt.Errorf("%s: object has none of the fields of a cluster (%s) and is not a list {\"value\": […]} or a Resource Graph result {\"data\": […]}",
			path, strings.Join(clusterKeys, ", "))
	}
	if why := notCluster(rec); why != "" {
		return Record{}, fmt.Errorf("%s: %s", path, why)
	}
	rec.Path = path
	return rec, nil
}

// clusterType is the ARM type of an AKS cluster, compared
// case-insensitively: Resource Graph spells it in lower case.
const clusterType = "Microsoft.ContainerService/managedClusters"

// notCluster says why a record is another ARM resource, such as a
// maintenance configuration or a role assignment; it is empty for a
// cluster, or a body without type and id (a PUT request). Other resources
// are bad input, not clusters of unknown verdict.
func notCluster(r Record) string {
	if t := r.Cluster.Type; t != "" && !strings.EqualFold(t, clusterType) {
		return "resource type " + t + " is not " + clusterType
	}
	if r.RawID == "" {
		return ""
	}
	// An id that cannot be read is bad input: the cluster it names, and
	// so what the verdict is about, is unknown.
	_, child, err := armid.ClusterOf(r.RawID)
	switch {
	case err != nil:
		return err.Error()
	case child != "":
		return fmt.Sprintf("resource ID %q is a %s under a managed cluster, not the cluster", r.RawID, child)
	}
	return ""
}

// clusterDoc is the union of the ARM REST and az CLI shapes: the fields of
// "properties" may also sit at the top level.
type clusterDoc struct {
	ID         string             `json:"id"`
	Name       string             `json:"name"`
	Type       string             `json:"type"`
	Location   string             `json:"location"`
	ETag       string             `json:"eTag"`
	Tags       map[string]*string `json:"tags"`
	Identity   *identityDoc       `json:"identity"`
	Properties *propertiesDoc     `json:"properties"`
	propertiesDoc
}

type propertiesDoc struct {
	ServicePrincipalProfile *struct {
		ClientID *string `json:"clientId"`
	} `json:"servicePrincipalProfile"`
	IdentityProfile        map[string]*identityRef `json:"identityProfile"`
	APIServerAccessProfile *struct {
		PrivateDNSZone string `json:"privateDNSZone"`
	} `json:"apiServerAccessProfile"`
	ProvisioningState   string               `json:"provisioningState"`
	NodeResourceGroup   string               `json:"nodeResourceGroup"`
	DiskEncryptionSetID string               `json:"diskEncryptionSetID"`
	AgentPoolProfiles   []poolDoc            `json:"agentPoolProfiles"`
	AddonProfiles       map[string]*addonDoc `json:"addonProfiles"`
	NetworkProfile      *networkDoc          `json:"networkProfile"`
}

type poolDoc struct {
	Name             string `json:"name"`
	NodeImageVersion string `json:"nodeImageVersion"`
	VnetSubnetID     string `json:"vnetSubnetID"`
	PodSubnetID      string `json:"podSubnetID"`
	// ProvisioningState of the pool, as ARM reports it.
	ProvisioningState string `json:"provisioningState"`
}

type addonDoc struct {
	Enabled  bool              `json:"enabled"`
	Config   map[string]string `json:"config"`
	Identity *identityRef      `json:"identity"`
}

type networkDoc struct {
	NetworkPlugin       string `json:"networkPlugin"`
	LoadBalancerProfile *struct {
		OutboundIPs *struct {
			PublicIPs []refDoc `json:"publicIPs"`
		} `json:"outboundIPs"`
		OutboundIPPrefixes *struct {
			PublicIPPrefixes []refDoc `json:"publicIPPrefixes"`
		} `json:"outboundIPPrefixes"`
	} `json:"loadBalancerProfile"`
}

type refDoc struct {
	ID string `json:"id"`
}

func refIDs(rs []refDoc) []string {
	var out []string
	for _, r := range rs {
		if r.ID != "" {
			out = append(out, r.ID)
		}
	}
	return out
}

type identityDoc struct {
	Type                   string                     `json:"type"`
	PrincipalID            string                     `json:"principalId"`
	UserAssignedIdentities map[string]json.RawMessage `json:"userAssignedIdentities"`
}

type identityRef struct {
	ResourceID string `json:"resourceId"`
	ClientID   string `json:"clientId"`
	ObjectID   string `json:"objectId"`
}

// parseCluster reads v as a cluster; looks says whether v has any field by
// which a cluster is recognised (clusterKeys).
func parseCluster(v []byte) (rec Record, looks bool, err error) {
	var d clusterDoc
	if err := json.Unmarshal(v, &d); err != nil {
		return Record{}, false, err
	}
	looks = d.ID != "" || d.Name != "" || d.Type != "" || d.Properties != nil || d.Identity != nil || d.ServicePrincipalProfile != nil
	p := d.propertiesDoc
	if d.Properties != nil {
		p = merge(*d.Properties, p)
	}
	c := guard.Cluster{Type: d.Type, Location: d.Location, ETag: d.ETag, ProvisioningState: p.ProvisioningState}
	if id, err := armid.ParseCluster(d.ID); err == nil {
		c.ID = id
	}
	if d.Identity != nil {
		c.IdentityType = d.Identity.Type
		c.PrincipalID = d.Identity.PrincipalID
		c.UserAssignedIdentities = slices.Sorted(maps.Keys(d.Identity.UserAssignedIdentities))
	}
	if sp := p.ServicePrincipalProfile; sp != nil {
		c.HasServicePrincipalProfile = true
		if sp.ClientID != nil {
			c.ServicePrincipalClientID = *sp.ClientID
		}
	}
	for k, ref := range p.IdentityProfile {
		if strings.EqualFold(k, "kubeletidentity") && ref != nil {
			c.Kubelet = &guard.Identity{ResourceID: ref.ResourceID, ClientID: ref.ClientID, ObjectID: ref.ObjectID}
		}
	}
	if p.APIServerAccessProfile != nil {
		c.PrivateDNSZone = p.APIServerAccessProfile.PrivateDNSZone
	}
	c.NodeResourceGroup, c.DiskEncryptionSetID = p.NodeResourceGroup, p.DiskEncryptionSetID
	for _, pool := range p.AgentPoolProfiles {
		c.Pools = append(c.Pools, guard.Pool{Name: pool.Name, NodeImageVersion: pool.NodeImageVersion,
			VnetSubnetID: pool.VnetSubnetID, PodSubnetID: pool.PodSubnetID, ProvisioningState: pool.ProvisioningState})
	}
	for key, a := range p.AddonProfiles {
		if a == nil {
			continue
		}
		if c.Addons == nil {
			c.Addons = map[string]guard.Addon{}
		}
		addon := guard.Addon{Enabled: a.Enabled, Config: a.Config}
		if a.Identity != nil {
			addon.Identity = &guard.Identity{ResourceID: a.Identity.ResourceID, ClientID: a.Identity.ClientID, ObjectID: a.Identity.ObjectID}
		}
		c.Addons[key] = addon
	}
	if np := p.NetworkProfile; np != nil {
		c.NetworkPlugin = np.NetworkPlugin
		if lb := np.LoadBalancerProfile; lb != nil {
			if lb.OutboundIPs != nil {
				c.OutboundIPs = refIDs(lb.OutboundIPs.PublicIPs)
			}
			if lb.OutboundIPPrefixes != nil {
				c.OutboundIPPrefixes = refIDs(lb.OutboundIPPrefixes.PublicIPPrefixes)
			}
		}
	}
	for k, tv := range d.Tags {
		if tv != nil {
			if c.Tags == nil {
				c.Tags = map[string]string{}
			}
			c.Tags[k] = *tv
		}
	}
	name := d.Name
	if name == "" {
		name = c.ID.Name
	}
	return Record{RawID: d.ID, Name: name, Cluster: c}, looks, nil
}

// merge prefers the nested "properties" fields and falls back to the
// flattened ones, field by field.
func merge(nested, flat propertiesDoc) propertiesDoc {
	n, f := reflect.ValueOf(&nested).Elem(), reflect.ValueOf(flat)
	for i := range n.NumField() {
		if n.Field(i).IsZero() {
			n.Field(i).Set(f.Field(i))
		}
	}
	return nested
}
