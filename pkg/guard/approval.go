package guard

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Tags a person sets on a cluster. Tag names cannot contain '/'.
const (
	// ApprovalTag approves ("approved") or exempts ("exempt:<reason>") a
	// cluster's remediation.
	ApprovalTag = "aksguard-remediation"
	// IdentityTag names the user-assigned identity (its resource ID) the
	// control plane should move to instead of a system-assigned one.
	IdentityTag = "aksguard-identity"
)

// ApprovalStatus is what the guard made of the approval tag's value.
type ApprovalStatus string

const (
	// ApprovalApproved: "approved", set by a permitted person as Azure's
	// change history records it.
	ApprovalApproved ApprovalStatus = "approved"
	// ApprovalRejected: "approved" or an exemption set by someone not on
	// the approver list.
	ApprovalRejected ApprovalStatus = "rejected"
	// ApprovalExempt: "exempt:<reason>", set by a permitted person.
	ApprovalExempt ApprovalStatus = "exempt"
	// ApprovalInvalid: a value that is neither.
	ApprovalInvalid ApprovalStatus = "invalid"
	// ApprovalRemoved: the tag was taken off.
	ApprovalRemoved ApprovalStatus = "removed"
	// ApprovalPending: an approval or exemption whose change record Azure
	// does not show yet; nothing runs until it does.
	ApprovalPending ApprovalStatus = "pending"
	// ApprovalUnverified: no change record credits the value to a
	// principal within approvalWait; nothing runs, a person must set the
	// tag again.
	ApprovalUnverified ApprovalStatus = "unverified"
)

// Approval is the approval tag's value as the guard last saw it, what it
// means, and who set it as Azure's change history records it. Events only
// make the guard look: a tags event says that some tag changed and who
// called, not which tag, so its caller is never credited.
type Approval struct {
	Value  string
	Status ApprovalStatus
	Reason string
	// By is who set Value: the credited change record's changedBy (an
	// e-mail address for a person, an application id for a service
	// principal or managed identity) and the object id Microsoft Graph
	// resolves it to. Zero when no record is credited.
	By Actor
	// At is when the guard recorded this status.
	At time.Time
	// EventID is the event or message that made the guard look.
	EventID string
	// Change is the change record credited with setting Value.
	Change *Change
	// Since is when the guard began waiting for a change record: of a new
	// value (status pending), or of a request that may have set the same
	// value again (Awaiting).
	Since time.Time
	// Awaiting is the correlation id of a request whose change record the
	// guard waits for before it trusts a value it credited earlier: an
	// event reported a write to the cluster or its tags.
	Awaiting string
	// Checks counts the looks at the change history while waiting.
	Checks int
}

// approved reports whether a is a valid approval.
func (a *Approval) approved() bool { return a != nil && a.Status == ApprovalApproved }

// held reports whether who set the tag is being verified: nothing runs
// until it is.
func (a *Approval) held() bool { return a != nil && (a.Status == ApprovalPending || a.Awaiting != "") }

// How long and how often the guard looks for a change record. Microsoft
// says records appear within five minutes; the wait allows three times
// that.
const (
	approvalWait    = 15 * time.Minute
	approvalRecheck = 30 * time.Second
)

// tagStatus says what a value of the approval tag means.
// exemptUntilRE is an exemption with an end date: exempt:2027-03-31:<reason>.
var exemptUntilRE = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2})\s*:(.*)$`)

// exemptionEnds returns when an exemption tag value ends: the end of its
// date, UTC; zero for one without a date.
func exemptionEnds(v string) time.Time {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(v)), "exempt:")
	if !ok {
		return time.Time{}
	}
	m := exemptUntilRE.FindStringSubmatch(strings.TrimSpace(rest))
	if m == nil {
		return time.Time{}
	}
	day, err := time.Parse(time.DateOnly, m[1])
	if err != nil {
		return time.Time{}
	}
	return day.Add(24 * time.Hour)
}

// exemptNow reports whether a is an exemption in force at now.
func (a *Approval) exemptNow(now time.Time) bool {
	if a == nil || a.Status != ApprovalExempt {
		return false
	}
	end := exemptionEnds(a.Value)
	return end.IsZero() || now.Before(end)
}

func tagStatus(v string) (ApprovalStatus, string) {
	lower := strings.ToLower(v)
	switch {
	case v == "":
		return ApprovalRemoved, ""
	case lower == "approved":
		return ApprovalApproved, ""
	case strings.HasPrefix(lower, "exempt:"):
		rest := strings.TrimSpace(v[len("exempt:"):])
		if m := exemptUntilRE.FindStringSubmatch(rest); m != nil {
			if _, err := time.Parse(time.DateOnly, m[1]); err != nil {
				return ApprovalInvalid, "exemption end " + strconv.Quote(m[1]) + " is not a date (YYYY-MM-DD)"
			}
			rest = strings.TrimSpace(m[2])
		}
		if rest != "" {
			return ApprovalExempt, rest
		}
		return ApprovalInvalid, "an exemption needs a reason: exempt:<reason> or exempt:<YYYY-MM-DD>:<reason>"
	}
	return ApprovalInvalid, "tag value " + strconv.Quote(v) + " is neither approved nor exempt:<reason>"
}

// needsLook reports whether the guard must read the change history to know
// who set the approval tag's current value v.
func needsLook(prev *Approval, v string, why cause) bool {
	var prevValue string
	var status ApprovalStatus
	if prev != nil {
		prevValue, status = prev.Value, prev.Status
	}
	switch {
	case v != prevValue, prev.held():
		return true
	case v == "":
		return false
	case why.source == fromTagsWrite || why.source == fromClusterWrite:
		// The same value may have been set again, by someone else.
		return true
	}
	// A rejected or unverified value may have been set again by an
	// approver whose events were lost: a timer looks too.
	return status == ApprovalRejected || status == ApprovalUnverified
}

// credit finds the change record that set the approval tag to its current
// value v among records, newest first. When none can be credited it says
// why.
func credit(v string, records []Change) (*Change, string) {
	for i := range records {
		r := &records[i]
		switch {
		case r.Tag != nil:
			if strings.TrimSpace(r.Tag.New) == v {
				return r, ""
			}
			return nil, fmt.Sprintf("the latest recorded change of the tag (%s by %s) set %q, not %q; the record of the current value is not in Azure's change history yet",
				stamp(r.At), cmp.Or(r.ChangedBy, "unknown"), r.Tag.New, v)
		case r.Type == ChangeCreate:
			// Creation records list no properties: a tag the cluster was
			// created with, and never changed since, is the creator's.
			return r, ""
		case r.Type == ChangeDelete:
			return nil, "Azure's change history shows no record since the cluster was created again"
		case r.Truncated:
			return nil, "Azure's change record of " + stamp(r.At) + " by " + cmp.Or(r.ChangedBy, "unknown") +
				" lists only some of the properties it changed, so it may have set the tag; who set it cannot be told"
		}
	}
	return nil, "no record in Azure's change history sets the tag (Azure keeps it for 14 days)"
}

// shows reports whether records hold the record of the request with
// correlation id corr.
func shows(records []Change, corr string) bool {
	return slices.ContainsFunc(records, func(c Change) bool { return strings.EqualFold(c.CorrelationID, corr) })
}

// setter is the principal a change record names.
func setter(c *Change) Actor {
	by := strings.TrimSpace(c.ChangedBy)
	if strings.EqualFold(by, "System") || strings.EqualFold(by, "Unknown") {
		return Actor{}
	}
	switch strings.ToLower(c.ChangedByType) {
	case "user":
		return Actor{UPN: by}
	case "application", "managedidentity":
		return Actor{AppID: by}
	}
	return Actor{}
}

// sameChange reports whether a and b are the same change record.
func sameChange(a, b *Change) bool {
	return a != nil && b != nil && a.At.Equal(b.At) && strings.EqualFold(a.CorrelationID, b.CorrelationID) && a.Type == b.Type
}

// OnApproverList reports whether a is on the approver list by its own ids
// or user principal name; groups on the list need Microsoft Graph, which
// offline tools do not ask. An empty list allows anyone.
func OnApproverList(a Actor, list []string) bool { return approverAllowed(a, list) }

// approverAllowed reports whether a is on the list (Actor.Is), or its user
// principal name (the e-mail address change history gives) is,
// case-insensitively. An empty list allows anyone.
func approverAllowed(a Actor, list []string) bool {
	if len(list) == 0 || a.Is(list) {
		return true
	}
	for _, e := range list {
		if a.UPN != "" && strings.EqualFold(a.UPN, e) {
			return true
		}
	}
	return false
}

// guidRE is an Entra object id.
var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func isGUID(s string) bool { return guidRE.MatchString(s) }

// maxGroupsPerCheck is how many groups one Graph checkMemberGroups call
// takes.
const maxGroupsPerCheck = 20

// inApproverGroup reports whether a, known by its object id, is a member,
// directly or through nested groups, of a group on the approver list. The
// list's GUIDs that are not a's own ids are asked about as groups; Graph
// ignores ids that are not groups.
func (s *Service) inApproverGroup(ctx context.Context, a Actor) (bool, error) {
	if a.ObjectID == "" {
		return false, nil
	}
	var groups []string
	for _, e := range s.approvers {
		if isGUID(e) && !strings.EqualFold(e, a.ObjectID) && !strings.EqualFold(e, a.AppID) {
			groups = append(groups, e)
		}
	}
	for start := 0; start < len(groups); start += maxGroupsPerCheck {
		in, err := s.directory.MemberOf(ctx, a.ObjectID, groups[start:min(start+maxGroupsPerCheck, len(groups))])
		if err != nil {
			return false, err
		}
		if len(in) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// approvalLook is what a look at the approval tag decided.
type approvalLook struct {
	// next is the approval to record; nil when nothing changed.
	next *Approval
	// news: the status, or who set the value, changed: audit and tell.
	news bool
	// recheck is when to look again; zero for no re-check.
	recheck time.Time
	// released: a hold ended with the approval as it was; a job waiting
	// on it goes on.
	released bool
}

// lookApproval works out what the cluster's approval tag means and who set
// it, reading Azure's change history (and Microsoft Graph, to name the
// setter by object id) when the value or the cause may have changed that.
// It never fails: what it cannot read or find makes the approval wait
// (looked at again shortly) and, after approvalWait, unverified.
func (s *Service) lookApproval(ctx context.Context, prev *Approval, c Cluster, why cause, now time.Time) approvalLook {
	raw, _ := c.Tag(ApprovalTag)
	v := strings.TrimSpace(raw)
	if !needsLook(prev, v, why) {
		return approvalLook{}
	}
	status, reason := tagStatus(v)
	next := Approval{Value: v, Status: status, Reason: reason, At: now, EventID: why.id, Since: now}
	awaiting := ""
	if why.source == fromTagsWrite || why.source == fromClusterWrite {
		awaiting = why.correlation
	}
	if prev.held() && prev.Value == v {
		next.Since, next.Checks = prev.Since, prev.Checks
		awaiting = cmp.Or(awaiting, prev.Awaiting)
	}
	next.Checks++
	late := now.Sub(next.Since) >= approvalWait
	if late {
		// The request's own record never came (a write that changed
		// nothing leaves none): decide from what Azure shows.
		awaiting = ""
	}
	records, herr := s.history.TagChanges(ctx, c.ID, ApprovalTag, awaiting)

	if status == ApprovalRemoved || status == ApprovalInvalid {
		// Neither needs a permitted person: a removal only stops things,
		// an invalid value is refused whoever set it. Name the setter when
		// Azure already shows the record.
		if rec, _ := credit(v, records); herr == nil && rec != nil {
			next.Change = rec
			next.By, _ = s.resolve(ctx, setter(rec))
		}
		next.Since, next.Checks = time.Time{}, 0
		if prev != nil && prev.Value == v && prev.Status == status && !prev.held() {
			return approvalLook{}
		}
		return approvalLook{next: &next, news: true, released: prev.held()}
	}

	// An approval or an exemption: only Azure's record can say who set it.
	// credited: a record named who set this value before.
	credited := prev != nil && prev.Value == v && prev.Change != nil &&
		(prev.Status == ApprovalApproved || prev.Status == ApprovalExempt || prev.Status == ApprovalRejected)
	wait := func(reason string, forbidden bool) approvalLook {
		at := now.Add(doubling(approvalRecheck, approvalWait, next.Checks))
		switch {
		case prev != nil && prev.Value == v && prev.Status == ApprovalUnverified:
			// Only a record that credits the value ends this.
			return approvalLook{}
		case late || forbidden:
			next.Status, next.Reason = ApprovalUnverified, reason
			next.Since, next.Checks = time.Time{}, 0
			news := prev == nil || prev.Status != ApprovalUnverified || prev.Value != v
			return approvalLook{next: &next, news: news, released: prev.held()}
		case credited && herr == nil && awaiting != "" && !shows(records, awaiting):
			// Credited before: keep it, held, until the request's record
			// shows whether it set the tag again.
			kept := *prev
			kept.Since, kept.Awaiting, kept.Checks = next.Since, awaiting, next.Checks
			return approvalLook{next: &kept, recheck: at}
		}
		next.Status, next.Reason, next.Awaiting = ApprovalPending, reason, awaiting
		news := prev == nil || prev.Status != ApprovalPending || prev.Value != v
		return approvalLook{next: &next, news: news, recheck: at}
	}
	switch {
	case herr != nil:
		return wait("cannot read Azure's change history: "+herr.Error(), KindOf(herr) == KindForbidden)
	case awaiting != "" && !shows(records, awaiting):
		return wait("Azure's change history does not show request "+awaiting+" yet", false)
	}
	rec, why0 := credit(v, records)
	if rec == nil {
		return wait(why0, false)
	}
	by := setter(rec)
	if by.IsZero() {
		next.Change = rec
		return wait("Azure's change record names no principal (changedBy "+strconv.Quote(rec.ChangedBy)+")", false)
	}
	resolved, rerr := s.resolve(ctx, by)
	next.Change, next.By = rec, resolved
	inGroup, gerr := false, error(nil)
	if !approverAllowed(resolved, s.approvers) && rerr == nil {
		inGroup, gerr = s.inApproverGroup(ctx, resolved)
	}
	switch {
	case approverAllowed(resolved, s.approvers) || inGroup:
	case gerr != nil:
		return wait("cannot tell whether "+by.String()+" is in an approver group: "+gerr.Error(), KindOf(gerr) == KindForbidden)
	case rerr == nil || KindOf(rerr) == KindNotFound:
		next.Status = ApprovalRejected
		next.Reason = by.String() + " is not on the approver list; an approver must remove the tag and set it again"
	default:
		return wait("cannot tell whether "+by.String()+" is on the approver list: "+rerr.Error(), KindOf(rerr) == KindForbidden)
	}
	next.Since, next.Checks, next.Awaiting = time.Time{}, 0, ""
	if prev != nil && prev.Value == v && prev.Status == next.Status && sameChange(prev.Change, rec) {
		if !prev.held() {
			return approvalLook{}
		}
		kept := *prev
		kept.Since, kept.Checks, kept.Awaiting = time.Time{}, 0, ""
		return approvalLook{next: &kept, released: true}
	}
	return approvalLook{next: &next, news: true, released: prev.held()}
}

// resolve names a by its object id through Microsoft Graph, and with its
// display name. It returns a as given, with the error, when Graph cannot.
func (s *Service) resolve(ctx context.Context, a Actor) (Actor, error) {
	var p Principal
	var err error
	switch {
	case a.UPN != "":
		p, err = s.directory.User(ctx, a.UPN)
	case a.AppID != "":
		p, err = s.directory.ServicePrincipal(ctx, a.AppID)
	default:
		return a, nil
	}
	if err != nil {
		return a, err
	}
	a.ObjectID, a.Name = p.ObjectID, p.DisplayName
	return a, nil
}
