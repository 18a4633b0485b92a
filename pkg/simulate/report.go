package simulate

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aksguard/aksguard/pkg/guard"
)

// Result is where every cluster of the fleet ended, and what the run cost.
type Result struct {
	Clusters []ClusterResult `json:"clusters"`
	Totals   Totals          `json:"totals"`
	// Trails are the clusters' audit trails, by name.
	Trails map[string][]guard.AuditEntry `json:"-"`
	// KPIs are the last sweep's figures; nil when no sweep ran.
	KPIs *guard.KPIs `json:"kpis,omitempty"`
}

// ClusterResult is one cluster's end state.
type ClusterResult struct {
	Name      string `json:"name"`
	ClusterID string `json:"clusterId"`
	Verdict   string `json:"verdict"`
	Finding   string `json:"finding"`
	Job       string `json:"job"`
	// Approval is the recorded status of the approval tag: approved,
	// rejected, invalid, removed, pending, unverified or exempt; empty when
	// never seen.
	Approval string `json:"approval"`
	// ApprovedBy is the object id of the principal credited with setting
	// the tag.
	ApprovedBy string `json:"approvedBy"`
	// Puts counts identity updates AKS accepted.
	Puts   int     `json:"puts"`
	Grants []Grant `json:"grants"`
	// NodeImageUpgrades counts the node image upgrades the guard ran.
	NodeImageUpgrades int `json:"nodeImageUpgrades"`
	// KubeletOnServicePrincipal are the pools whose kubelet still uses the
	// service principal, as AKS knows (no API shows it).
	KubeletOnServicePrincipal []string `json:"kubeletOnServicePrincipal,omitempty"`
	// Outcome is the job's outcome in words.
	Outcome string `json:"outcome,omitempty"`
}

// Grant is a role assignment the guard made.
type Grant struct {
	// Role is the built-in role's name, or the role definition ID.
	Role  string `json:"role"`
	Scope string `json:"scope"`
	// To is control-plane, kubelet or addon:<name>.
	To string `json:"to"`
}

// Totals are what the run cost.
type Totals struct {
	// ARMReads counts cluster GETs sent to ARM.
	ARMReads int `json:"armReads"`
	// Puts counts identity updates AKS accepted (a PUT refused is not one).
	Puts int `json:"puts"`
	// Messages counts queue messages accepted (duplicates dropped).
	Messages int `json:"messages"`
	// DeadLettered counts queue messages Service Bus gave up on.
	DeadLettered int `json:"deadLettered"`
	// EventsDeadLettered counts events Event Grid gave up on.
	EventsDeadLettered int `json:"eventsDeadLettered"`
	// Alerts counts alerts by type.
	Alerts map[string]int `json:"alerts"`
	// StrandedJobs counts jobs neither finished nor holding a pending
	// wake-up.
	StrandedJobs int `json:"strandedJobs"`
}

// results reads where the run left every cluster.
func (r *runner) results(ctx context.Context) (*Result, error) {
	res := &Result{Trails: map[string][]guard.AuditEntry{}, Totals: Totals{Alerts: map[string]int{}}}
	jobs, err := r.store.Jobs(ctx)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	f := r.az.Fleet
	grantees := map[string]string{} // principal id → "name|to"
	for _, c := range r.clusters {
		mc, ok := f.Cluster(c.id.String())
		if !ok {
			continue
		}
		note := func(p *string, to string) {
			if p != nil && *p != "" {
				grantees[strings.ToLower(*p)] = c.name + "|" + to
			}
		}
		if mi := mc.Identity; mi != nil {
			note(mi.PrincipalID, "control-plane")
			for _, u := range mi.UserAssignedIdentities {
				if u != nil {
					note(u.PrincipalID, "control-plane")
				}
			}
		}
		if mc.Properties != nil {
			if k := mc.Properties.IdentityProfile["kubeletidentity"]; k != nil {
				note(k.ObjectID, "kubelet")
			}
			for name, a := range mc.Properties.AddonProfiles {
				if a != nil && a.Identity != nil {
					note(a.Identity.ObjectID, "addon:"+name)
				}
			}
		}
	}
	for _, j := range jobs {
		if j.Plan != nil && j.Plan.TargetPrincipal != nil {
			grantees[strings.ToLower(j.Plan.TargetPrincipal.ObjectID)] = j.Cluster.Name + "|control-plane"
		}
	}
	grants := map[string][]Grant{}
	for _, a := range r.az.RBAC.Created() {
		who, ok := grantees[strings.ToLower(a.PrincipalID)]
		if !ok {
			continue
		}
		name, to, _ := strings.Cut(who, "|")
		role := cmp.Or(guard.RoleName(a.RoleDefinitionID), a.RoleDefinitionID)
		grants[strings.ToLower(name)] = append(grants[strings.ToLower(name)], Grant{Role: role, Scope: a.Scope, To: to})
	}
	for _, c := range r.clusters {
		cr := ClusterResult{Name: c.name, ClusterID: c.id.String(), Finding: "none", Job: "none", Puts: f.Accepted(c.id.String()),
			Grants: grants[strings.ToLower(c.name)], NodeImageUpgrades: f.NodeImageUpgrades(c.id), KubeletOnServicePrincipal: f.KubeletOnServicePrincipal(c.id)}
		if cr.Grants == nil {
			cr.Grants = []Grant{}
		}
		fd, err := r.store.Finding(ctx, c.id)
		switch {
		case guard.KindOf(err) == guard.KindNotFound:
		case err != nil:
			return nil, fmt.Errorf("read the finding of %s: %w", c.name, err)
		default:
			cr.Verdict, cr.Finding = string(fd.Verdict), string(fd.State)
			if a := fd.Approval; a != nil {
				cr.Approval, cr.ApprovedBy = string(a.Status), a.By.ObjectID
			}
			if i := slices.IndexFunc(jobs, func(j guard.Job) bool { return j.ID == fd.JobID && j.Cluster.Same(c.id) }); i >= 0 {
				cr.Job, cr.Outcome = string(jobs[i].State), jobs[i].Outcome
			}
		}
		trail, err := r.store.Audit(ctx, c.id)
		if err != nil {
			return nil, fmt.Errorf("read the audit trail of %s: %w", c.name, err)
		}
		res.Trails[c.name] = trail
		res.Clusters = append(res.Clusters, cr)
		res.Totals.Puts += cr.Puts
	}
	slices.SortFunc(res.Clusters, func(a, b ClusterResult) int { return strings.Compare(a.Name, b.Name) })
	pending := r.queue.Pending()
	for _, j := range jobs {
		waking := slices.ContainsFunc(pending, func(m guard.Message) bool { return m.JobID == j.ID && m.Cluster.Same(j.Cluster) })
		if !j.State.Terminal() && !waking {
			res.Totals.StrandedJobs++
		}
	}
	for _, a := range r.alerts.Published() {
		res.Totals.Alerts[string(a.Type)]++
	}
	res.Totals.ARMReads = f.Calls("Get")
	res.Totals.Messages = len(r.queue.Sent())
	r.mu.Lock()
	res.Totals.DeadLettered, res.Totals.EventsDeadLettered = len(r.dead), r.deadEvents
	r.mu.Unlock()
	hist, err := r.store.KPIHistory(ctx, r.start)
	if err != nil {
		return nil, fmt.Errorf("read the KPIs: %w", err)
	}
	if len(hist) > 0 {
		res.KPIs = &hist[len(hist)-1]
	}
	return res, nil
}

// StepLine is a step as it happens.
type StepLine struct {
	Index   int       `json:"index"`
	At      time.Time `json:"at"`
	Do      string    `json:"do"`
	Cluster string    `json:"cluster,omitempty"`
	By      string    `json:"by,omitempty"`
	Say     string    `json:"say,omitempty"`
}

// InvocationLine is one invocation of the handler and its answer.
type InvocationLine struct {
	At       time.Time `json:"at"`
	Function string    `json:"function"`
	What     string    `json:"what"`
	Status   int       `json:"status"`
	Logs     []string  `json:"logs,omitempty"`
}

// Reporter receives a run as it happens, then its result. Its methods may
// be called from several goroutines, one at a time.
type Reporter interface {
	Step(StepLine)
	Invocation(InvocationLine)
	Result(*Result)
}

type discard struct{}

func (discard) Step(StepLine)             {}
func (discard) Invocation(InvocationLine) {}
func (discard) Result(*Result)            {}

// JSONLines reports one JSON object per line: {"step": …} and
// {"invocation": …} as they happen, then one {"cluster": …} per cluster
// and {"totals": …}. Write errors end the report; Err returns the first.
type JSONLines struct {
	mu  sync.Mutex
	enc *json.Encoder
	err error
}

// NewJSONLines reports to w.
func NewJSONLines(w io.Writer) *JSONLines { return &JSONLines{enc: json.NewEncoder(w)} }

func (j *JSONLines) emit(key string, v any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err == nil {
		j.err = j.enc.Encode(map[string]any{key: v})
	}
}

func (j *JSONLines) Step(s StepLine)             { j.emit("step", s) }
func (j *JSONLines) Invocation(i InvocationLine) { j.emit("invocation", i) }
func (j *JSONLines) Result(res *Result) {
	for _, c := range res.Clusters {
		j.emit("cluster", c)
	}
	j.emit("totals", res.Totals)
	if res.KPIs != nil {
		j.emit("kpis", res.KPIs)
	}
}

// Err returns the first write error.
func (j *JSONLines) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// Text reports for people: the timeline, then a table of the clusters, the
// audit trail of those named in Trails, and the totals.
type Text struct {
	mu sync.Mutex
	w  io.Writer
	// Trails names clusters whose audit trail is printed at the end.
	Trails []string
}

// NewText reports to w.
func NewText(w io.Writer, trails ...string) *Text { return &Text{w: w, Trails: trails} }

const clock = "Mon 15:04:05"

func (t *Text) Step(s StepLine) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.Say != "" {
		fmt.Fprintf(t.w, "\n[%s] %s\n", s.At.Format(clock), s.Say)
	}
	what := s.Do
	if s.Cluster != "" {
		what += " " + s.Cluster
	}
	if s.By != "" {
		what += " by " + s.By
	}
	fmt.Fprintf(t.w, "  %s %-15s %s\n", s.At.Format(clock), fmt.Sprintf("steps[%d]", s.Index), what)
}

func (t *Text) Invocation(i InvocationLine) {
	t.mu.Lock()
	defer t.mu.Unlock()
	status := ""
	if i.Status >= 300 {
		status = fmt.Sprintf(" [HTTP %d]", i.Status)
	}
	fmt.Fprintf(t.w, "  %s %-15s %s%s\n", i.At.Format(clock), i.Function, i.What, status)
	for _, l := range i.Logs {
		fmt.Fprintf(t.w, "               └ %s\n", trimLog(l))
	}
}

// trimLog drops the message or event id the handler starts its log lines
// with; the line above names it.
func trimLog(l string) string {
	if i := strings.Index(l, ": "); i > 0 && (strings.HasPrefix(l, "event ") || strings.HasPrefix(l, "message ")) {
		return l[i+2:]
	}
	return l
}

func (t *Text) Result(res *Result) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintln(t.w, "\nClusters")
	tw := tabwriter.NewWriter(t.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  CLUSTER\tVERDICT\tFINDING\tJOB\tAPPROVAL\tPUTS\tGRANTS\tKUBELET ON SP\tOUTCOME")
	for _, c := range res.Clusters {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", c.Name, cmp.Or(c.Verdict, "-"), c.Finding, c.Job, cmp.Or(c.Approval, "-"), c.Puts, len(c.Grants),
			cmp.Or(strings.Join(c.KubeletOnServicePrincipal, ","), "-"), c.Outcome)
	}
	tw.Flush()
	for _, name := range t.Trails {
		fmt.Fprintf(t.w, "\nAudit trail of %s\n", name)
		for _, e := range res.Trails[name] {
			fmt.Fprintf(t.w, "  %s  %-20s %-28s %s\n", e.At.Format(clock), e.Action, e.Actor, e.Detail)
		}
	}
	tot := res.Totals
	var alerts []string
	for _, k := range slices.Sorted(maps.Keys(tot.Alerts)) {
		alerts = append(alerts, fmt.Sprintf("%s×%d", strings.TrimPrefix(k, "aksguard."), tot.Alerts[k]))
	}
	fmt.Fprintf(t.w, "\nTotals: %d ARM cluster reads; %d cluster updates (PUT); %d queue messages; %d dead-lettered messages, %d dead-lettered events; %d stranded jobs\n",
		tot.ARMReads, tot.Puts, tot.Messages, tot.DeadLettered, tot.EventsDeadLettered, tot.StrandedJobs)
	fmt.Fprintf(t.w, "Alerts: %s\n", strings.Join(alerts, ", "))
}
