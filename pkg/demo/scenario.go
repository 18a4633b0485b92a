package demo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/containerservice/armcontainerservice/v8"

	"github.com/aksguard/aksguard/pkg/azurefake"
	"github.com/aksguard/aksguard/pkg/guard"
)

const (
	opWrite     = "Microsoft.ContainerService/managedClusters/write"
	opPoolWrite = "Microsoft.ContainerService/managedClusters/agentPools/write"
	opDelete    = "Microsoft.ContainerService/managedClusters/delete"
	opTags      = "Microsoft.Resources/tags/write"
	evWrite     = "Microsoft.Resources.ResourceWriteSuccess"
	evDelete    = "Microsoft.Resources.ResourceDeleteSuccess"
)

// scenario is the story the demo tells.
func (r *run) scenario(ctx context.Context) error {
	ids := r.fleet.IDs()

	r.say(0, "The platform team creates ten AKS clusters in two subscriptions; Event Grid delivers one write event each")
	var creates []event
	for i, id := range ids {
		creates = append(creates, r.event(evWrite, opWrite, id, dana, 0, schema(i%4)))
	}
	if err := r.send(ctx, creates...); err != nil {
		return err
	}

	r.say(5*time.Second, "Event Grid delivers two events again, and node pools are written (CloudEvents this time)")
	payments, reporting := r.id("payments-prod-weu"), r.id("reporting-dev-weu")
	if err := r.send(ctx,
		creates[slices.Index(ids, payments)],
		creates[slices.Index(ids, reporting)],
		r.event(evWrite, opPoolWrite, payments+"/agentPools/system", dana, 5*time.Second, cloudEventObject),
		r.event(evWrite, opPoolWrite, payments+"/agentPools/apps", dana, 6*time.Second, cloudEventString),
	); err != nil {
		return err
	}

	r.say(20*time.Second, "Ravi moves legacy-api-dev-weu to a managed identity by hand (az aks update --enable-managed-identity)")
	legacy := r.id("legacy-api-dev-weu")
	r.update(legacy, func(mc *armcontainerservice.ManagedCluster) {
		mc.Identity = &armcontainerservice.ManagedClusterIdentity{
			Type:        to.Ptr(armcontainerservice.ResourceIdentityTypeSystemAssigned),
			PrincipalID: to.Ptr("4b7e2c1d-9a8f-4e6b-b5c3-2d1f0e9a8b7c"),
		}
		mc.Properties.ServicePrincipalProfile = &armcontainerservice.ManagedClusterServicePrincipalProfile{ClientID: to.Ptr("msi")}
	})
	if err := r.send(ctx, r.event(evWrite, opWrite, legacy, ravi, 20*time.Second, eventGridObject)); err != nil {
		return err
	}

	r.say(30*time.Second, "Noise: the guard's own write, a storage account, and a malformed event")
	if err := r.send(ctx,
		r.event(evWrite, opWrite, r.id("search-prod-weu"), guardMI, 30*time.Second, eventGridObject),
		r.event(evWrite, "Microsoft.Storage/storageAccounts/write",
			"/subscriptions/7081f3a5-4a28-420f-983d-d492b49d20a2/resourceGroups/rg-shared/providers/Microsoft.Storage/storageAccounts/stshared", dana, 30*time.Second, eventGridObject),
	); err != nil {
		return err
	}
	if err := r.sendRaw(ctx, `{"Data":{"event":"{\"id\":\"evt-garbled\",\"eventType\":\"Microsoft.Resources.ResourceWriteSuccess\",\"data\":"},"Metadata":{}}`); err != nil {
		return err
	}

	r.say(45*time.Second, "Dana deletes sandbox-dev-eus")
	sandbox := r.id("sandbox-dev-eus")
	r.fleet.Delete(sandbox)
	if err := r.send(ctx, r.event(evDelete, opDelete, sandbox, dana, 45*time.Second, cloudEventObject)); err != nil {
		return err
	}

	r.say(50*time.Second, "Scheduled messages arrive: the deleted cluster's job is cancelled; a minute after the first reads, "+
		"the coalesced re-checks and the jobs' first wake-ups run")
	if err := r.advance(ctx, 2*time.Minute); err != nil {
		return err
	}
	r.say(5*time.Minute, "Dana approves three clusters with the tag aksguard-remediation=approved and exempts batch-legacy-eus; "+
		"Ravi approves analytics-prod-eus2, but only Dana is on the approver list")
	var approvals []event
	for _, a := range []struct {
		name, value string
		by          person
	}{
		{"payments-prod-weu", "approved", dana}, {"reporting-dev-weu", "approved", dana}, {"checkout-prod-neu", "approved", dana},
		{"batch-legacy-eus", "exempt:decommissioned in 2026-Q2, see CHG0041877", dana}, {"analytics-prod-eus2", "approved", ravi},
	} {
		id := r.id(a.name)
		mc, _ := r.fleet.Cluster(id)
		if mc.Tags == nil {
			mc.Tags = map[string]*string{}
		}
		mc.Tags[guard.ApprovalTag] = to.Ptr(a.value)
		ev := r.event(evWrite, opTags, id+"/providers/Microsoft.Resources/tags/default", a.by, 5*time.Minute, eventGridObject)
		ev.correlation = r.fleet.PutAs(mc, azurefake.Caller{ChangedBy: a.by.upn, Type: azurefake.CallerUser, ClientType: "Azure CLI"},
			azurefake.Write{Operation: opTags})
		approvals = append(approvals, ev)
	}
	if err := r.send(ctx, approvals...); err != nil {
		return err
	}

	r.say(5*time.Minute+10*time.Second, "The approved jobs wake at once and plan: payments-prod-weu (prod, enforce, inside its Friday window) "+
		"is migrated, reporting-dev-weu (non-prod) runs dry, checkout-prod-neu is blocked by its custom private DNS zone")
	if err := r.advance(ctx, 10*time.Minute); err != nil {
		return err
	}
	r.say(10*time.Minute, "Nobody approves billing-prod-weu: over the next hour its job re-checks the approval with back-off")
	return r.advance(ctx, time.Hour+10*time.Minute)
}

// say sets the simulated clock to the step's time and prints its heading.
// Messages fall due only when the scenario calls advance.
func (r *run) say(at time.Duration, what string) {
	if t := start.Add(at); t.After(r.clock.Now()) {
		r.clock.set(t)
	}
	fmt.Fprintf(r.o.Timeline, "\n[%s] %s\n", r.clock.Now().Format("15:04:05"), what)
}

// advance lets simulated time run to start+at, delivering due messages.
func (r *run) advance(ctx context.Context, at time.Duration) error {
	return r.host.runUntil(ctx, start.Add(at), func(t time.Time, m guard.Message, a answer) {
		r.print(t, "RemediationJobs", fmt.Sprintf("%s %s (%s)", m.Kind, m.Cluster.Name, m.Reason), a)
	})
}

func (r *run) event(eventType, op, resource string, by person, at time.Duration, s schema) event {
	r.events++
	return event{id: fmt.Sprintf("evt-%03d", r.events), eventType: eventType, operation: op, resource: resource, by: by,
		at: start.Add(at), schema: s}
}

func (r *run) send(ctx context.Context, evs ...event) error {
	for _, e := range evs {
		env, err := e.envelope()
		if err != nil {
			return err
		}
		a, err := r.host.invoke(ctx, "ClusterEvents", env)
		if err != nil {
			return err
		}
		name := resourceName(e.resource)
		r.print(r.clock.Now(), "ClusterEvents", fmt.Sprintf("%s %s %s by %s", e.id, shortOp(e.operation), name, e.by.display()), a)
	}
	return nil
}

func (r *run) sendRaw(ctx context.Context, env string) error {
	a, err := r.host.invoke(ctx, "ClusterEvents", []byte(env))
	if err != nil {
		return err
	}
	r.print(r.clock.Now(), "ClusterEvents", "a truncated event", a)
	return nil
}

func (r *run) print(t time.Time, function, what string, a answer) {
	status := ""
	if a.status >= 300 {
		status = fmt.Sprintf(" [HTTP %d]", a.status)
	}
	fmt.Fprintf(r.o.Timeline, "  %s %-15s %s%s\n", t.Format("15:04:05"), function, what, status)
	for _, l := range a.logs {
		fmt.Fprintf(r.o.Timeline, "           └ %s\n", trimLog(l))
	}
}

// trimLog drops the message or event id the handler starts its log lines
// with; the demo line above already names it.
func trimLog(l string) string {
	if i := strings.Index(l, ": "); i > 0 && (strings.HasPrefix(l, "event ") || strings.HasPrefix(l, "message ")) {
		return l[i+2:]
	}
	return l
}

func shortOp(op string) string {
	op = strings.TrimPrefix(op, "Microsoft.ContainerService/")
	return strings.TrimPrefix(op, "Microsoft.")
}

// resourceName names the cluster (or other resource) an event is about.
func resourceName(resource string) string {
	resource = strings.TrimSuffix(resource, "/providers/Microsoft.Resources/tags/default")
	return resource[strings.LastIndex(resource, "/")+1:]
}

func (p person) display() string {
	if p.upn != "" {
		return p.name
	}
	return "the guard itself"
}

// id returns the resource ID of the fleet's cluster named name.
func (r *run) id(name string) string {
	for _, id := range r.fleet.IDs() {
		if strings.HasSuffix(strings.ToLower(id), "/"+strings.ToLower(name)) {
			return id
		}
	}
	panic("demo: no cluster named " + name + " in the fleet file")
}

// update changes a cluster in the simulated fleet, as ARM would after a
// PUT by someone else.
func (r *run) update(id string, change func(*armcontainerservice.ManagedCluster)) {
	mc, ok := r.fleet.Cluster(id)
	if !ok {
		panic("demo: no cluster " + id)
	}
	change(&mc)
	r.fleet.Put(mc)
}
