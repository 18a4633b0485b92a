package guard

import (
	"context"
	"time"
)

// IdentityTarget is the managed identity a cluster's control plane moves to.
type IdentityTarget struct {
	// Type is "SystemAssigned" or "UserAssigned".
	Type string `json:"type"`
	// UserAssigned is the resource ID of the user-assigned identity, for
	// Type "UserAssigned".
	UserAssigned string `json:"userAssigned,omitempty"`
}

// Principal is an Entra ID principal: an application's or a managed
// identity's service principal, or a user.
type Principal struct {
	AppID       string `json:"appId,omitempty"`
	ObjectID    string `json:"objectId"`
	UPN         string `json:"upn,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
}

// RoleAssignment is an Azure RBAC role assignment.
type RoleAssignment struct {
	// ID is the assignment's resource ID; empty for one not yet created.
	ID               string `json:"id,omitempty"`
	Scope            string `json:"scope"`
	RoleDefinitionID string `json:"roleDefinitionId"`
	// RoleName is the role's display name when known, for plans people read.
	RoleName         string `json:"roleName,omitempty"`
	PrincipalID      string `json:"principalId"`
	PrincipalType    string `json:"principalType,omitempty"`
	Condition        string `json:"condition,omitempty"`
	ConditionVersion string `json:"conditionVersion,omitempty"`
}

// AcrPullRoleID is the built-in AcrPull role's definition GUID; a service
// principal's AcrPull assignments move to the kubelet identity.
const AcrPullRoleID = "7f951dda-4ed3-4680-a7ca-43fe172d538d"

// Directory looks principals up in Microsoft Entra ID.
type Directory interface {
	// ServicePrincipal returns the service principal of the application
	// appID. Errors: KindNotFound when there is none, KindForbidden when
	// the guard may not read the directory.
	ServicePrincipal(ctx context.Context, appID string) (Principal, error)
	// ManagedIdentity returns the service principal of the user-assigned
	// managed identity with the given resource ID, with the same errors.
	ManagedIdentity(ctx context.Context, resourceID string) (Principal, error)
	// User returns the user whose user principal name or e-mail address is
	// name, with the same errors.
	User(ctx context.Context, name string) (Principal, error)
	// MemberOf returns those of groupIDs the object objectID belongs to,
	// directly or through nested groups, with the same errors.
	MemberOf(ctx context.Context, objectID string, groupIDs []string) ([]string, error)
}

// Roles reads and writes Azure RBAC role assignments.
type Roles interface {
	// AssignmentsOf returns the role assignments held directly by the
	// principal with object id principalID at, above or below each scope
	// (a subscription ID such as "/subscriptions/<id>"). KindForbidden
	// when the guard may not read role assignments there.
	AssignmentsOf(ctx context.Context, principalID string, scopes []string) ([]RoleAssignment, error)
	// Assign creates a role assignment. One with the same scope, role,
	// principal and condition that exists already counts as done (nil).
	// KindTransient with code PrincipalNotFound right after an identity
	// was created; KindForbidden without the right to assign.
	Assign(ctx context.Context, a RoleAssignment) error
	// Definition returns the role definition with the given ID (a full
	// definition ID or the role's GUID).
	Definition(ctx context.Context, id string) (RoleDefinition, error)
}

// UpdateStatus is where a long-running identity update stands.
type UpdateStatus struct {
	Done bool
	// ResumeToken, opaque, continues polling in a later invocation while
	// the operation is not done.
	ResumeToken string
	// Sent is true when the PUT may have reached ARM: once it is sent,
	// unless ARM answered it with a refusal (a 4xx), which changes
	// nothing. A PUT whose answer was lost was sent.
	Sent bool
}

// IdentityUpdate is the update StartIdentityUpdate sends.
type IdentityUpdate struct {
	// ETag is the cluster's eTag as last read and recorded; the PUT is sent
	// with If-Match on it.
	ETag   string
	Target IdentityTarget
	// Tags are tags the cluster must still carry, with these values, in the
	// read the PUT's body is built from (names compare case-insensitively,
	// as ARM's); otherwise nothing is sent (KindConflict).
	Tags map[string]string
}

// ClusterUpdater changes a managed cluster's identity and reads what
// decides when it may.
type ClusterUpdater interface {
	// MaintenanceConfigs returns the cluster's planned-maintenance
	// configurations; none when it has none.
	MaintenanceConfigs(ctx context.Context, id ClusterID) ([]MaintenanceConfig, error)
	// StartIdentityUpdate reads the cluster, checks that its eTag is still
	// u.ETag and that it carries u.Tags (else KindConflict, and nothing is
	// sent), sets its identity to u.Target and PUTs it back with If-Match
	// on that eTag, without retrying the PUT. It polls for at most wait and
	// returns whether the operation is done, or a resume token to continue
	// with, and whether the PUT was sent.
	StartIdentityUpdate(ctx context.Context, id ClusterID, u IdentityUpdate, wait time.Duration) (UpdateStatus, error)
	// ResumeIdentityUpdate polls an update started earlier for at most wait.
	// A failed operation returns its ARM error, classified, with Done set
	// and no token; a failed poll returns its error with the token, since
	// the operation may still be running.
	ResumeIdentityUpdate(ctx context.Context, id ClusterID, token string, wait time.Duration) (UpdateStatus, error)
	// LatestNodeImage returns the newest node image AKS offers the agent
	// pool (its upgrade profile's latestNodeImageVersion).
	LatestNodeImage(ctx context.Context, id ClusterID, pool string) (string, error)
	// StartNodeImageUpgrade starts upgrading the pool's nodes to the latest
	// node image, which reimages them, and polls for at most wait, as
	// StartIdentityUpdate does.
	StartNodeImageUpgrade(ctx context.Context, id ClusterID, pool string, wait time.Duration) (UpdateStatus, error)
	// ResumeNodeImageUpgrade polls an upgrade started earlier, as
	// ResumeIdentityUpdate does.
	ResumeNodeImageUpgrade(ctx context.Context, id ClusterID, pool, token string, wait time.Duration) (UpdateStatus, error)
}

// MaintenanceConfig is an AKS planned-maintenance configuration
// (Microsoft.ContainerService/managedClusters/maintenanceConfigurations).
// The named schedules (aksManagedAutoUpgradeSchedule,
// aksManagedNodeOSUpgradeSchedule) use Window; "default" uses Window since
// API version 2023-05-01 and TimeInWeek with NotAllowedTime before that.
// Adapters fill in whichever the service returned.
type MaintenanceConfig struct {
	Name           string             `json:"name"`
	TimeInWeek     []TimeInWeek       `json:"timeInWeek,omitempty"`
	NotAllowedTime []TimeSpan         `json:"notAllowedTime,omitempty"`
	Window         *MaintenanceWindow `json:"maintenanceWindow,omitempty"`
}

// TimeInWeek allows the listed one-hour UTC slots (0–23, slot 1 is
// 01:00–02:00) on a weekday.
type TimeInWeek struct {
	Day       time.Weekday `json:"day"`
	HourSlots []int        `json:"hourSlots"`
}

// TimeSpan is a closed interval of time.
type TimeSpan struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// MaintenanceWindow is a recurring window: it opens on the days Schedule
// selects, counted from StartDate, at StartTime in UTCOffset, and stays
// open DurationHours.
type MaintenanceWindow struct {
	Schedule      Schedule `json:"schedule"`
	DurationHours int      `json:"durationHours"`
	// UTCOffset is "+05:30" or "-07:00"; empty means UTC.
	UTCOffset string `json:"utcOffset,omitempty"`
	// StartDate is "2006-01-02"; empty means the schedule has always run.
	StartDate string `json:"startDate,omitempty"`
	// StartTime is "15:04".
	StartTime string `json:"startTime"`
	// NotAllowedDates are date ranges ("2006-01-02", both ends included) in
	// which the window does not open.
	NotAllowedDates []DateSpan `json:"notAllowedDates,omitempty"`
}

// DateSpan is a range of calendar dates, both ends included.
type DateSpan struct {
	Start string `json:"start"`
	End   string `json:"end"`
}

// Schedule is exactly one of the recurrence kinds AKS offers.
type Schedule struct {
	Daily           *DailySchedule           `json:"daily,omitempty"`
	Weekly          *WeeklySchedule          `json:"weekly,omitempty"`
	AbsoluteMonthly *AbsoluteMonthlySchedule `json:"absoluteMonthly,omitempty"`
	RelativeMonthly *RelativeMonthlySchedule `json:"relativeMonthly,omitempty"`
}

type DailySchedule struct {
	IntervalDays int `json:"intervalDays"`
}

type WeeklySchedule struct {
	IntervalWeeks int          `json:"intervalWeeks"`
	DayOfWeek     time.Weekday `json:"dayOfWeek"`
}

type AbsoluteMonthlySchedule struct {
	IntervalMonths int `json:"intervalMonths"`
	DayOfMonth     int `json:"dayOfMonth"`
}

type RelativeMonthlySchedule struct {
	IntervalMonths int `json:"intervalMonths"`
	// WeekIndex is "First", "Second", "Third", "Fourth" or "Last".
	WeekIndex string       `json:"weekIndex"`
	DayOfWeek time.Weekday `json:"dayOfWeek"`
}
