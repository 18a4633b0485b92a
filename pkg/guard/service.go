package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aksguard/aksguard/pkg/redact"
)

// maxConflicts bounds how often one decision is retried after an ETag
// conflict before the caller is told to try again later.
const maxConflicts = 5

// clockSkew is the margin by which an event's time must follow the last
// evaluation for the event to need a fresh read. Event times come from
// Azure's clocks, evaluation times from ours.
const clockSkew = 5 * time.Second

// Mode says whether approved jobs change clusters.
type Mode string

const (
	// ModeDryRun plans, records and alerts, and changes nothing.
	ModeDryRun Mode = "dry-run"
	// ModeEnforce migrates approved clusters.
	ModeEnforce Mode = "enforce"
)

// Config wires a Service.
type Config struct {
	Clusters  Clusters
	Store     Store
	Queue     Queue
	Alerts    Alerts
	Directory Directory
	Roles     Roles
	// Permissions says what the guard's own identity may do, for the
	// pre-flight before any change.
	Permissions Permissions
	// History is Azure's change history, which says who set a tag.
	History ChangeHistory
	// Inventory finds other clusters that use a service principal, before
	// the guard says to delete it.
	Inventory Inventory
	// Fleet lists every cluster for a sweep; a Service without one cannot
	// sweep.
	Fleet Fleet
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Self lists the guard's own object id and client (application) id:
	// events these principals caused never cause new work.
	Self []string
	// Debounce is how long after an evaluation further agent-pool writes
	// for the same cluster are coalesced into one scheduled re-evaluation
	// (other events are read at once). Default 60s.
	Debounce time.Duration
	// ParkBase and ParkMax bound the back-off of a job waiting for approval.
	// Defaults 15m and 12h.
	ParkBase, ParkMax time.Duration
	// Mode is dry-run unless set to enforce.
	Mode Mode
	// EnforceScopes limits enforce mode to clusters under these resource
	// IDs (subscriptions or resource groups, "/subscriptions/<id>[/resourceGroups/<name>]");
	// jobs elsewhere run dry. Empty means everywhere.
	EnforceScopes []string
	// Approvers lists the principals whose approvals count, by object id,
	// user principal name or application id; empty allows anyone who may
	// tag the cluster.
	Approvers []string
	// MaxUpdating caps the clusters being updated at once. Default 3.
	MaxUpdating int
	// UserAssignedIdentity is the resource ID of the identity for clusters
	// that need a user-assigned one and name none with IdentityTag.
	UserAssignedIdentity string
	// RoleScopes are more scopes (subscriptions) where a service
	// principal's role assignments are looked up, besides the cluster's own
	// subscription.
	RoleScopes []string
	// PollWait bounds how long one invocation polls an AKS operation.
	// Default 20s.
	PollWait time.Duration
	// Propagation is how long to wait after granting roles to a new
	// identity before the update uses them. Default 10m: Microsoft says
	// role assignments can take up to an hour to reach every replica;
	// most take minutes, and a refused call is retried.
	Propagation time.Duration
	// NodeImages says whether jobs run the node image upgrades that move
	// kubelet to its identity. Default NodeImagesSkip.
	NodeImages NodeImageUpgrade
	// RequireWindow blocks a job whose cluster has no planned maintenance
	// configuration, instead of updating it at once.
	RequireWindow bool
	Log           *slog.Logger
}

// Service applies the guard's rules to events and queue messages. It is
// stateless: every fact it needs is re-read from the Store and ARM, so any
// number of instances may run at once.
type Service struct {
	clusters      Clusters
	store         Store
	queue         Queue
	alerts        Alerts
	directory     Directory
	permissions   Permissions
	inventory     Inventory
	fleet         Fleet
	roles         Roles
	history       ChangeHistory
	now           func() time.Time
	self          []string
	debounce      time.Duration
	parkBase      time.Duration
	parkMax       time.Duration
	mode          Mode
	enforceScopes []string
	approvers     []string
	maxUpdating   int
	userAssigned  string
	roleScopes    []string
	pollWait      time.Duration
	propagation   time.Duration
	nodeImages    NodeImageUpgrade
	requireWindow bool
	log           *slog.Logger
}

// New returns a Service, or an error naming what is missing or wrong.
func New(cfg Config) (*Service, error) {
	var missing []string
	for name, ok := range map[string]bool{
		"Clusters": cfg.Clusters != nil, "Store": cfg.Store != nil, "Queue": cfg.Queue != nil,
		"Alerts": cfg.Alerts != nil, "Directory": cfg.Directory != nil, "Roles": cfg.Roles != nil, "Permissions": cfg.Permissions != nil, "Inventory": cfg.Inventory != nil,
		"History": cfg.History != nil,
	} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, errors.New("guard: missing " + strings.Join(missing, ", "))
	}
	s := &Service{
		clusters: cfg.Clusters, store: cfg.Store, queue: cfg.Queue, alerts: cfg.Alerts,
		directory: cfg.Directory, roles: cfg.Roles, history: cfg.History, permissions: cfg.Permissions, inventory: cfg.Inventory, fleet: cfg.Fleet,
		now: cfg.Now, debounce: cfg.Debounce, parkBase: cfg.ParkBase, parkMax: cfg.ParkMax,
		mode: cfg.Mode, enforceScopes: nonEmpty(cfg.EnforceScopes), approvers: nonEmpty(cfg.Approvers),
		maxUpdating: cfg.MaxUpdating, userAssigned: strings.TrimSpace(cfg.UserAssignedIdentity),
		roleScopes: nonEmpty(cfg.RoleScopes), pollWait: cfg.PollWait, propagation: cfg.Propagation,
		self: nonEmpty(cfg.Self), log: redact.Logger(cfg.Log), nodeImages: cfg.NodeImages, requireWindow: cfg.RequireWindow,
	}
	switch s.mode {
	case "":
		s.mode = ModeDryRun
	case ModeDryRun, ModeEnforce:
	default:
		return nil, fmt.Errorf("guard: mode %q is neither %s nor %s", cfg.Mode, ModeDryRun, ModeEnforce)
	}
	switch s.nodeImages {
	case "":
		s.nodeImages = NodeImagesSkip
	case NodeImagesSkip, NodeImagesEnforce:
	default:
		return nil, fmt.Errorf("guard: node image upgrade %q is neither %s nor %s", cfg.NodeImages, NodeImagesSkip, NodeImagesEnforce)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.debounce = positive(s.debounce, time.Minute)
	s.parkBase = positive(s.parkBase, 15*time.Minute)
	s.parkMax = positive(s.parkMax, 12*time.Hour)
	s.pollWait = positive(s.pollWait, 20*time.Second)
	s.propagation = positive(s.propagation, 10*time.Minute)
	if s.maxUpdating <= 0 {
		s.maxUpdating = 3
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

func positive(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// nonEmpty trims the entries of list and drops the empty ones.
func nonEmpty(list []string) []string {
	var out []string
	for _, v := range list {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// enforces reports whether jobs for the cluster may change it.
func (s *Service) enforces(id ClusterID) bool {
	if s.mode != ModeEnforce {
		return false
	}
	if len(s.enforceScopes) == 0 {
		return true
	}
	key := id.Key()
	for _, scope := range s.enforceScopes {
		k := EncodeKey(strings.ToLower(strings.TrimSuffix(scope, "/")))
		if key == k || strings.HasPrefix(key, k+":") {
			return true
		}
	}
	return false
}

// Result names what happened to one event or message.
type Result string

const (
	ResultFlagged   Result = "flagged"         // a finding was opened
	ResultResolved  Result = "resolved"        // a finding was closed: fixed or deleted
	ResultEvaluated Result = "evaluated"       // read and recorded; nothing changed state
	ResultDuplicate Result = "duplicate"       // already handled; nothing read
	ResultCoalesced Result = "coalesced"       // folded into a scheduled re-evaluation
	ResultIgnored   Result = "ignored"         // not the guard's business
	ResultRejected  Result = "rejected"        // invalid input
	ResultFailed    Result = "failed"          // could not be done and retrying will not help
	ResultParked    Result = "parked"          // a job waits for approval
	ResultCancelled Result = "cancelled"       // a job was cancelled
	ResultExempted  Result = "exempted"        // a finding was closed as exempt
	ResultApproval  Result = "approval"        // the approval tag changed
	ResultRetry     Result = "retry-scheduled" // a read failed for now; a later message tries again
	// ResultKubeletPending: the control plane moved; kubelet has yet to.
	ResultKubeletPending Result = "kubelet-pending"
)

// Outcome is the answer for one event or message: counted by the handler,
// logged, and returned to the Functions host.
type Outcome struct {
	Result  Result
	Cluster ClusterID
	JobID   string
	Detail  string
}

// shortHash is a stable, short digest for deterministic identifiers.
func shortHash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// newJobID names the job opened for a cluster flagged at t: sortable by time
// and the same on every retry of the decision.
func newJobID(id ClusterID, t time.Time) string {
	return t.UTC().Format("20060102T150405Z") + "-" + shortHash(id.Key())
}

// auditSeq orders audit entries written by this process at the same
// instant, such as the steps one invocation takes.
var auditSeq atomic.Uint64

// auditKey orders a cluster's audit entries by time, then by the order this
// process wrote them; the hash keeps entries of two processes apart. The key
// is stored with the entry in the outbox, so a retried write reuses it.
func auditKey(t time.Time, parts ...string) string {
	return t.UTC().Format("20060102T150405.000000000Z") + "-" + fmt.Sprintf("%06d", auditSeq.Add(1)%1000000) + "-" + shortHash(parts...)
}

// alertID is the same for every publish of one alert.
func alertID(t AlertType, id ClusterID, at time.Time) string {
	return shortHash(string(t), id.Key(), strconv.FormatInt(at.UnixNano(), 10))
}
