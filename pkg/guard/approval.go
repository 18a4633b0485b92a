package guard

import (
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
	ApprovalApproved ApprovalStatus = "approved"
	// ApprovalRejected: "approved", but by someone not on the approver
	// list, or seen without the event that names who set it while a list
	// is configured.
	ApprovalRejected ApprovalStatus = "rejected"
	ApprovalExempt   ApprovalStatus = "exempt"
	// ApprovalInvalid: a value that is neither.
	ApprovalInvalid ApprovalStatus = "invalid"
	// ApprovalRemoved: the tag was taken off.
	ApprovalRemoved ApprovalStatus = "removed"
)

// Approval is the approval tag as the guard last saw it change: the value,
// who set it (from the claims of the event that reported the change), and
// what it means.
type Approval struct {
	Value   string
	Status  ApprovalStatus
	Reason  string
	By      Actor
	At      time.Time
	EventID string
}

// approved reports whether a is a valid approval.
func (a *Approval) approved() bool { return a != nil && a.Status == ApprovalApproved }

// observeApproval compares the cluster's approval tag with the last value
// seen and, when it changed, says what the new value means. approvers is
// the allow-list of object ids; empty allows anyone.
func observeApproval(prev *Approval, c Cluster, now time.Time, why cause, approvers []string) (Approval, bool) {
	v, _ := c.Tag(ApprovalTag)
	v = strings.TrimSpace(v)
	prevValue := ""
	if prev != nil {
		prevValue = prev.Value
	}
	if strings.EqualFold(v, prevValue) {
		return Approval{}, false
	}
	a := Approval{Value: v, By: why.actor, At: now, EventID: why.id}
	lower := strings.ToLower(v)
	switch {
	case v == "":
		a.Status = ApprovalRemoved
	case lower == "approved":
		a.Status = ApprovalApproved
		if len(approvers) > 0 && !why.actor.Is(approvers) {
			a.Status = ApprovalRejected
			a.Reason = why.actor.String() + " is not on the approver list"
			if why.actor.IsZero() {
				a.Reason = "the approval was seen without the event that set it, so the approver is unknown; set the tag again"
			}
		}
	case strings.HasPrefix(lower, "exempt:"):
		a.Status = ApprovalExempt
		a.Reason = strings.TrimSpace(v[len("exempt:"):])
		if a.Reason == "" {
			a.Status, a.Reason = ApprovalInvalid, "an exemption needs a reason: exempt:<reason>"
		}
	default:
		a.Status = ApprovalInvalid
		a.Reason = "tag value " + quote(v) + " is neither approved nor exempt:<reason>"
	}
	return a, true
}

func quote(s string) string { return "\"" + s + "\"" }
