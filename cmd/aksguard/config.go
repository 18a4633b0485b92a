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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/redact"
	"github.com/aksguard/aksguard/pkg/servicebus"
	"github.com/aksguard/aksguard/pkg/settings"
	"github.com/aksguard/aksguard/pkg/tablestore"
)

// queueName is the remediation queue.
const queueName = servicebus.QueueName

// config is what serve needs, read from app settings.
type config struct {
	port         string
	tablesURL    string
	tablesConn   string
	tablePrefix  string
	serviceBus   string
	alertsURL    string
	alertsSource string
	clientID     string
	logLevel     slog.Level
	inAzure      bool
	// sweepGroup is the management group the sweep lists, "" for all.
	sweepGroup string
	// guard holds the settings that shape the guard's decisions; serve
	// adds the ports.
	guard guard.Config
}

// loadConfig reads and checks the settings serve needs. Its error lists
// every missing or malformed setting at once.
func loadConfig(getenv env) (config, error) {
	c := config{
		port:         getenv(settings.Port),
		tablesURL:    getenv(settings.TablesURL),
		tablesConn:   getenv(settings.TablesConn),
		tablePrefix:  getenv(settings.TablePrefix),
		serviceBus:   getenv(settings.ServiceBus),
		alertsURL:    getenv(settings.AlertsURL),
		alertsSource: getenv(settings.AlertsSource),
		clientID:     getenv(settings.ClientID),
		inAzure:      getenv(settings.Identity) != "",
		sweepGroup:   strings.TrimSpace(getenv(settings.SweepScope)),
	}
	var problems []string
	for _, s := range settings.All {
		if s.Required && strings.TrimSpace(getenv(s.Name)) == "" {
			problems = append(problems, s.Name+" is not set ("+s.About+")")
		}
	}
	if c.tablesURL == "" && c.tablesConn == "" {
		problems = append(problems, "neither "+settings.TablesURL+" nor "+settings.TablesConn+" is set (serve never falls back to memory)")
	}
	if c.alertsSource == "" {
		c.alertsSource = "/aksguard/" + cmp.Or(getenv(settings.SiteName), "local")
	}
	if v := getenv(settings.LogLevel); v != "" {
		if err := c.logLevel.UnmarshalText([]byte(v)); err != nil {
			problems = append(problems, fmt.Sprintf("%s=%q is not debug, info, warn or error", settings.LogLevel, v))
		}
	}
	malformed := append(settings.Guard(getenv, &c.guard), c.malformed()...)
	slices.Sort(malformed)
	problems = append(problems, malformed...)
	if len(problems) > 0 {
		return config{}, fmt.Errorf("serve cannot start:\n  - %s", strings.Join(problems, "\n  - "))
	}
	return c, nil
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`)

// malformed names every serve setting that is set but cannot be right, so
// serve fails at start rather than at the first event; settings.Guard
// checks the others.
func (c config) malformed() []string {
	var problems []string
	bad := func(name, value, want string) {
		// A connection string put where a name belongs holds a key.
		problems = append(problems, fmt.Sprintf("%s=%q is not %s", name, redact.String(value), want))
	}
	if n, err := strconv.Atoi(c.port); c.port != "" && (err != nil || n <= 0 || n > 65535) {
		bad(settings.Port, c.port, "a TCP port")
	}
	if tablestore.CheckPrefix(c.tablePrefix) != nil {
		bad(settings.TablePrefix, c.tablePrefix, "up to 55 letters and digits starting with a letter")
	}
	if c.serviceBus != "" && !hostRE.MatchString(c.serviceBus) {
		bad(settings.ServiceBus, c.serviceBus, "a fully qualified namespace such as <ns>.servicebus.windows.net")
	}
	if c.sweepGroup != "" && !managementGroupRE.MatchString(c.sweepGroup) {
		bad(settings.SweepScope, c.sweepGroup, "a management group id (up to 90 letters, digits, -, _, ( ) and .)")
	}
	for name, v := range map[string]string{settings.AlertsURL: c.alertsURL, settings.TablesURL: c.tablesURL} {
		if u, err := url.Parse(v); v != "" && (err != nil || u.Scheme != "https" || u.Host == "") {
			bad(name, v, "an https URL")
		}
	}
	return problems
}

// managementGroupRE is a management group id as Azure allows it.
var managementGroupRE = regexp.MustCompile(`^[A-Za-z0-9_().-]{1,90}$`)

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
