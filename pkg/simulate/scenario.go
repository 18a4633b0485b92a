// Package simulate runs a scenario — settings, principals, a fleet, role
// assignments, and timed steps and faults — through the real custom handler
// and domain against the simulated Azure (pkg/azurefake) on a simulated
// clock. Operators rehearse their approval policy and settings with it
// before deploying; tests state the guard's safety properties as scenario
// files; the demo is one.
package simulate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/rbac"
	"github.com/aksguard/aksguard/pkg/settings"
)

// Scenario is a scenario file. Its format is documented in docs/reference.md; it
// is stable: new fields are optional.
type Scenario struct {
	// Settings are app settings, as the function app has them; those that
	// shape the guard's decisions apply, checked as serve checks them.
	Settings map[string]string `json:"settings"`
	// Principals are the people and service principals steps act as, by a
	// short name.
	Principals map[string]Principal `json:"principals"`
	// Fleet holds the clusters, as ARM's REST API or az aks show returns
	// them. Those no create step names exist from the start.
	Fleet []json.RawMessage `json:"fleet"`
	// MaintenanceConfigurations are a cluster's planned-maintenance
	// configurations as ARM returns them, by cluster name.
	MaintenanceConfigurations map[string][]json.RawMessage `json:"maintenanceConfigurations,omitempty"`
	RoleAssignments           []RoleAssignment             `json:"roleAssignments,omitempty"`
	ServicePrincipals         []ServicePrincipal           `json:"servicePrincipals,omitempty"`
	// ManagedIdentities are user-assigned identities in Entra ID, for
	// clusters that move to one.
	ManagedIdentities []ManagedIdentity `json:"managedIdentities,omitempty"`
	// RoleDefinitions are custom roles, besides the built-in ones.
	RoleDefinitions []RoleDefinition `json:"roleDefinitions,omitempty"`
	// GuardRoles are the guard's own role assignments; without any, the
	// guard may do anything.
	GuardRoles []GuardRole `json:"guardRoles,omitempty"`
	// LatestNodeImages is the newest node image AKS offers each pool, by
	// cluster name, then pool name; a pool's own version means none newer.
	// Unlisted pools have one newer than they run.
	LatestNodeImages map[string]map[string]string `json:"latestNodeImages,omitempty"`
	// PolicyStates are Azure Policy's compliance states ("Compliant" or
	// "NonCompliant") for the built-in managed-identity definition, by
	// cluster name; a cluster left out has no assignment.
	PolicyStates map[string]string `json:"policyStates,omitempty"`
	// Azure chooses how the simulator behaves where Microsoft's docs are
	// silent.
	Azure Azure `json:"azure,omitempty"`
	// Start is when the scenario begins; default 2026-11-27T09:00:00Z, a
	// Friday.
	Start *time.Time `json:"start,omitempty"`
	Steps []Step     `json:"steps"`
	// Until is how long the scenario runs, from Start.
	Until Duration `json:"until"`
	// Expect, when set, is what must hold at the end.
	Expect *Expect `json:"expect,omitempty"`
}

// Principal is someone a step acts as.
type Principal struct {
	ObjectID string `json:"objectId"`
	// UPN names a person; Azure's change history names them by it.
	UPN string `json:"upn,omitempty"`
	// AppID names a service principal; change history names it by it.
	AppID string `json:"appId,omitempty"`
	// Type is "User" (the default) or "ServicePrincipal".
	Type string `json:"type,omitempty"`
	Name string `json:"name,omitempty"`
}

func (p Principal) user() bool { return p.Type == "" || strings.EqualFold(p.Type, "User") }

// RoleAssignment is a role assignment that exists from the start.
type RoleAssignment struct {
	PrincipalID string `json:"principalId"`
	// Role is a built-in role's name (such as "Network Contributor") or a
	// role definition ID or GUID.
	Role  string `json:"role"`
	Scope string `json:"scope"`
}

// ManagedIdentity is a user-assigned managed identity's service principal.
type ManagedIdentity struct {
	ResourceID string `json:"resourceId"`
	ObjectID   string `json:"objectId"`
	AppID      string `json:"appId,omitempty"`
}

// RoleDefinition is a custom role.
type RoleDefinition struct {
	// ID is the role's GUID or definition ID.
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Actions    []string `json:"actions"`
	NotActions []string `json:"notActions,omitempty"`
}

// GuardRole is a role assignment of the guard's own identity.
type GuardRole struct {
	Role  string `json:"role"`
	Scope string `json:"scope"`
}

// ServicePrincipal is an application's service principal in Entra ID.
type ServicePrincipal struct {
	AppID       string `json:"appId"`
	ObjectID    string `json:"objectId"`
	DisplayName string `json:"displayName,omitempty"`
}

// Azure chooses behaviours Microsoft's docs do not pin down.
type Azure struct {
	// ChangeHistoryDelay is how long after a change Azure Resource Graph
	// shows its record; default 2m (Microsoft says within five minutes).
	ChangeHistoryDelay *Duration `json:"changeHistoryDelay,omitempty"`
	// TagWritesKeepETag: a write of tags alone keeps the cluster's eTag.
	TagWritesKeepETag bool `json:"tagWritesKeepETag,omitempty"`
	// UpdatePolls is how many polls an identity update takes; default 2.
	UpdatePolls *int `json:"updatePolls,omitempty"`
	// ClientIDUntilKubelet: servicePrincipalProfile.clientId keeps the
	// service principal's application id after the update until kubelet
	// moved on every pool; by default it reads msi at once.
	ClientIDUntilKubelet bool `json:"clientIdUntilKubelet,omitempty"`
	// KubeletAtUpdate: the update reimages every pool, so kubelet moves
	// with the control plane, as one page of Microsoft's docs says; by
	// default each pool's kubelet moves with its node image upgrade.
	KubeletAtUpdate bool `json:"kubeletAtUpdate,omitempty"`
}

// Step is one thing that happens at a time.
type Step struct {
	// At is a duration from the start ("90s", "2h", "1d"), or "before-put":
	// when the guard is about to send its PUT for the cluster, after it
	// read it.
	At string `json:"at"`
	// Do is the action: create, write, pool-write, set-tag, remove-tag,
	// migrate-by-hand, upgrade-node-image, delete, redeliver, raw-event,
	// fault, sweep (the Sweep timer fires) or add-role-assignment.
	Do string `json:"do"`
	// Say is printed on the timeline.
	Say     string `json:"say,omitempty"`
	Cluster string `json:"cluster,omitempty"`
	// By names the principal in Principals who acts.
	By string `json:"by,omitempty"`
	// Tags are merged into the cluster by write (an empty value removes
	// the tag).
	Tags map[string]string `json:"tags,omitempty"`
	// Key (default the approval tag), Value and Via (tags-api, the default,
	// or cluster-write) shape set-tag and remove-tag.
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	Via   string `json:"via,omitempty"`
	// Pool names the agent pool of pool-write and upgrade-node-image.
	Pool string `json:"pool,omitempty"`
	// Step is the index of the step whose events redeliver sends again.
	Step *int `json:"step,omitempty"`
	// Target, Kind and For or Count make a fault.
	Target string    `json:"target,omitempty"`
	Kind   string    `json:"kind,omitempty"`
	For    *Duration `json:"for,omitempty"`
	Count  int       `json:"count,omitempty"`
	// Event is "lost" (Event Grid never delivers the step's event) or a
	// delay before it does; default at once.
	Event string `json:"event,omitempty"`
	// Schema is how Event Grid delivers the step's event: eventgrid (the
	// default), cloudevents, and either with "-string" when the Functions
	// host hands the trigger value over as a JSON string.
	Schema string `json:"schema,omitempty"`
	// Body is the event (or batch) raw-event delivers as it is.
	Body json.RawMessage `json:"body,omitempty"`
	// Assignment is the role assignment add-role-assignment makes (no
	// event: role assignments are not watched).
	Assignment *RoleAssignment `json:"assignment,omitempty"`
}

// Actions a step may take.
const (
	doCreate     = "create"
	doWrite      = "write"
	doPoolWrite  = "pool-write"
	doSetTag     = "set-tag"
	doRemoveTag  = "remove-tag"
	doMigrate    = "migrate-by-hand"
	doDelete     = "delete"
	doRedeliver  = "redeliver"
	doRawEvent   = "raw-event"
	doFault      = "fault"
	doNodeImage  = "upgrade-node-image"
	doSweep      = "sweep"
	doAddRole    = "add-role-assignment"
	beforePut    = "before-put"
	viaTagsAPI   = "tags-api"
	viaCluster   = "cluster-write"
	defaultStart = "2026-11-27T09:00:00Z"
)

var actions = []string{doCreate, doWrite, doPoolWrite, doSetTag, doRemoveTag, doMigrate, doNodeImage, doDelete, doRedeliver, doRawEvent, doFault, doSweep, doAddRole}

// Duration is a JSON duration: Go's ("90s", "1h30m") or whole days ("2d").
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"90s\" or \"2h\", got %s", b)
	}
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err == nil && n >= 0 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as \"90s\", \"2h\" or \"1d\"", s)
	}
	return d, nil
}

// maxScenario bounds what Load reads.
const maxScenario = 32 << 20

// Load reads and checks a scenario. The error names the problem and where:
// the step (by index) and field, the principal, the cluster.
func Load(r io.Reader) (*Scenario, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxScenario+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxScenario {
		return nil, fmt.Errorf("larger than %d MiB", maxScenario>>20)
	}
	// Steps are decoded one by one, so an error names the step.
	var raw struct {
		Scenario
		Steps []json.RawMessage `json:"steps"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, jsonError(data, err)
	}
	sc := raw.Scenario
	sc.Steps = make([]Step, len(raw.Steps))
	for i, s := range raw.Steps {
		dec := json.NewDecoder(bytes.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&sc.Steps[i]); err != nil {
			return nil, fmt.Errorf("steps[%d]: %v", i, err)
		}
	}
	if err := sc.check(); err != nil {
		return nil, err
	}
	return &sc, nil
}

// jsonError says where in data the decoder stopped.
func jsonError(data []byte, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		line, col := position(data, se.Offset)
		return fmt.Errorf("invalid JSON at line %d, column %d: %v", line, col, err)
	case errors.As(err, &te):
		line, col := position(data, te.Offset)
		return fmt.Errorf("line %d, column %d: field %s: want %s, got %s", line, col, te.Field, te.Type, te.Value)
	}
	return err
}

func position(data []byte, offset int64) (line, col int) {
	line, col = 1, 1
	for _, b := range data[:min(int(offset), len(data))] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// check finds what cannot run: names that resolve to nothing, fields an
// action needs or cannot take, settings that are unknown or malformed.
func (sc *Scenario) check() error {
	var names []string
	for name := range sc.Settings {
		if _, ok := settings.Lookup(name); !ok {
			names = append(names, name)
		}
	}
	if len(names) > 0 {
		slices.Sort(names)
		return fmt.Errorf("settings: %s: not a setting aksguard reads", strings.Join(names, ", "))
	}
	var cfg guard.Config
	if problems := settings.Guard(func(k string) string { return sc.Settings[k] }, &cfg); len(problems) > 0 {
		return fmt.Errorf("settings: %s", strings.Join(problems, "; "))
	}
	for name, p := range sc.Principals {
		switch {
		case !armid.IsGUID(p.ObjectID):
			return fmt.Errorf("principals.%s: objectId %q is not a GUID", name, p.ObjectID)
		case !p.user() && !strings.EqualFold(p.Type, "ServicePrincipal"):
			return fmt.Errorf("principals.%s: type %q is neither User nor ServicePrincipal", name, p.Type)
		case p.user() && p.UPN == "":
			return fmt.Errorf("principals.%s: a user needs a upn", name)
		case !p.user() && !armid.IsGUID(p.AppID):
			return fmt.Errorf("principals.%s: a service principal needs an appId (a GUID)", name)
		}
	}
	if sc.Until <= 0 {
		return errors.New("until: want a positive duration such as \"2h\"")
	}
	for i, a := range sc.RoleAssignments {
		if !armid.IsGUID(a.PrincipalID) {
			return fmt.Errorf("roleAssignments[%d]: principalId %q is not a GUID", i, a.PrincipalID)
		}
		if _, err := rbac.CleanScope(a.Scope); err != nil {
			return fmt.Errorf("roleAssignments[%d]: scope: %v", i, err)
		}
		if _, err := roleDefinition(a.Role, a.Scope); err != nil {
			return fmt.Errorf("roleAssignments[%d]: %v", i, err)
		}
	}
	for i, sp := range sc.ServicePrincipals {
		if !armid.IsGUID(sp.AppID) || !armid.IsGUID(sp.ObjectID) {
			return fmt.Errorf("servicePrincipals[%d]: appId and objectId must be GUIDs", i)
		}
	}
	for i, mi := range sc.ManagedIdentities {
		if armid.CheckUserAssignedIdentity(mi.ResourceID) != nil || !armid.IsGUID(mi.ObjectID) {
			return fmt.Errorf("managedIdentities[%d]: want a user-assigned identity's resourceId and a GUID objectId", i)
		}
	}
	for i, d := range sc.RoleDefinitions {
		if !armid.IsGUID(d.ID[strings.LastIndex(d.ID, "/")+1:]) || len(d.Actions) == 0 {
			return fmt.Errorf("roleDefinitions[%d]: want an id (a GUID or definition ID) and actions", i)
		}
	}
	for i, g := range sc.GuardRoles {
		if _, err := rbac.CleanScope(g.Scope); err != nil {
			return fmt.Errorf("guardRoles[%d]: scope: %v", i, err)
		}
		if _, err := roleDefinition(g.Role, g.Scope); err != nil {
			return fmt.Errorf("guardRoles[%d]: %v", i, err)
		}
	}
	clusters, err := sc.clusters()
	if err != nil {
		return err
	}
	known := map[string]bool{}
	for _, c := range clusters {
		known[strings.ToLower(c.name)] = true
	}
	for name := range sc.MaintenanceConfigurations {
		if !known[strings.ToLower(name)] {
			return fmt.Errorf("maintenanceConfigurations: no cluster named %q in the fleet", name)
		}
	}
	for name, state := range sc.PolicyStates {
		if !known[strings.ToLower(name)] {
			return fmt.Errorf("policyStates: no cluster named %q in the fleet", name)
		}
		if state != "Compliant" && state != "NonCompliant" {
			return fmt.Errorf("policyStates.%s: %q is neither Compliant nor NonCompliant", name, state)
		}
	}
	for name := range sc.LatestNodeImages {
		if !known[strings.ToLower(name)] {
			return fmt.Errorf("latestNodeImages: no cluster named %q in the fleet", name)
		}
	}
	if sc.Expect != nil {
		for name, e := range sc.Expect.Clusters {
			if !known[strings.ToLower(name)] {
				return fmt.Errorf("expect.clusters: no cluster named %q in the fleet", name)
			}
			if e.ApprovedBy != nil && !armid.IsGUID(*e.ApprovedBy) {
				if _, ok := sc.Principals[*e.ApprovedBy]; !ok {
					return fmt.Errorf("expect.clusters.%s.approvedBy: no principal %q", name, *e.ApprovedBy)
				}
			}
		}
	}
	created := map[string]int{}
	for i := range sc.Steps {
		if err := sc.checkStep(i, known, created); err != nil {
			return fmt.Errorf("steps[%d] (%s): %w", i, sc.Steps[i].Do, err)
		}
	}
	return nil
}

func (sc *Scenario) checkStep(i int, clusters map[string]bool, created map[string]int) error {
	s := &sc.Steps[i]
	if !slices.Contains(actions, s.Do) {
		return fmt.Errorf("field do: %q is not one of %s", s.Do, strings.Join(actions, ", "))
	}
	if s.At != beforePut {
		if _, err := parseDuration(s.At); err != nil {
			return fmt.Errorf("field at: %v, or before-put", err)
		}
	} else if s.Do == doFault || s.Do == doRedeliver || s.Do == doRawEvent || s.Do == doCreate || s.Do == doSweep || s.Do == doAddRole {
		return fmt.Errorf("field at: before-put needs an action on a cluster's resource, not %s", s.Do)
	}
	need := func(field string, ok bool) error {
		if !ok {
			return fmt.Errorf("field %s is required", field)
		}
		return nil
	}
	forbid := func(field string, set bool) error {
		if set {
			return fmt.Errorf("field %s does not apply", field)
		}
		return nil
	}
	switch s.Do {
	case doFault:
		if err := need("target", s.Target != ""); err != nil {
			return err
		}
		if err := need("kind", s.Kind != ""); err != nil {
			return err
		}
		f := azurefake.Fault{Kind: azurefake.Kind(s.Kind), Count: s.Count}
		if s.For != nil {
			f.For = time.Duration(*s.For)
		}
		// Checked on a Faults of its own; the run adds it again at its time.
		if err := azurefake.NewFaults(nil).Add(azurefake.Target(s.Target), f); err != nil {
			return fmt.Errorf("fields target, kind, for, count: %w", err)
		}
		return forbid("cluster", s.Cluster != "")
	case doRedeliver:
		if err := need("step", s.Step != nil); err != nil {
			return err
		}
		if *s.Step < 0 || *s.Step >= i {
			return fmt.Errorf("field step: %d is not an earlier step", *s.Step)
		}
		return nil
	case doRawEvent:
		return need("body", len(s.Body) > 0)
	case doSweep:
		return forbid("cluster", s.Cluster != "")
	case doAddRole:
		if err := need("assignment", s.Assignment != nil); err != nil {
			return err
		}
		a := s.Assignment
		if !armid.IsGUID(a.PrincipalID) {
			return fmt.Errorf("field assignment.principalId: %q is not a GUID", a.PrincipalID)
		}
		if _, err := rbac.CleanScope(a.Scope); err != nil {
			return fmt.Errorf("field assignment.scope: %v", err)
		}
		if _, err := roleDefinition(a.Role, a.Scope); err != nil {
			return fmt.Errorf("field assignment: %v", err)
		}
		return forbid("cluster", s.Cluster != "")
	}
	if err := need("cluster", s.Cluster != ""); err != nil {
		return err
	}
	if !clusters[strings.ToLower(s.Cluster)] {
		return fmt.Errorf("field cluster: no cluster named %q in the fleet", s.Cluster)
	}
	if err := need("by", s.By != ""); err != nil {
		return err
	}
	if _, ok := sc.Principals[s.By]; !ok {
		return fmt.Errorf("field by: no principal %q", s.By)
	}
	switch s.Do {
	case doCreate:
		if j, ok := created[strings.ToLower(s.Cluster)]; ok {
			return fmt.Errorf("field cluster: %s is created by steps[%d] already", s.Cluster, j)
		}
		created[strings.ToLower(s.Cluster)] = i
	case doSetTag:
		if err := need("value", s.Value != ""); err != nil {
			return err
		}
	case doRemoveTag:
		if err := forbid("value", s.Value != ""); err != nil {
			return err
		}
	case doPoolWrite, doNodeImage:
		if err := need("pool", s.Pool != ""); err != nil {
			return err
		}
	}
	if s.Do == doSetTag || s.Do == doRemoveTag {
		if s.Via != "" && s.Via != viaTagsAPI && s.Via != viaCluster {
			return fmt.Errorf("field via: %q is neither %s nor %s", s.Via, viaTagsAPI, viaCluster)
		}
		if strings.Contains(s.Key, "/") {
			return fmt.Errorf("field key: tag names cannot contain /")
		}
	} else if s.Key != "" || s.Via != "" {
		return fmt.Errorf("fields key and via apply to set-tag and remove-tag only")
	}
	if s.Event != "" && s.Event != "lost" {
		if _, err := parseDuration(s.Event); err != nil {
			return fmt.Errorf("field event: want \"lost\" or a delay: %v", err)
		}
	}
	if _, ok := schemas[s.Schema]; !ok {
		return fmt.Errorf("field schema: %q is not one of eventgrid, eventgrid-string, cloudevents, cloudevents-string", s.Schema)
	}
	return nil
}

// fleetCluster is one cluster of the fleet, decoded enough to name it.
type fleetCluster struct {
	name string
	id   guard.ClusterID
	raw  json.RawMessage // as ARM's REST API returns it
}

// topLevel are the fields of a cluster ARM keeps outside properties; az
// aks show puts every other one at the top level too.
var topLevel = []string{"id", "name", "type", "location", "tags", "identity", "sku", "eTag", "etag", "extendedLocation", "kind", "systemData", "zones"}

// clusters decodes the fleet, with az aks show's shape moved into ARM's.
func (sc *Scenario) clusters() ([]fleetCluster, error) {
	var out []fleetCluster
	seen := map[string]int{}
	for i, raw := range sc.Fleet {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			return nil, fmt.Errorf("fleet[%d]: not a JSON object: %v", i, err)
		}
		if _, ok := fields["properties"]; !ok {
			props := map[string]json.RawMessage{}
			for k, v := range fields {
				if !slices.Contains(topLevel, k) {
					props[k] = v
					delete(fields, k)
				}
			}
			delete(props, "resourceGroup") // az adds it; ARM has it in the ID
			b, err := json.Marshal(props)
			if err != nil {
				return nil, fmt.Errorf("fleet[%d]: %v", i, err)
			}
			fields["properties"] = b
		}
		var head struct {
			ID string `json:"id"`
		}
		b, err := json.Marshal(fields)
		if err != nil {
			return nil, fmt.Errorf("fleet[%d]: %v", i, err)
		}
		if err := json.Unmarshal(b, &head); err != nil {
			return nil, fmt.Errorf("fleet[%d]: %v", i, err)
		}
		id, err := armid.ParseCluster(head.ID)
		if err != nil {
			return nil, fmt.Errorf("fleet[%d]: id: %v", i, err)
		}
		if j, dup := seen[strings.ToLower(id.Name)]; dup {
			return nil, fmt.Errorf("fleet[%d]: a cluster named %s is fleet[%d] already; steps name clusters by name", i, id.Name, j)
		}
		seen[strings.ToLower(id.Name)] = i
		out = append(out, fleetCluster{name: id.Name, id: id, raw: b})
	}
	return out, nil
}
