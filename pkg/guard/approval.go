package guard

import (
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
// seen and, when it changed, says what the new value means and who set it.
// approvers is the allow-list of object ids; empty allows anyone.
//
// Only the caller of a tags write surely set the tags. So did the caller of
// a cluster write that created the cluster (read while still "Creating": AKS
// takes no other write to a cluster until its creation ends), since every
// tag came in that request. Any other cluster write's caller probably did
// (az aks update --tags) but may only have sent back a tag someone else set,
// so it is credited only when no allow-list makes the difference matter. A
// read caused by a timer credits nobody. Where the setter cannot be known
// and an allow-list is set, the new value is left unseen: the tags-write
// event that set it is credited when it comes. Removing the tag needs no
// credit: it only stops things.
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
	a := Approval{Value: v, At: now, EventID: why.id}
	creating := strings.EqualFold(c.ProvisioningState, "Creating")
	credited := why.source == fromTagsWrite || why.source == fromClusterWrite && (len(approvers) == 0 || creating)
	if credited {
		a.By = why.actor
	} else if v != "" && len(approvers) > 0 {
		return Approval{}, false
	}
	lower := strings.ToLower(v)
	switch {
	case v == "":
		a.Status = ApprovalRemoved
	case lower == "approved":
		a.Status = ApprovalApproved
	case strings.HasPrefix(lower, "exempt:"):
		a.Status = ApprovalExempt
		a.Reason = strings.TrimSpace(v[len("exempt:"):])
		if a.Reason == "" {
			a.Status, a.Reason = ApprovalInvalid, "an exemption needs a reason: exempt:<reason>"
		}
	default:
		a.Status = ApprovalInvalid
		a.Reason = "tag value " + strconv.Quote(v) + " is neither approved nor exempt:<reason>"
	}
	if (a.Status == ApprovalApproved || a.Status == ApprovalExempt) && len(approvers) > 0 && !a.By.Is(approvers) {
		a.Reason = a.By.String() + " is not on the approver list"
		a.Status = ApprovalRejected
	}
	return a, true
}
