package guard

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// maxConflicts bounds how often one decision is retried after an ETag
// conflict before the caller is told to try again later.
const maxConflicts = 5

// clockSkew is the margin by which an event's time must follow the last
// evaluation for the event to need a fresh read. Event times come from
// Azure's clocks, evaluation times from ours.
const clockSkew = 5 * time.Second

// Config wires a Service.
type Config struct {
	Clusters Clusters
	Store    Store
	Queue    Queue
	Alerts   Alerts
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Self lists the guard's own object id and client (application) id:
	// events these principals caused never cause new work.
	Self []string
	// Debounce is how long after an evaluation further events for the same
	// cluster are coalesced into one scheduled re-evaluation. Default 60s.
	Debounce time.Duration
	// ParkBase and ParkMax bound the back-off of a job waiting for approval.
	// Defaults 15m and 12h.
	ParkBase, ParkMax time.Duration
	Log               *slog.Logger
}

// Service applies the guard's rules to events and queue messages. It is
// stateless: every fact it needs is re-read from the Store and ARM, so any
// number of instances may run at once.
type Service struct {
	clusters Clusters
	store    Store
	queue    Queue
	alerts   Alerts
	now      func() time.Time
	self     []string
	debounce time.Duration
	parkBase time.Duration
	parkMax  time.Duration
	log      *slog.Logger
}

// New returns a Service, or an error naming the missing dependency.
func New(cfg Config) (*Service, error) {
	var missing []string
	if cfg.Clusters == nil {
		missing = append(missing, "Clusters")
	}
	if cfg.Store == nil {
		missing = append(missing, "Store")
	}
	if cfg.Queue == nil {
		missing = append(missing, "Queue")
	}
	if cfg.Alerts == nil {
		missing = append(missing, "Alerts")
	}
	if len(missing) > 0 {
		return nil, errors.New("guard: missing " + strings.Join(missing, ", "))
	}
	s := &Service{
		clusters: cfg.Clusters, store: cfg.Store, queue: cfg.Queue, alerts: cfg.Alerts,
		now: cfg.Now, debounce: cfg.Debounce, parkBase: cfg.ParkBase, parkMax: cfg.ParkMax, log: cfg.Log,
	}
	for _, id := range cfg.Self {
		if id = strings.TrimSpace(id); id != "" {
			s.self = append(s.self, id)
		}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.debounce <= 0 {
		s.debounce = time.Minute
	}
	if s.parkBase <= 0 {
		s.parkBase = 15 * time.Minute
	}
	if s.parkMax <= 0 {
		s.parkMax = 12 * time.Hour
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Result names what happened to one event or message.
type Result string

const (
	ResultFlagged   Result = "flagged"   // a finding was opened
	ResultResolved  Result = "resolved"  // a finding was closed: fixed or deleted
	ResultEvaluated Result = "evaluated" // read and recorded; nothing changed state
	ResultDuplicate Result = "duplicate" // already handled; nothing read
	ResultCoalesced Result = "coalesced" // folded into a scheduled re-evaluation
	ResultIgnored   Result = "ignored"   // not the guard's business
	ResultRejected  Result = "rejected"  // invalid input
	ResultFailed    Result = "failed"    // could not be done and retrying will not help
	ResultParked    Result = "parked"    // a job waits for approval
	ResultCancelled Result = "cancelled" // a job was cancelled
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

// auditKey orders a cluster's audit entries by time; the hash keeps two
// decisions in the same nanosecond apart.
func auditKey(t time.Time, parts ...string) string {
	return t.UTC().Format("20060102T150405.000000000Z") + "-" + shortHash(parts...)
}

// alertID is the same for every publish of one alert.
func alertID(t AlertType, id ClusterID, at time.Time) string {
	return shortHash(string(t), id.Key(), strconv.FormatInt(at.UnixNano(), 10))
}
