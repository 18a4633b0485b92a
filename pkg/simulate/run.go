package simulate

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/handlers"
	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/memory"
	"github.com/aksguard/aksguard/pkg/report"
	"github.com/aksguard/aksguard/pkg/resourcegraph"
	"github.com/aksguard/aksguard/pkg/settings"
)

// Options tune a run.
type Options struct {
	// Store keeps the records; in memory when nil.
	Store guard.Store
	// Report receives the timeline and the results as they happen; nil
	// prints nothing.
	Report Reporter
	// Log receives the handler's structured logs; discarded when nil.
	Log *slog.Logger
}

// maxRounds bounds the rounds of a run, so a scenario that never settles
// ends with an error instead of running for ever.
const maxRounds = 200000

// runner is one run of a scenario.
type runner struct {
	sc       *Scenario
	o        Options
	az       *azurefake.Azure
	start    time.Time
	clusters []fleetCluster
	byName   map[string]fleetCluster // lower-cased name
	store    guard.Store             // without faults, for the results
	queue    *memory.Queue
	alerts   *memory.Alerts
	base     string
	client   *http.Client

	// mu guards what follows: a before-put step runs on the handler's
	// goroutine while the host waits for its answer.
	mu          sync.Mutex
	deliveries  []delivery
	produced    map[int][]event // the events each step caused
	beforePut   map[string][]int
	events      int
	msgAttempts map[string]int
	dead        []guard.Message
	deadEvents  int
}

// delivery is an event Event Grid will deliver at a time.
type delivery struct {
	at      time.Time
	ev      event
	attempt int
}

// serviceBusWindow is the remediation queue's duplicate-detection window
// as infra/ deploys it (PT1D; see infra/modules/servicebus.bicep).
const serviceBusWindow = 24 * time.Hour

// Run plays the scenario and returns where every cluster ended.
func Run(ctx context.Context, sc *Scenario, o Options) (*Result, error) {
	start, _ := time.Parse(time.RFC3339, defaultStart)
	if sc.Start != nil {
		start = sc.Start.UTC()
	}
	clock := azurefake.NewClock(start)
	r := &runner{sc: sc, o: o, start: start, az: azurefake.New(clock),
		queue: memory.NewQueueWindow(clock.Now, serviceBusWindow), alerts: &memory.Alerts{}, byName: map[string]fleetCluster{},
		produced: map[int][]event{}, beforePut: map[string][]int{}, msgAttempts: map[string]int{}}
	defer r.az.Close()
	if r.o.Report == nil {
		r.o.Report = discard{}
	}
	if r.o.Log == nil {
		r.o.Log = slog.New(slog.DiscardHandler)
	}
	if err := r.build(); err != nil {
		return nil, err
	}
	svc, err := r.guard()
	if err != nil {
		return nil, err
	}
	reports := func(ctx context.Context) (report.Report, error) { return report.Build(ctx, r.store, r.az.Clock.Now()) }
	srv := handlers.New(svc, handlers.Options{Log: r.o.Log, Report: reports})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l, 5*time.Second) }()
	defer func() {
		cancel()
		<-served
	}()
	r.base, r.client = "http://"+l.Addr().String(), &http.Client{Timeout: 5 * time.Minute}
	if err := r.play(ctx); err != nil {
		return nil, err
	}
	res, err := r.results(ctx)
	if err != nil {
		return nil, err
	}
	r.o.Report.Result(res)
	return res, nil
}

// build makes the simulated Azure the scenario describes.
func (r *runner) build() error {
	cs, err := r.sc.clusters()
	if err != nil {
		return err
	}
	r.clusters = cs
	created := map[string]bool{}
	for _, s := range r.sc.Steps {
		if s.Do == doCreate {
			created[strings.ToLower(s.Cluster)] = true
		}
	}
	var present []json.RawMessage
	for _, c := range cs {
		r.byName[strings.ToLower(c.name)] = c
		if !created[strings.ToLower(c.name)] {
			present = append(present, c.raw)
		}
	}
	f := r.az.Fleet
	delay := 2 * time.Minute
	if d := r.sc.Azure.ChangeHistoryDelay; d != nil {
		delay = time.Duration(*d)
	}
	f.SetChangeDelay(delay)
	f.SetTagsKeepETag(r.sc.Azure.TagWritesKeepETag)
	if n := r.sc.Azure.UpdatePolls; n != nil {
		f.SetUpdatePolls(*n)
	}
	f.SetClientIDUntilKubelet(r.sc.Azure.ClientIDUntilKubelet)
	f.SetKubeletAtUpdate(r.sc.Azure.KubeletAtUpdate)
	self := azurefake.Caller{ChangedBy: "aksguard", Type: azurefake.CallerManagedIdentity}
	if id := r.sc.Settings[settings.ClientID]; id != "" {
		self.ChangedBy = id
	}
	f.SetSelf(self)
	b, err := json.Marshal(present)
	if err != nil {
		return err
	}
	if err := f.Load(bytes.NewReader(b)); err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	for name, raws := range r.sc.MaintenanceConfigurations {
		var cfgs []armcontainerservice.MaintenanceConfiguration
		for i, raw := range raws {
			var mc armcontainerservice.MaintenanceConfiguration
			if err := json.Unmarshal(raw, &mc); err != nil || mc.Name == nil {
				return fmt.Errorf("maintenanceConfigurations.%s[%d]: not a maintenance configuration with a name (%v)", name, i, err)
			}
			cfgs = append(cfgs, mc)
		}
		f.SetMaintenanceConfigs(r.byName[strings.ToLower(name)].id.String(), cfgs)
	}
	for _, p := range r.sc.Principals {
		if p.user() {
			r.az.Graph.AddUser(guard.Principal{ObjectID: p.ObjectID, UPN: p.UPN, DisplayName: p.Name}, "")
		} else {
			r.az.Graph.Add(guard.Principal{ObjectID: p.ObjectID, AppID: p.AppID, DisplayName: p.Name})
		}
	}
	for _, sp := range r.sc.ServicePrincipals {
		r.az.Graph.Add(guard.Principal{AppID: sp.AppID, ObjectID: sp.ObjectID, DisplayName: sp.DisplayName})
	}
	for _, mi := range r.sc.ManagedIdentities {
		r.az.Graph.AddManagedIdentity(mi.ResourceID, guard.Principal{ObjectID: mi.ObjectID, AppID: mi.AppID})
	}
	for _, d := range r.sc.RoleDefinitions {
		r.az.RBAC.AddRoleDefinition(guard.RoleDefinition{ID: d.ID, Name: d.Name, Permissions: []guard.PermissionSet{{Actions: d.Actions, NotActions: d.NotActions}}})
	}
	guardID := r.sc.Settings[settings.PrincipalID]
	r.az.RBAC.SetGuard(guardID)
	grants := slices.Clone(r.sc.RoleAssignments)
	for _, g := range r.sc.GuardRoles {
		grants = append(grants, RoleAssignment{PrincipalID: guardID, Role: g.Role, Scope: g.Scope})
	}
	for i, a := range grants {
		def, err := roleDefinition(a.Role, a.Scope)
		if err != nil {
			return fmt.Errorf("roleAssignments[%d]: %w", i, err)
		}
		r.az.RBAC.Add(guard.RoleAssignment{Scope: a.Scope, RoleDefinitionID: def, PrincipalID: a.PrincipalID, PrincipalType: "ServicePrincipal"})
	}
	for name, pools := range r.sc.LatestNodeImages {
		for pool, version := range pools {
			f.SetLatestNodeImage(r.byName[strings.ToLower(name)].id, pool, version)
		}
	}
	for name, state := range r.sc.PolicyStates {
		// Azure Policy evaluates about once a day: the state is from the
		// night before the scenario.
		f.SetPolicyState(r.byName[strings.ToLower(name)].id, azurefake.PolicyState{State: state, At: r.start.Add(-12 * time.Hour)})
	}
	f.BeforePut(r.beforeThePut)
	for i, s := range r.sc.Steps {
		if s.At == beforePut {
			k := strings.ToLower(r.byName[strings.ToLower(s.Cluster)].id.String())
			r.beforePut[k] = append(r.beforePut[k], i)
		}
	}
	return nil
}

// roleDefinition returns the role definition ID a scenario's role names:
// a built-in role's name, a GUID, or an ID.
func roleDefinition(role, scope string) (string, error) {
	if strings.Contains(strings.ToLower(role), "/providers/microsoft.authorization/roledefinitions/") {
		return role, nil
	}
	id := role
	if guard.RoleName(role) == "" && guard.BuiltinRoleID(role) != "" {
		id = guard.BuiltinRoleID(role)
	}
	if len(id) != 36 {
		return "", fmt.Errorf("role %q is neither a built-in role the simulator knows nor a role definition ID", role)
	}
	prefix := ""
	if parts := strings.Split(strings.Trim(scope, "/"), "/"); len(parts) >= 2 && strings.EqualFold(parts[0], "subscriptions") {
		prefix = "/subscriptions/" + parts[1]
	}
	return prefix + "/providers/Microsoft.Authorization/roleDefinitions/" + strings.ToLower(id), nil
}

// guard builds the guard as serve does, from the scenario's settings, on
// the simulated Azure.
func (r *runner) guard() (*guard.Service, error) {
	var cfg guard.Config
	if problems := settings.Guard(func(k string) string { return r.sc.Settings[k] }, &cfg); len(problems) > 0 {
		return nil, fmt.Errorf("settings: %s", strings.Join(problems, "; "))
	}
	store := r.o.Store
	if store == nil {
		store = memory.NewStore()
	}
	r.store = store
	faults := r.az.Faults
	cfg.Clusters, cfg.Store, cfg.Queue, cfg.Alerts = r.az.Fleet.Client(), faults.Store(store), faults.Queue(r.queue), faults.Alerts(r.alerts)
	roles := r.az.RBAC.Client()
	graph := r.az.Fleet.ResourceGraph()
	cfg.Directory, cfg.Roles, cfg.Permissions, cfg.History, cfg.Inventory = r.az.Graph.Client(), roles, roles, graph, graph
	cfg.Fleet = graph.Fleet(resourcegraph.FleetScope{ManagementGroup: r.sc.Settings[settings.SweepScope]}, nil)
	cfg.Now, cfg.PollWait, cfg.Log = r.az.Clock.Now, time.Millisecond, r.o.Log
	return guard.New(cfg)
}

// play runs the steps and delivers events and messages in time order
// until the scenario's end.
func (r *runner) play(ctx context.Context) error {
	var timed []int
	for i, s := range r.sc.Steps {
		if s.At != beforePut {
			timed = append(timed, i)
		}
	}
	at := func(i int) time.Time {
		d, _ := parseDuration(r.sc.Steps[i].At)
		return r.start.Add(d)
	}
	slices.SortStableFunc(timed, func(a, b int) int { return at(a).Compare(at(b)) })
	end := r.start.Add(time.Duration(r.sc.Until))
	// The Reconcile timer fires on the clock's five-minute marks, as its
	// function.json schedule says.
	tick := r.start.Truncate(reconcileEvery).Add(reconcileEvery)
	for range maxRounds {
		next, ok := r.nextDelivery()
		if len(timed) > 0 && (!ok || at(timed[0]).Before(next)) {
			next, ok = at(timed[0]), true
		}
		if qn, qok := r.queue.Next(); qok && (!ok || qn.Before(next)) {
			next, ok = qn, true
		}
		if !ok || tick.Before(next) {
			next, ok = tick, true
		}
		if next.After(end) {
			r.az.Clock.Set(end)
			return nil
		}
		r.az.Clock.Set(next)
		now := r.az.Clock.Now()
		for len(timed) > 0 && !at(timed[0]).After(now) {
			if err := r.apply(ctx, timed[0]); err != nil {
				return err
			}
			timed = timed[1:]
		}
		if !tick.After(now) {
			if err := r.reconcile(ctx); err != nil {
				return err
			}
			tick = tick.Add(reconcileEvery)
		}
		for _, d := range r.dueDeliveries(now) {
			if err := r.deliverEvent(ctx, d); err != nil {
				return err
			}
		}
		for _, m := range r.queue.Due(now) {
			if err := r.deliverMessage(ctx, m); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("the scenario did not settle within %d rounds of deliveries", maxRounds)
}

// beforeThePut runs the before-put steps of the cluster whose PUT reached
// ARM, once each.
func (r *runner) beforeThePut(id guard.ClusterID) {
	k := strings.ToLower(id.String())
	r.mu.Lock()
	steps := r.beforePut[k]
	delete(r.beforePut, k)
	r.mu.Unlock()
	for _, i := range steps {
		// A before-put step never invokes a function (Load checks), so it
		// needs no context of the run's.
		if err := r.apply(context.Background(), i); err != nil {
			r.o.Log.Error("before-put step failed", "step", i, "error", err)
		}
	}
}

// apply makes step i happen and schedules the events it causes.
func (r *runner) apply(ctx context.Context, i int) error {
	s := r.sc.Steps[i]
	now := r.az.Clock.Now()
	r.o.Report.Step(StepLine{Index: i, At: now, Do: s.Do, Cluster: s.Cluster, By: s.By, Say: s.Say})
	f := r.az.Fleet
	switch s.Do {
	case doFault:
		fault := azurefake.Fault{Kind: azurefake.Kind(s.Kind), Count: s.Count}
		if s.For != nil {
			fault.For = time.Duration(*s.For)
		}
		return r.az.Faults.Add(azurefake.Target(s.Target), fault)
	case doRedeliver:
		r.mu.Lock()
		evs := slices.Clone(r.produced[*s.Step])
		r.mu.Unlock()
		r.schedule(i, now, evs...)
		return nil
	case doRawEvent:
		r.schedule(i, now, r.newEvent(event{raw: s.Body, at: now}))
		return nil
	case doSweep:
		return r.sweep(ctx)
	case doAddRole:
		a := s.Assignment
		def, err := roleDefinition(a.Role, a.Scope)
		if err != nil {
			return fmt.Errorf("steps[%d]: %w", i, err)
		}
		r.az.RBAC.Add(guard.RoleAssignment{Scope: a.Scope, RoleDefinitionID: def, PrincipalID: a.PrincipalID, PrincipalType: "ServicePrincipal"})
		return nil
	}
	c := r.byName[strings.ToLower(s.Cluster)]
	by := r.sc.Principals[s.By]
	caller := callerOf(by)
	id := c.id.String()
	ev := event{eventType: evWrite, operation: opClusterWrite, resource: id, by: by, at: now, schema: schemas[s.Schema]}
	switch s.Do {
	case doCreate:
		var mc armcontainerservice.ManagedCluster
		if err := json.Unmarshal(c.raw, &mc); err != nil {
			return fmt.Errorf("steps[%d]: cluster %s: %w", i, s.Cluster, err)
		}
		ev.correlation = f.PutAs(mc, caller, azurefake.Write{})
	case doDelete:
		ev.eventType, ev.operation = evDelete, opClusterDelete
		ev.correlation = f.DeleteAs(id, caller, azurefake.Write{})
		if ev.correlation == "" {
			return fmt.Errorf("steps[%d]: %s: cluster %s does not exist", i, s.Do, s.Cluster)
		}
	case doPoolWrite:
		ev.operation, ev.resource = opPoolWrite, id+"/agentPools/"+s.Pool
	case doNodeImage:
		// az aks nodepool upgrade --node-image-only, by a person.
		if !f.UpgradeNodeImageAs(c.id, s.Pool, caller) {
			return fmt.Errorf("steps[%d]: %s: cluster %s has no pool %s", i, s.Do, s.Cluster, s.Pool)
		}
		ev.operation, ev.resource = opPoolWrite, id+"/agentPools/"+s.Pool
	case doMigrate:
		// az aks update --enable-managed-identity, by a person: the same
		// update the guard's PUT makes.
		ev.correlation = f.MigrateAs(c.id, caller)
		if ev.correlation == "" {
			return fmt.Errorf("steps[%d]: %s: cluster %s cannot be migrated", i, s.Do, s.Cluster)
		}
	default:
		mc, ok := f.Cluster(id)
		if !ok {
			return fmt.Errorf("steps[%d]: %s: cluster %s does not exist", i, s.Do, s.Cluster)
		}
		w := azurefake.Write{}
		switch s.Do {
		case doWrite:
			mergeTags(&mc, s.Tags)
		case doSetTag, doRemoveTag:
			mergeTags(&mc, map[string]string{cmp.Or(s.Key, guard.ApprovalTag): s.Value})
			if s.Via != viaCluster {
				w.Operation, ev.operation, ev.resource = opTagsWrite, opTagsWrite, id+tagsSuffix
			}
		}
		ev.correlation = f.PutAs(mc, caller, w)
	}
	ev = r.newEvent(ev)
	switch {
	case s.Event == "lost":
		r.mu.Lock()
		r.produced[i] = append(r.produced[i], ev)
		r.mu.Unlock()
	case s.Event != "":
		d, _ := parseDuration(s.Event)
		r.schedule(i, now.Add(d), ev)
	default:
		r.schedule(i, now, ev)
	}
	return nil
}

// mergeTags sets tags on mc; an empty value removes the tag. Names compare
// case-insensitively, as ARM's.
func mergeTags(mc *armcontainerservice.ManagedCluster, tags map[string]string) {
	if mc.Tags == nil {
		mc.Tags = map[string]*string{}
	}
	for k, v := range tags {
		for old := range mc.Tags {
			if strings.EqualFold(old, k) {
				delete(mc.Tags, old)
			}
		}
		if v != "" {
			mc.Tags[k] = to.Ptr(v)
		}
	}
}

// callerOf is how Azure's change history names p.
func callerOf(p Principal) azurefake.Caller {
	if p.user() {
		return azurefake.Caller{ChangedBy: p.UPN, Type: azurefake.CallerUser, ClientType: "Azure CLI"}
	}
	return azurefake.Caller{ChangedBy: p.AppID, Type: azurefake.CallerApplication, ClientType: "Azure CLI"}
}

// newEvent numbers an event.
func (r *runner) newEvent(ev event) event {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events++
	ev.id = fmt.Sprintf("evt-%03d", r.events)
	if ev.correlation == "" {
		ev.correlation = fmt.Sprintf("00000000-0000-4000-8000-%012d", r.events)
	}
	return ev
}

// schedule has Event Grid deliver evs at at, as caused by step i.
func (r *runner) schedule(i int, at time.Time, evs ...event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range evs {
		if ev.raw == nil {
			r.produced[i] = append(r.produced[i], ev)
		}
		r.deliveries = append(r.deliveries, delivery{at: at, ev: ev})
	}
}

func (r *runner) nextDelivery() (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.deliveries) == 0 {
		return time.Time{}, false
	}
	next := r.deliveries[0].at
	for _, d := range r.deliveries[1:] {
		if d.at.Before(next) {
			next = d.at
		}
	}
	return next, true
}

// dueDeliveries removes and returns the deliveries due at now, in order.
func (r *runner) dueDeliveries(now time.Time) []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	var due, rest []delivery
	for _, d := range r.deliveries {
		if d.at.After(now) {
			rest = append(rest, d)
		} else {
			due = append(due, d)
		}
	}
	r.deliveries = rest
	slices.SortStableFunc(due, func(a, b delivery) int { return a.at.Compare(b.at) })
	return due
}

// eventGridRetries are the waits before Event Grid delivers an event again
// after a failed delivery; after the last, with 24 hours gone, it gives the
// event up (to its dead-letter destination, when one is set).
var eventGridRetries = []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 10 * time.Minute,
	30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour}

func (r *runner) deliverEvent(ctx context.Context, d delivery) error {
	env, err := d.ev.envelope()
	if err != nil {
		return err
	}
	a, err := r.invoke(ctx, handlers.ClusterEvents, env)
	if err != nil {
		return err
	}
	what := d.ev.id + " " + describe(d.ev)
	r.o.Report.Invocation(InvocationLine{At: r.az.Clock.Now(), Function: handlers.ClusterEvents, What: what, Status: a.status, Logs: a.logs})
	if a.status < 300 {
		return nil
	}
	if d.attempt >= len(eventGridRetries) {
		r.mu.Lock()
		r.deadEvents++
		r.mu.Unlock()
		return nil
	}
	d.at, d.attempt = r.az.Clock.Now().Add(eventGridRetries[d.attempt]), d.attempt+1
	r.mu.Lock()
	r.deliveries = append(r.deliveries, d)
	r.mu.Unlock()
	return nil
}

func describe(ev event) string {
	if ev.raw != nil {
		return "a raw event"
	}
	op := strings.TrimPrefix(strings.TrimPrefix(ev.operation, "Microsoft.ContainerService/"), "Microsoft.")
	res := strings.TrimSuffix(ev.resource, tagsSuffix)
	by := ev.by.UPN
	if by == "" {
		by = "app " + ev.by.AppID
	}
	return op + " " + res[strings.LastIndex(res, "/")+1:] + " by " + by
}

// deliverMessage delivers a queue message as the Service Bus trigger does:
// redelivered at once after a failure, dead-lettered after ten deliveries.
func (r *runner) deliverMessage(ctx context.Context, m guard.Message) error {
	body, err := json.Marshal(m.Body())
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.msgAttempts[m.ID]++
	n := r.msgAttempts[m.ID]
	r.mu.Unlock()
	env, err := json.Marshal(map[string]any{
		"Data": map[string]any{"message": string(body)},
		"Metadata": map[string]any{
			"MessageId":     fmt.Sprintf("%q", m.ID),
			"DeliveryCount": fmt.Sprint(n),
			"Subject":       fmt.Sprintf("%q", m.Kind),
		},
	})
	if err != nil {
		return err
	}
	a, err := r.invoke(ctx, handlers.RemediationJobs, env)
	if err != nil {
		return err
	}
	r.o.Report.Invocation(InvocationLine{At: r.az.Clock.Now(), Function: handlers.RemediationJobs,
		What: fmt.Sprintf("%s %s (%s)", m.Kind, m.Cluster.Name, m.Reason), Status: a.status, Logs: a.logs})
	if a.status < 300 {
		return nil
	}
	if n >= maxDeliveries {
		r.mu.Lock()
		r.dead = append(r.dead, m)
		r.mu.Unlock()
		return nil
	}
	r.queue.Requeue(m)
	return nil
}

// reconcileEvery is the Reconcile timer's period: functions/Reconcile
// fires every five minutes.
const reconcileEvery = 5 * time.Minute

// reconcile fires the Reconcile timer; the timeline shows it when it did
// something or failed.
func (r *runner) reconcile(ctx context.Context) error {
	a, err := r.fireTimer(ctx, handlers.Reconcile)
	if err != nil {
		return err
	}
	var v guard.ReconcileOutcome
	if err := json.Unmarshal(a.value, &v); a.status < 300 && err == nil && v == (guard.ReconcileOutcome{}) {
		return nil
	}
	r.o.Report.Invocation(InvocationLine{At: r.az.Clock.Now(), Function: handlers.Reconcile, What: "timer", Status: a.status, Logs: a.logs})
	return nil
}

// sweep fires the Sweep timer; the timeline always shows it.
func (r *runner) sweep(ctx context.Context) error {
	a, err := r.fireTimer(ctx, handlers.Sweep)
	if err != nil {
		return err
	}
	r.o.Report.Invocation(InvocationLine{At: r.az.Clock.Now(), Function: handlers.Sweep, What: "timer", Status: a.status, Logs: a.logs})
	return nil
}

// fireTimer invokes a timer-triggered function as the host does.
func (r *runner) fireTimer(ctx context.Context, function string) (answer, error) {
	env, err := json.Marshal(map[string]any{"Data": map[string]any{"timer": json.RawMessage(`{"Schedule":{"AdjustForDST":true},"IsPastDue":false}`)},
		"Metadata": map[string]any{"sys": map[string]any{"MethodName": function}}})
	if err != nil {
		return answer{}, err
	}
	return r.invoke(ctx, function, env)
}

// maxDeliveries is a Service Bus queue's default max delivery count.
const maxDeliveries = 10

// answer is the handler's response to one invocation.
type answer struct {
	status int
	logs   []string
	value  json.RawMessage
}

func (r *runner) invoke(ctx context.Context, function string, body []byte) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+"/"+function, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Azure-Functions-InvocationId", fmt.Sprintf("sim-%d", time.Now().UnixNano()))
	resp, err := r.client.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("invoke %s: %w", function, err)
	}
	defer resp.Body.Close()
	var out struct {
		Logs        []string        `json:"Logs"`
		ReturnValue json.RawMessage `json:"ReturnValue"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return answer{}, fmt.Errorf("invoke %s: answer is not JSON: %w", function, err)
	}
	return answer{status: resp.StatusCode, logs: out.Logs, value: out.ReturnValue}, nil
}
