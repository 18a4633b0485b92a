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
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
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

// Parse reads every cluster in data. It fails on malformed JSON, naming the
// line and column, and on a value that is neither a cluster nor a known
// wrapper, naming where it is.
func Parse(data []byte) ([]Record, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []Record
	for n := 0; ; n++ {
		var v json.RawMessage
		err := dec.Decode(&v)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, syntaxError(data, err)
		}
		prefix := ""
		if n > 0 {
			prefix = fmt.Sprintf("value %d ", n+1)
		}
		recs, err := parseValue(v, prefix)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	if len(out) == 0 && len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("no JSON input")
	}
	return out, nil
}

// syntaxError turns a decoder error into one naming the line and column.
func syntaxError(data []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset - 1 // Offset counts the offending byte
	case errors.As(err, &te):
		off = te.Offset - 1
	case errors.Is(err, io.ErrUnexpectedEOF):
		off = int64(len(data))
		err = errors.New("unexpected end of input")
	}
	if off < 0 {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	line, col := 1, 1
	for _, c := range data[:min(int(off), len(data))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf("invalid JSON at line %d, column %d: %w", line, col, err)
}

func parseValue(v json.RawMessage, path string) ([]Record, error) {
	switch firstByte(v) {
	case '[':
		return parseArray(v, path)
	case '{':
		return parseObject(v, path)
	}
	return nil, fmt.Errorf("%s: want a cluster object, a list or an array, got %s", where(path), kindOf(v))
}

func parseArray(v json.RawMessage, path string) ([]Record, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, fmt.Errorf("%s: %w", where(path), err)
	}
	var out []Record
	for i, it := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		if firstByte(it) != '{' {
			return nil, fmt.Errorf("%s: want a cluster object, got %s", p, kindOf(it))
		}
		recs, err := parseObject(it, p)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

// clusterKeys are the fields by which an object is recognised as a cluster.
var clusterKeys = []string{"id", "name", "type", "properties", "identity", "servicePrincipalProfile"}

func parseObject(v json.RawMessage, path string) ([]Record, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(v, &keys); err != nil {
		return nil, fmt.Errorf("%s: %w", where(path), err)
	}
	if list, ok := lookup(keys, "value"); ok && firstByte(list) == '[' {
		return parseArray(list, path+"value")
	}
	if data, ok := lookup(keys, "data"); ok {
		switch firstByte(data) {
		case '[':
			return parseArray(data, path+"data")
		case '{':
			return parseTable(data, path+"data")
		}
	}
	found := false
	for _, k := range clusterKeys {
		if _, ok := lookup(keys, k); ok {
			found = true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("%s: object has none of the fields of a cluster (%s) and is not a list {\"value\": […]} or a Resource Graph result {\"data\": […]}",
			where(path), strings.Join(clusterKeys, ", "))
	}
	rec, err := parseCluster(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where(path), err)
	}
	if why := notCluster(rec); why != "" {
		return nil, fmt.Errorf("%s: %s", where(path), why)
	}
	rec.Path = where(path)
	return []Record{rec}, nil
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
	_, child, err := armid.ClusterOf(r.RawID)
	switch {
	case errors.Is(err, armid.ErrNotCluster):
		return err.Error()
	case err == nil && child != "":
		return fmt.Sprintf("resource ID %q is a %s under a managed cluster, not the cluster", r.RawID, child)
	}
	return ""
}

// parseTable reads Resource Graph's table form, {"columns": [{"name"}],
// "rows": [[…]]}, as one object per row.
func parseTable(v json.RawMessage, path string) ([]Record, error) {
	var t struct {
		Columns []struct {
			Name string `json:"name"`
		} `json:"columns"`
		Rows [][]json.RawMessage `json:"rows"`
	}
	if err := json.Unmarshal(v, &t); err != nil {
		return nil, fmt.Errorf("%s: Resource Graph table: %w", path, err)
	}
	if len(t.Columns) == 0 {
		return nil, fmt.Errorf("%s: Resource Graph table has no columns", path)
	}
	var out []Record
	for i, row := range t.Rows {
		p := fmt.Sprintf("%s.rows[%d]", path, i)
		if len(row) != len(t.Columns) {
			return nil, fmt.Errorf("%s: %d values for %d columns", p, len(row), len(t.Columns))
		}
		obj := make(map[string]json.RawMessage, len(row))
		for j, c := range t.Columns {
			obj[c.Name] = row[j]
		}
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		recs, err := parseObject(b, p)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

// lookup finds a key case-insensitively, as encoding/json matches fields.
func lookup(m map[string]json.RawMessage, key string) (json.RawMessage, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

func firstByte(v []byte) byte {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

func kindOf(v []byte) string {
	switch firstByte(v) {
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '[':
		return "an array"
	case '{':
		return "an object"
	}
	return "a number"
}

func where(path string) string {
	if path == "" {
		return "top level"
	}
	return strings.TrimSpace(path)
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
	ProvisioningState string `json:"provisioningState"`
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

func parseCluster(v json.RawMessage) (Record, error) {
	var d clusterDoc
	if err := json.Unmarshal(v, &d); err != nil {
		return Record{}, err
	}
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
	return Record{RawID: d.ID, Name: name, Cluster: c}, nil
}

// merge prefers the nested "properties" fields and falls back to the
// flattened ones.
func merge(nested, flat propertiesDoc) propertiesDoc {
	if nested.ServicePrincipalProfile == nil {
		nested.ServicePrincipalProfile = flat.ServicePrincipalProfile
	}
	if nested.IdentityProfile == nil {
		nested.IdentityProfile = flat.IdentityProfile
	}
	if nested.APIServerAccessProfile == nil {
		nested.APIServerAccessProfile = flat.APIServerAccessProfile
	}
	if nested.ProvisioningState == "" {
		nested.ProvisioningState = flat.ProvisioningState
	}
	return nested
}
