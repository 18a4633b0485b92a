package main

import (
	"cmp"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/aksguard/aksguard/pkg/armid"
	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/tablestore"
)

// setting is one app setting the code reads. The README's configuration
// table and local.settings.sample.json list the same names; a test keeps
// them in step.
type setting struct {
	name     string
	required bool // for serve
	platform bool // set by the Functions host or App Service, never by hand
	about    string
}

// Settings read by the binary.
const (
	envPort         = "FUNCTIONS_CUSTOMHANDLER_PORT"
	envTablesURL    = "AKSGUARD_TABLES_ENDPOINT"
	envTablesConn   = "AKSGUARD_TABLES_CONNECTION_STRING"
	envTablePrefix  = "AKSGUARD_TABLE_PREFIX"
	envServiceBus   = "AKSGUARD_SERVICEBUS__fullyQualifiedNamespace"
	envAlertsURL    = "AKSGUARD_ALERTS_ENDPOINT"
	envAlertsSource = "AKSGUARD_ALERTS_SOURCE"
	envPrincipalID  = "AKSGUARD_PRINCIPAL_ID"
	envClientID     = "AZURE_CLIENT_ID"
	envDebounce     = "AKSGUARD_DEBOUNCE"
	envMode         = "AKSGUARD_MODE"
	envEnforceIn    = "AKSGUARD_ENFORCE_SCOPES"
	envApprovers    = "AKSGUARD_APPROVERS"
	envMaxUpdating  = "AKSGUARD_MAX_UPDATING"
	envUserAssigned = "AKSGUARD_USER_ASSIGNED_IDENTITY"
	envRoleScopes   = "AKSGUARD_ROLE_SCOPES"
	envLogLevel     = "AKSGUARD_LOG_LEVEL"
	envSiteName     = "WEBSITE_SITE_NAME"
	envIdentity     = "IDENTITY_ENDPOINT"
)

// queueName is the Service Bus queue; functions/RemediationJobs/function.json
// names the same queue.
const queueName = "remediation-jobs"

var settings = []setting{
	{envPort, true, true, "port the handler listens on"},
	{envIdentity, false, true, "present when the app has a managed identity: serve then authenticates with it"},
	{envSiteName, false, true, "the function app's name, used in the alerts' CloudEvents source"},
	{envTablesURL, false, false, "Table Storage endpoint, e.g. https://<account>.table.core.windows.net (managed identity); this or " + envTablesConn + " is required"},
	{envTablesConn, false, false, "Table Storage connection string, for Azurite or local runs; overrides " + envTablesURL},
	{envTablePrefix, false, false, "prefix for the table names findings, jobs and audit (up to 55 letters and digits, starting with a letter)"},
	{envServiceBus, true, false, "Service Bus namespace, e.g. <ns>.servicebus.windows.net; also the RemediationJobs trigger's identity-based connection"},
	{envAlertsURL, true, false, "Event Grid topic endpoint for alerts, https://<topic>.<region>-1.eventgrid.azure.net/api/events"},
	{envAlertsSource, false, false, "CloudEvents source of alerts; default /aksguard/<" + envSiteName + ">"},
	{envPrincipalID, true, false, "object id of the guard's managed identity: events it caused are ignored"},
	{envClientID, false, false, "client id of the guard's user-assigned managed identity (used to authenticate, and its events are ignored); required when that is the app's identity"},
	{envDebounce, false, false, "how long agent-pool writes after a cluster read are folded into one re-check; default 60s"},
	{envMode, false, false, "dry-run (default: plan, record and alert, change nothing) or enforce"},
	{envEnforceIn, false, false, "comma-separated subscriptions or resource groups (/subscriptions/<id>[/resourceGroups/<name>]) where enforce applies; elsewhere jobs run dry; empty means everywhere"},
	{envApprovers, false, false, "comma-separated object ids whose approvals count; empty allows anyone who may tag the cluster"},
	{envMaxUpdating, false, false, "how many clusters may be updated at once; default 3"},
	{envUserAssigned, false, false, "resource ID of the user-assigned identity for clusters with a custom private DNS zone that name none with the aksguard-identity tag"},
	{envRoleScopes, false, false, "comma-separated extra subscriptions (/subscriptions/<id>) where a service principal's role assignments are looked up, besides the cluster's own"},
	{envLogLevel, false, false, "debug, info (default), warn or error"},
}

// config is what serve needs, read from app settings.
type config struct {
	port         string
	tablesURL    string
	tablesConn   string
	tablePrefix  string
	serviceBus   string
	alertsURL    string
	alertsSource string
	self         []string
	clientID     string
	debounce     time.Duration
	logLevel     slog.Level
	inAzure      bool
	mode         guard.Mode
	enforceIn    []string
	approvers    []string
	maxUpdating  int
	userAssigned string
	roleScopes   []string
}

// loadConfig reads and checks the settings serve needs. Its error lists
// every missing or malformed setting at once.
func loadConfig(getenv env) (config, error) {
	c := config{
		port:         getenv(envPort),
		tablesURL:    getenv(envTablesURL),
		tablesConn:   getenv(envTablesConn),
		tablePrefix:  getenv(envTablePrefix),
		serviceBus:   getenv(envServiceBus),
		alertsURL:    getenv(envAlertsURL),
		alertsSource: getenv(envAlertsSource),
		clientID:     getenv(envClientID),
		inAzure:      getenv(envIdentity) != "",
	}
	var problems []string
	for _, s := range settings {
		if s.required && strings.TrimSpace(getenv(s.name)) == "" {
			problems = append(problems, s.name+" is not set ("+s.about+")")
		}
	}
	if c.tablesURL == "" && c.tablesConn == "" {
		problems = append(problems, "neither "+envTablesURL+" nor "+envTablesConn+" is set (serve never falls back to memory)")
	}
	if c.alertsSource == "" {
		c.alertsSource = "/aksguard/" + cmp.Or(getenv(envSiteName), "local")
	}
	c.self = []string{getenv(envPrincipalID), c.clientID}
	if v := getenv(envDebounce); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			problems = append(problems, fmt.Sprintf("%s=%q is not a positive duration such as 60s", envDebounce, v))
		}
		c.debounce = d
	}
	switch c.mode = guard.Mode(strings.TrimSpace(getenv(envMode))); c.mode {
	case "", guard.ModeDryRun, guard.ModeEnforce:
	default:
		problems = append(problems, fmt.Sprintf("%s=%q is neither dry-run nor enforce", envMode, c.mode))
	}
	c.enforceIn, c.approvers, c.roleScopes = splitList(getenv(envEnforceIn)), splitList(getenv(envApprovers)), splitList(getenv(envRoleScopes))
	c.userAssigned = strings.TrimSpace(getenv(envUserAssigned))
	if v := getenv(envMaxUpdating); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			problems = append(problems, fmt.Sprintf("%s=%q is not a positive number", envMaxUpdating, v))
		}
		c.maxUpdating = n
	}
	if v := getenv(envLogLevel); v != "" {
		if err := c.logLevel.UnmarshalText([]byte(v)); err != nil {
			problems = append(problems, fmt.Sprintf("%s=%q is not debug, info, warn or error", envLogLevel, v))
		}
	}
	problems = append(problems, c.malformed(getenv)...)
	if len(problems) > 0 {
		return config{}, fmt.Errorf("serve cannot start:\n  - %s", strings.Join(problems, "\n  - "))
	}
	return c, nil
}

// Shapes of the settings that name Azure things.
var (
	scopeRE = regexp.MustCompile(`(?i)^/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(/resourceGroups/[^/]+)?$`)
	roleRE  = regexp.MustCompile(`(?i)^(/subscriptions/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|/providers/Microsoft\.Management/managementGroups/[^/]+)$`)
	hostRE  = regexp.MustCompile(`^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`)
)

// malformed names every setting that is set but cannot be right, so serve
// fails at start rather than at the first event.
func (c config) malformed(getenv env) []string {
	var problems []string
	bad := func(name, value, want string) {
		problems = append(problems, fmt.Sprintf("%s=%q is not %s", name, value, want))
	}
	if n, err := strconv.Atoi(c.port); c.port != "" && (err != nil || n <= 0 || n > 65535) {
		bad(envPort, c.port, "a TCP port")
	}
	if v := getenv(envPrincipalID); v != "" && !armid.IsGUID(v) {
		bad(envPrincipalID, v, "an object id (a GUID)")
	}
	if c.clientID != "" && !armid.IsGUID(c.clientID) {
		bad(envClientID, c.clientID, "a client id (a GUID)")
	}
	for _, v := range c.approvers {
		if !armid.IsGUID(v) {
			bad(envApprovers, v, "an object id (a GUID)")
		}
	}
	for _, v := range c.enforceIn {
		if !scopeRE.MatchString(v) {
			bad(envEnforceIn, v, "/subscriptions/<id> or /subscriptions/<id>/resourceGroups/<name>")
		}
	}
	for _, v := range c.roleScopes {
		if !roleRE.MatchString(v) {
			bad(envRoleScopes, v, "/subscriptions/<id> or /providers/Microsoft.Management/managementGroups/<name>")
		}
	}
	if tablestore.CheckPrefix(c.tablePrefix) != nil {
		bad(envTablePrefix, c.tablePrefix, "up to 55 letters and digits starting with a letter")
	}
	if c.userAssigned != "" && armid.CheckUserAssignedIdentity(c.userAssigned) != nil {
		bad(envUserAssigned, c.userAssigned, "a user-assigned identity's resource ID")
	}
	if c.serviceBus != "" && !hostRE.MatchString(c.serviceBus) {
		bad(envServiceBus, c.serviceBus, "a fully qualified namespace such as <ns>.servicebus.windows.net")
	}
	for name, v := range map[string]string{envAlertsURL: c.alertsURL, envTablesURL: c.tablesURL} {
		if u, err := url.Parse(v); v != "" && (err != nil || u.Scheme != "https" || u.Host == "") {
			bad(name, v, "an https URL")
		}
	}
	slices.Sort(problems)
	return problems
}

// credential is the guard's own identity: its managed identity when running
// in Azure (the platform sets IDENTITY_ENDPOINT), the developer's sign-in
// otherwise. There are no secrets to configure.
func (c config) credential() (azcore.TokenCredential, error) {
	if c.inAzure {
		opts := &azidentity.ManagedIdentityCredentialOptions{}
		if c.clientID != "" {
			opts.ID = azidentity.ClientID(c.clientID)
		}
		return azidentity.NewManagedIdentityCredential(opts)
	}
	return azidentity.NewDefaultAzureCredential(nil)
}
