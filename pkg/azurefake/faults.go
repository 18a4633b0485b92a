package azurefake

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Target names a group of calls that a fault fails, in the words of
// simulate's scenario files.
type Target string

const (
	Tables        Target = "tables"         // Table Storage: the guard's records
	Queue         Target = "queue"          // Service Bus: the remediation queue
	Alerts        Target = "alerts"         // Event Grid: the alerts topic
	ARMRead       Target = "arm-read"       // reads of clusters and their maintenance configurations
	ARMPut        Target = "arm-put"        // the PUT that updates a cluster's identity
	GraphAPI      Target = "graph"          // Microsoft Graph
	ChangeHistory Target = "change-history" // Azure Resource Graph's resourcechanges
	Roles         Target = "roles"          // role assignments: list and create
)

// targets maps each target to the SDK operations (or, for the services the
// guard reaches through its own ports, the port's name) it covers.
var targets = map[Target][]string{
	Tables:        {"tables"},
	Queue:         {"queue"},
	Alerts:        {"alerts"},
	ARMRead:       {getCluster, listMaintenanceConfigs},
	ARMPut:        {beginCreateOrUpdate},
	GraphAPI:      {graphMethod},
	ChangeHistory: {resourcesMethod},
	Roles:         {"RoleAssignmentsClient.Create", "RoleAssignmentsClient.NewListForScopePager"},
}

// Targets lists the targets a fault can name, sorted.
func Targets() []string {
	out := make([]string, 0, len(targets))
	for t := range targets {
		out = append(out, string(t))
	}
	slices.Sort(out)
	return out
}

// Kind is what goes wrong.
type Kind string

const (
	// Unavailable: the service answers 503 ServiceUnavailable.
	Unavailable Kind = "unavailable"
	// Throttled: the service answers 429 with Retry-After.
	Throttled Kind = "throttled"
	// Forbidden: the service refuses the caller (403).
	Forbidden Kind = "forbidden"
	// LostAnswer: the service does what it was asked, and its answer is
	// lost on the way back: the caller sees a network error.
	LostAnswer Kind = "lost-answer"
	// OperationFailed: ARM accepts the PUT and the AKS operation it starts
	// fails (arm-put only).
	OperationFailed Kind = "operation-failed"
)

// Kinds lists the kinds of fault, in the order they are documented.
func Kinds() []string {
	return []string{string(Unavailable), string(Throttled), string(Forbidden), string(LostAnswer), string(OperationFailed)}
}

// ThrottleWait is the Retry-After of a Throttled fault.
const ThrottleWait = 30 * time.Second

// Fault fails calls to one target: the next Count calls, or every call for
// For from when it is added. Faults on one target at once combine: an
// OperationFailed and a LostAnswer fault on the same PUT make an update
// that fails and whose answer is lost.
type Fault struct {
	Kind  Kind
	Count int
	For   time.Duration
}

// failure is one injected failure, queued for the calls of one or more
// methods; a Fault for a target with several methods shares one failure
// among them, so its Count counts calls to any of them.
type failure struct {
	kind       Kind
	status     int    // for a refusal; 0 takes the kind's
	code       string // for a refusal; "" takes the kind's
	retryAfter time.Duration
	left       int       // calls it still fails; unused when until is set
	until      time.Time // timed: every call before it fails
}

// refuses reports whether the failure answers instead of serving the call.
func (f *failure) refuses() bool {
	return f.kind != LostAnswer && f.kind != OperationFailed
}

// Faults holds the failures injected into the simulated services and counts
// every call they serve. It is the one place faults are asked for and
// taken; the services consult it for each call. It is safe for concurrent
// use.
type Faults struct {
	mu      sync.Mutex
	now     func() time.Time
	pending map[string][]*failure // by method, oldest first
	calls   map[string]int        // by method
}

// NewFaults returns Faults on the clock now (time.Now when nil), which
// times the faults added with For.
func NewFaults(now func() time.Time) *Faults {
	if now == nil {
		now = time.Now
	}
	return &Faults{now: now, pending: map[string][]*failure{}, calls: map[string]int{}}
}

// Add fails calls to target as f says. It fails when the target or kind is
// unknown, the kind makes no sense for the target, or f names neither a
// positive Count nor a positive For.
func (fs *Faults) Add(target Target, f Fault) error {
	methods, ok := targets[target]
	if !ok {
		return fmt.Errorf("unknown fault target %q (want one of %s)", target, strings.Join(Targets(), ", "))
	}
	switch f.Kind {
	case Unavailable, Throttled, Forbidden, LostAnswer:
	case OperationFailed:
		if target != ARMPut {
			return fmt.Errorf("fault kind %q applies to target %q only", f.Kind, ARMPut)
		}
	default:
		return fmt.Errorf("unknown fault kind %q (want one of %s)", f.Kind, strings.Join(Kinds(), ", "))
	}
	fl := &failure{kind: f.Kind}
	if f.Kind == Throttled {
		fl.retryAfter = ThrottleWait
	}
	switch {
	case f.Count > 0 && f.For > 0:
		return fmt.Errorf("a fault names a count or a duration (for), not both")
	case f.Count > 0:
		fl.left = f.Count
	case f.For > 0:
		fs.mu.Lock()
		fl.until = fs.now().Add(f.For)
		fs.mu.Unlock()
	default:
		return fmt.Errorf("a fault needs a positive count or duration (for)")
	}
	fs.queue(fl, methods...)
	return nil
}

// failNext makes the next n calls of method fail with the HTTP status and
// service error code, after the failures already asked for.
func (fs *Faults) failNext(method string, n, status int, code string, retryAfter time.Duration) {
	if n <= 0 {
		return
	}
	fs.queue(&failure{kind: Unavailable, status: status, code: code, retryAfter: retryAfter, left: n}, method)
}

func (fs *Faults) queue(fl *failure, methods ...string) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, m := range methods {
		fs.pending[m] = append(fs.pending[m], fl)
	}
}

// outcome is what the faults make of one call: refused with a failure,
// or served, maybe with its answer lost or the operation it starts
// failing.
type outcome struct {
	refuse *failure
	lose   bool
	failOp *failure
}

// take counts one call of method and returns what the faults make of it.
// A refusal takes the oldest refusing failure; a lost answer and a failing
// operation combine with each other. A counted failure is used up by the
// calls it applies to.
func (fs *Faults) take(method string) outcome {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.calls[method]++
	now := fs.now()
	var o outcome
	use := func(f *failure) {
		if f.until.IsZero() {
			f.left--
		}
	}
	for _, f := range fs.pending[method] {
		if !f.live(now) {
			continue
		}
		switch {
		case f.refuses() && o.refuse == nil:
			o.refuse = f
			use(f)
		case f.kind == LostAnswer && !o.lose:
			o.lose = true
			use(f)
		case f.kind == OperationFailed && o.failOp == nil:
			o.failOp = f
			use(f)
		}
	}
	fs.pending[method] = slices.DeleteFunc(fs.pending[method], func(f *failure) bool { return !f.live(now) })
	if len(fs.pending[method]) == 0 {
		delete(fs.pending, method)
	}
	return o
}

// live reports whether f fails a call made at now.
func (f *failure) live(now time.Time) bool {
	if !f.until.IsZero() {
		return now.Before(f.until)
	}
	return f.left > 0
}

// Calls returns how many calls of method the services have served, failed
// ones included.
func (fs *Faults) Calls(method string) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.calls[method]
}

// Pending reports whether any fault may still fail a call of target.
func (fs *Faults) Pending(target Target) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	now := fs.now()
	for _, m := range targets[target] {
		for _, f := range fs.pending[m] {
			if f.live(now) {
				return true
			}
		}
	}
	return false
}

// statusOf returns the HTTP status and error code a refusing failure
// answers with on an ARM-style API: its own, or its kind's.
func (f *failure) statusOf(forbiddenCode string) (int, string) {
	if f.status != 0 {
		return f.status, f.code
	}
	switch f.kind {
	case Throttled:
		return http.StatusTooManyRequests, "TooManyRequests"
	case Forbidden:
		return http.StatusForbidden, forbiddenCode
	}
	return http.StatusServiceUnavailable, "ServiceUnavailable"
}

// lostAnswer is the error a caller sees when the answer to its request is
// lost: the connection dropped after the request was served. It is
// non-retriable, so the SDK gives it back instead of repeating the request,
// as a retry policy that did repeat it would then be answered for the
// second request.
type lostAnswer struct{ method string }

func (e lostAnswer) Error() string {
	return "simulated network failure: the answer to " + e.method + " was lost after the service handled it"
}

func (lostAnswer) NonRetriable() {}
