package tablestore

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/aksguard/aksguard/pkg/guard"
)

// Table Storage limits, from "Understanding the Table service data model".
const (
	maxPropertyBytes = 64 << 10 // one string property, as UTF-16
	maxEntityBytes   = 1 << 20  // a whole entity
	maxKeyChars      = 1024     // PartitionKey and RowKey
)

// timeLayout writes times in UTC with all nine fractional digits, so they
// round-trip exactly and sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// formatTime returns t as a column value; a zero time is "" (column left out).
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// parseTime reads a column written by formatTime; "" is the zero time.
func parseTime(column, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("column %s: %w", column, err)
	}
	return t, nil
}

// edmInt64 is an Edm.Int64 column. The service sends Int64 as a JSON
// string next to a "<name>@odata.type" annotation; a plain number (Int32
// written by another tool) is read too.
type edmInt64 int64

const edmInt64Type = "Edm.Int64"

func (n edmInt64) MarshalJSON() ([]byte, error) {
	return []byte(`"` + strconv.FormatInt(int64(n), 10) + `"`), nil
}

func (n *edmInt64) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseInt(strings.Trim(string(b), `"`), 10, 64)
	if err != nil {
		return fmt.Errorf("Edm.Int64 %s: %w", b, err)
	}
	*n = edmInt64(v)
	return nil
}

// jsonColumn encodes a list column as JSON, "[]" when empty, leaving <, >
// and & readable.
func jsonColumn[T any](column string, v []T) (string, error) {
	if len(v) == 0 {
		return "[]", nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("encode column %s: %w", column, err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// fromJSONColumn decodes a column written by jsonColumn; "" is an empty list.
func fromJSONColumn[T any](column, s string) ([]T, error) {
	if s == "" {
		return nil, nil
	}
	var v []T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("column %s: %w", column, err)
	}
	return v, nil
}

// objectColumn encodes an optional object column as JSON, "" when nil.
func objectColumn[T any](column string, v *T) (string, error) {
	if v == nil {
		return "", nil
	}
	return jsonColumn(column, []T{*v})
}

// fromObjectColumn decodes a column written by objectColumn.
func fromObjectColumn[T any](column, s string) (*T, error) {
	list, err := fromJSONColumn[T](column, s)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	if len(list) != 1 {
		return nil, fmt.Errorf("column %s: %d values, want one", column, len(list))
	}
	return &list[0], nil
}

// utf16Bytes is the size of s as the service counts strings: UTF-16.
func utf16Bytes(s string) int {
	n := 0
	for _, r := range s {
		n += 2 * max(utf16.RuneLen(r), 1) // an invalid rune is sent as U+FFFD
	}
	return n
}

// checkEntity returns a *guard.Error of KindInvalid, naming the column,
// when an entity would break a Table Storage limit: a key empty or over
// 1,024 characters, a string property over 64 KiB, or the entity over 1 MiB.
// entity is a pointer to a struct whose string and *string fields are its
// columns, named by their JSON tags.
func checkEntity(op string, entity any) error {
	total := 4
	var err error
	eachColumn(reflect.ValueOf(entity).Elem(), func(name string, val reflect.Value) {
		if err != nil {
			return
		}
		if val.Kind() == reflect.Pointer {
			if val.IsNil() {
				return
			}
			val = val.Elem()
		}
		if val.Kind() != reflect.String {
			total += 8 + 2*len(name) + 8
			return
		}
		s := val.String()
		if name == "PartitionKey" || name == "RowKey" {
			if s == "" || len(s) > maxKeyChars {
				err = guard.Errorf(guard.KindInvalid, "%s: %s is %d characters, want 1 to %d", op, name, len(s), maxKeyChars)
			}
			total += 2 * len(s)
			return
		}
		n := utf16Bytes(s)
		if n > maxPropertyBytes {
			err = guard.Errorf(guard.KindInvalid, "%s: column %s is %d bytes as UTF-16, over the 64 KiB Table Storage limit", op, name, n)
		}
		total += 8 + 2*len(name) + 4 + n
	})
	if err != nil {
		return err
	}
	if total > maxEntityBytes {
		return guard.Errorf(guard.KindInvalid, "%s: entity is %d bytes, over the 1 MiB Table Storage limit", op, total)
	}
	return nil
}

// eachColumn calls fn for every field of the entity struct v, named as
// encoding/json names it, flattening embedded structs as encoding/json does.
func eachColumn(v reflect.Value, fn func(name string, val reflect.Value)) {
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			eachColumn(v.Field(i), fn)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		fn(name, v.Field(i))
	}
}

// clusterColumns are the columns that name a cluster in every table.
type clusterColumns struct {
	ClusterID     string `json:"ClusterId"`
	Subscription  string
	ResourceGroup string
	Name          string
}

func clusterColumnsOf(id guard.ClusterID) clusterColumns {
	return clusterColumns{ClusterID: id.String(), Subscription: id.Subscription, ResourceGroup: id.ResourceGroup, Name: id.Name}
}

func (c clusterColumns) id() guard.ClusterID {
	return guard.ClusterID{Subscription: c.Subscription, ResourceGroup: c.ResourceGroup, Name: c.Name}
}

// decoder reads columns and keeps the first error, so a record's fields
// decode in one list of assignments.
type decoder struct{ err error }

func (d *decoder) time(column, s string) time.Time {
	t, err := parseTime(column, s)
	d.keep(err)
	return t
}

func (d *decoder) keep(err error) {
	if d.err == nil {
		d.err = err
	}
}

func decodeObject[T any](d *decoder, column, s string) *T {
	v, err := fromObjectColumn[T](column, s)
	d.keep(err)
	return v
}

func decodeList[T any](d *decoder, column, s string) []T {
	v, err := fromJSONColumn[T](column, s)
	d.keep(err)
	return v
}

// approvalColumns are the approval tag as last seen, in readable columns;
// all present exactly when there is an approval.
type approvalColumns struct {
	ApprovalValue    *string `json:",omitempty"`
	ApprovalStatus   *string `json:",omitempty"`
	ApprovalReason   *string `json:",omitempty"`
	ApprovedAt       *string `json:",omitempty"`
	ApprovalEventID  *string `json:"ApprovalEventId,omitempty"`
	ApproverObjectID *string `json:"ApproverObjectId,omitempty"`
	ApproverAppID    *string `json:"ApproverAppId,omitempty"`
	ApproverUPN      *string `json:"ApproverUpn,omitempty"`
	ApproverName     *string `json:",omitempty"`
	// ApproverIsUser: the approver's token was a person's.
	ApproverIsUser *bool `json:",omitempty"`
	// ApprovalChange is Azure's change record credited with the value, as
	// JSON; "" when none is.
	ApprovalChange   *string `json:",omitempty"`
	ApprovalSince    *string `json:",omitempty"`
	ApprovalAwaiting *string `json:",omitempty"`
	ApprovalChecks   *string `json:",omitempty"`
}

func approvalColumnsOf(a *guard.Approval) (approvalColumns, error) {
	if a == nil {
		return approvalColumns{}, nil
	}
	change, err := objectColumn("ApprovalChange", a.Change)
	if err != nil {
		return approvalColumns{}, err
	}
	at, status, since, checks := formatTime(a.At), string(a.Status), formatTime(a.Since), strconv.Itoa(a.Checks)
	return approvalColumns{&a.Value, &status, &a.Reason, &at, &a.EventID, &a.By.ObjectID, &a.By.AppID, &a.By.UPN, &a.By.Name,
		&a.By.User, &change, &since, &a.Awaiting, &checks}, nil
}

func (c approvalColumns) approval(d *decoder) *guard.Approval {
	if c.ApprovalValue == nil {
		return nil
	}
	checks, err := strconv.Atoi(cmp.Or(deref(c.ApprovalChecks), "0"))
	if err != nil {
		d.keep(fmt.Errorf("column ApprovalChecks: %w", err))
	}
	return &guard.Approval{
		Value:  *c.ApprovalValue,
		Status: guard.ApprovalStatus(deref(c.ApprovalStatus)),
		Reason: deref(c.ApprovalReason),
		By: guard.Actor{ObjectID: deref(c.ApproverObjectID), AppID: deref(c.ApproverAppID),
			UPN: deref(c.ApproverUPN), Name: deref(c.ApproverName), User: c.ApproverIsUser != nil && *c.ApproverIsUser},
		At:       d.time("ApprovedAt", deref(c.ApprovedAt)),
		EventID:  deref(c.ApprovalEventID),
		Change:   decodeObject[guard.Change](d, "ApprovalChange", deref(c.ApprovalChange)),
		Since:    d.time("ApprovalSince", deref(c.ApprovalSince)),
		Awaiting: deref(c.ApprovalAwaiting),
		Checks:   checks,
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
