// Package settings holds the app settings the aksguard binary reads: their
// names, what each means, and how the ones that shape the guard's decisions
// are read into a guard.Config. serve reads them from the environment;
// simulate and the demo from a scenario file, so an operator rehearses the
// settings they deploy, checked the same way.
package settings

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/redact"
)

// Names of the settings.
const (
	Port          = "FUNCTIONS_CUSTOMHANDLER_PORT"
	TablesURL     = "AKSGUARD_TABLES_ENDPOINT"
	TablesConn    = "AKSGUARD_TABLES_CONNECTION_STRING"
	TablePrefix   = "AKSGUARD_TABLE_PREFIX"
	ServiceBus    = "AKSGUARD_SERVICEBUS__fullyQualifiedNamespace"
	AlertsURL     = "AKSGUARD_ALERTS_ENDPOINT"
	AlertsSource  = "AKSGUARD_ALERTS_SOURCE"
	PrincipalID   = "AKSGUARD_PRINCIPAL_ID"
	ClientID      = "AZURE_CLIENT_ID"
	Debounce      = "AKSGUARD_DEBOUNCE"
	Mode          = "AKSGUARD_MODE"
	EnforceIn     = "AKSGUARD_ENFORCE_SCOPES"
	Approvers     = "AKSGUARD_APPROVERS"
	MaxUpdating   = "AKSGUARD_MAX_UPDATING"
	UserAssigned  = "AKSGUARD_USER_ASSIGNED_IDENTITY"
	RoleScopes    = "AKSGUARD_ROLE_SCOPES"
	NodeImages    = "AKSGUARD_NODE_IMAGE_UPGRADE"
	Propagation   = "AKSGUARD_ROLE_PROPAGATION"
	LogLevel      = "AKSGUARD_LOG_LEVEL"
	RequireWindow = "AKSGUARD_REQUIRE_WINDOW"
	SweepSchedule = "AKSGUARD_SWEEP_SCHEDULE"
	SweepScope    = "AKSGUARD_SWEEP_MANAGEMENT_GROUP"
	SiteName      = "WEBSITE_SITE_NAME"
	Identity      = "IDENTITY_ENDPOINT"
)

// Setting is one app setting the binary reads. docs/reference.md's configuration
// table and local.settings.sample.json list the same names; a test keeps
// them in step.
type Setting struct {
	Name string
	// Required: serve does not start without it.
	Required bool
	// Platform: set by the Functions host or App Service, never by hand.
	Platform bool
	// Guard: it shapes the guard's decisions, so a scenario may set it.
	Guard bool
	About string
}

// All lists every setting the binary reads.
var All = []Setting{
	{Port, true, true, false, "port the handler listens on"},
	{Identity, false, true, false, "present when the app has a managed identity: serve then authenticates with it"},
	{SiteName, false, true, false, "the function app's name, used in the alerts' CloudEvents source"},
	{TablesURL, false, false, false, "Table Storage endpoint, e.g. https://<account>.table.core.windows.net (managed identity); this or " + TablesConn + " is required"},
	{TablesConn, false, false, false, "Table Storage connection string, for Azurite or local runs; overrides " + TablesURL},
	{TablePrefix, false, false, false, "prefix for the table names findings, jobs, audit and kpis (up to 55 letters and digits, starting with a letter)"},
	{ServiceBus, true, false, false, "Service Bus namespace, e.g. <ns>.servicebus.windows.net; also the RemediationJobs trigger's identity-based connection"},
	{AlertsURL, true, false, false, "Event Grid topic endpoint for alerts, https://<topic>.<region>-1.eventgrid.azure.net/api/events"},
	{AlertsSource, false, false, false, "CloudEvents source of alerts; default /aksguard/<" + SiteName + ">"},
	{PrincipalID, true, false, true, "object id of the guard's managed identity: events it caused are ignored"},
	{ClientID, false, false, true, "client id of the guard's user-assigned managed identity (used to authenticate, and its events are ignored); required when that is the app's identity"},
	{Debounce, false, false, true, "how long agent-pool writes after a cluster read are folded into one re-check; default 60s"},
	{Mode, false, false, true, "dry-run (default: plan, record and alert, change nothing) or enforce"},
	{EnforceIn, false, false, true, "comma-separated subscriptions or resource groups (/subscriptions/<id>[/resourceGroups/<name>]) where enforce applies; elsewhere jobs run dry; empty means everywhere"},
	{Approvers, false, false, true, "comma-separated principals whose approvals count: object ids (of users, service principals or Entra groups: members count, through nested groups too), user principal names or application ids; empty allows anyone who may tag the cluster"},
	{MaxUpdating, false, false, true, "how many clusters may be updated at once; default 3"},
	{UserAssigned, false, false, true, "resource ID of the user-assigned identity for clusters that need one (a custom private DNS zone, a network or other resources outside the node resource group) and name none with the aksguard-identity tag"},
	{NodeImages, false, false, true, "skip (default: jobs end kubelet-pending with the commands to run) or enforce (jobs upgrade each pool's node image, one at a time, in the node OS maintenance window, so kubelet moves to its identity)"},
	{RequireWindow, false, false, true, "true: a cluster without a planned maintenance configuration is blocked instead of updated at once; default false"},
	{Propagation, false, false, true, "how long after granting roles to a user-assigned identity the update waits for them to propagate; default 10m (Microsoft: up to 60 minutes)"},
	{RoleScopes, false, false, true, "comma-separated extra subscriptions (/subscriptions/<id>) or management groups where a service principal's role assignments are looked up, besides the cluster's own"},
	{LogLevel, false, false, false, "debug, info (default), warn or error"},
	{SweepSchedule, false, false, false, "NCRONTAB schedule of the Sweep timer, read by the Functions host from functions/Sweep/function.json; the host does not start the app without it; e.g. 0 0 * * * * (hourly)"},
	{SweepScope, false, false, false, "management group (its id) whose subscriptions the sweep lists; empty lists every subscription the guard's identity can read"},
}

// Lookup returns the setting named name.
func Lookup(name string) (Setting, bool) {
	i := slices.IndexFunc(All, func(s Setting) bool { return s.Name == name })
	if i < 0 {
		return Setting{}, false
	}
	return All[i], true
}

// Shapes of the settings that name Azure things.
var (
	scopeRE = regexp.MustCompile(`(?i)^/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(/resourceGroups/[^/]+)?$`)
	roleRE  = regexp.MustCompile(`(?i)^(/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|/providers/Microsoft\.Management/managementGroups/[^/]+)$`)
	upnRE   = regexp.MustCompile(`^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$`)
)

// Guard reads the settings that shape the guard's decisions (those with
// Guard set) into cfg, and returns a line for every one that is set but
// malformed, sorted, so that a caller can name them all at once.
func Guard(getenv func(string) string, cfg *guard.Config) []string {
	var problems []string
	bad := func(name, value, want string) {
		// A connection string put where a name belongs holds a key.
		problems = append(problems, fmt.Sprintf("%s=%q is not %s", name, redact.String(value), want))
	}
	principal, client := strings.TrimSpace(getenv(PrincipalID)), strings.TrimSpace(getenv(ClientID))
	if principal != "" && !armid.IsGUID(principal) {
		bad(PrincipalID, principal, "an object id (a GUID)")
	}
	if client != "" && !armid.IsGUID(client) {
		bad(ClientID, client, "a client id (a GUID)")
	}
	cfg.Self = []string{principal, client}
	if v := getenv(Debounce); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(Debounce, v, "a positive duration such as 60s")
		}
		cfg.Debounce = d
	}
	switch cfg.Mode = guard.Mode(strings.TrimSpace(getenv(Mode))); cfg.Mode {
	case "", guard.ModeDryRun, guard.ModeEnforce:
	default:
		bad(Mode, string(cfg.Mode), "dry-run or enforce")
	}
	cfg.EnforceScopes = List(getenv(EnforceIn))
	for _, v := range cfg.EnforceScopes {
		if !scopeRE.MatchString(v) {
			bad(EnforceIn, v, "/subscriptions/<id> or /subscriptions/<id>/resourceGroups/<name>")
		}
	}
	cfg.Approvers = List(getenv(Approvers))
	for _, v := range cfg.Approvers {
		if !armid.IsGUID(v) && !upnRE.MatchString(v) {
			bad(Approvers, v, "an object id or application id (a GUID) or a user principal name")
		}
	}
	cfg.RoleScopes = List(getenv(RoleScopes))
	for _, v := range cfg.RoleScopes {
		if !roleRE.MatchString(v) {
			bad(RoleScopes, v, "/subscriptions/<id> or /providers/Microsoft.Management/managementGroups/<name>")
		}
	}
	if v := getenv(MaxUpdating); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			bad(MaxUpdating, v, "a positive number")
		}
		cfg.MaxUpdating = n
	}
	switch cfg.NodeImages = guard.NodeImageUpgrade(strings.TrimSpace(getenv(NodeImages))); cfg.NodeImages {
	case "", guard.NodeImagesSkip, guard.NodeImagesEnforce:
	default:
		bad(NodeImages, string(cfg.NodeImages), "skip or enforce")
	}
	switch v := strings.TrimSpace(getenv(RequireWindow)); v {
	case "", "false":
	case "true":
		cfg.RequireWindow = true
	default:
		bad(RequireWindow, v, "true or false")
	}
	if v := getenv(Propagation); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(Propagation, v, "a positive duration such as 10m")
		}
		cfg.Propagation = d
	}
	cfg.UserAssignedIdentity = strings.TrimSpace(getenv(UserAssigned))
	if v := cfg.UserAssignedIdentity; v != "" && armid.CheckUserAssignedIdentity(v) != nil {
		bad(UserAssigned, v, "a user-assigned identity's resource ID")
	}
	slices.Sort(problems)
	return problems
}

// List splits a list setting at commas, semicolons and spaces.
func List(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' })
}
