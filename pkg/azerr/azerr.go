// Package azerr classifies errors from Azure SDK calls over HTTP (ARM,
// Microsoft Graph, Table Storage, Event Grid) into guard.Errors. It is the
// one table that says which of their error codes mean "retry later", "not
// found", "someone else changed it", "missing permission" or "this request
// is wrong". Service Bus speaks AMQP; pkg/servicebus classifies its errors.
package azerr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/redact"
)

// codes classifies service error codes; it wins over the HTTP status.
var codes = map[string]guard.ErrorKind{
	// Busy, throttled or briefly inconsistent: retry later.
	"TooManyRequests":               guard.KindTransient,
	"SubscriptionRequestsThrottled": guard.KindTransient,
	"ResourceRequestsThrottled":     guard.KindTransient,
	"AnotherOperationInProgress":    guard.KindTransient,
	// AKS answers it while another operation on the cluster runs. Other
	// providers also use it for lasting refusals (quota); those give up
	// after the step's bounded retries.
	"OperationNotAllowed":    guard.KindTransient,
	"PrincipalNotFound":      guard.KindTransient, // a new identity has not reached every replica yet
	"RetryableError":         guard.KindTransient,
	"InternalServerError":    guard.KindTransient,
	"InternalOperationError": guard.KindTransient,
	"ServiceUnavailable":     guard.KindTransient,
	"ServerBusy":             guard.KindTransient,
	"GatewayTimeout":         guard.KindTransient,
	"OperationTimedOut":      guard.KindTransient,

	"ResourceNotFound":      guard.KindNotFound,
	"NotFound":              guard.KindNotFound,
	"ResourceGroupNotFound": guard.KindNotFound,
	"SubscriptionNotFound":  guard.KindNotFound,
	"TableNotFound":         guard.KindNotFound,

	// Someone else wrote first (ETag), or the record exists already.
	"PreconditionFailed":          guard.KindConflict,
	"UpdateConditionNotSatisfied": guard.KindConflict,
	"EntityAlreadyExists":         guard.KindConflict,
	"TableAlreadyExists":          guard.KindConflict,
	"RoleAssignmentExists":        guard.KindConflict,

	"AuthorizationFailed":             guard.KindForbidden,
	"LinkedAuthorizationFailed":       guard.KindForbidden,
	"Forbidden":                       guard.KindForbidden,
	"AuthenticationFailed":            guard.KindForbidden,
	"InvalidAuthenticationToken":      guard.KindForbidden,
	"AuthorizationPermissionMismatch": guard.KindForbidden,
	"InsufficientAccountPermissions":  guard.KindForbidden,
	"Authorization_RequestDenied":     guard.KindForbidden, // Microsoft Graph

	"BadRequest":               guard.KindInvalid,
	"InvalidParameter":         guard.KindInvalid,
	"InvalidRequestContent":    guard.KindInvalid,
	"InvalidResourceReference": guard.KindInvalid,
	"LinkedInvalidPropertyId":  guard.KindInvalid,
	"PropertyChangeNotAllowed": guard.KindInvalid,
	"InvalidInput":             guard.KindInvalid,
	"PropertyValueTooLarge":    guard.KindInvalid,
}

// byStatus classifies an HTTP status when the code says nothing.
func byStatus(status int) guard.ErrorKind {
	switch {
	case status == http.StatusNotFound:
		return guard.KindNotFound
	case status == http.StatusPreconditionFailed:
		return guard.KindConflict
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return guard.KindForbidden
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status == http.StatusConflict:
		return guard.KindTransient
	case status >= 400 && status < 500:
		return guard.KindInvalid
	}
	return guard.KindTransient
}

// Classify wraps err, returned by an SDK call described by op (for example
// "get cluster /subscriptions/…"), in a *guard.Error. Errors without an HTTP
// response (network failures, timeouts) are transient. A nil err stays nil.
func Classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var ge *guard.Error
	if errors.As(err, &ge) {
		return err
	}
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) {
		// The identity itself is refused (a wrong client id, no federated
		// credential): a person must fix the setup. A token service that
		// is down is another matter.
		kind := guard.KindForbidden
		if af.RawResponse == nil || af.RawResponse.StatusCode >= 500 || af.RawResponse.StatusCode == http.StatusTooManyRequests {
			kind = guard.KindTransient
		}
		return &guard.Error{Kind: kind, Code: "AuthenticationFailed", Err: wrap(op+": "+err.Error(), err)}
	}
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		if errors.Is(err, context.Canceled) {
			return &guard.Error{Kind: guard.KindTransient, Err: wrap(op+": cancelled: "+err.Error(), err)}
		}
		return &guard.Error{Kind: guard.KindTransient, Err: wrap(op+": "+err.Error(), err)}
	}
	kind, ok := codes[re.ErrorCode]
	if !ok {
		kind = byStatus(re.StatusCode)
	}
	msg := fmt.Sprintf("%s: HTTP %d", op, re.StatusCode)
	if re.ErrorCode != "" {
		msg += " " + re.ErrorCode
	}
	if detail := message(re.RawResponse); detail != "" {
		msg += ": " + detail
	}
	return &guard.Error{Kind: kind, Code: re.ErrorCode, RetryAfter: RetryAfter(re.RawResponse), Err: wrap(msg, err)}
}

// Wrap returns an error that reads msg, with every credential masked, and
// unwraps to err. SDK errors quote the request URL, which carries a SAS
// token under a SAS connection string; a service may echo a header. The
// SDK error stays reachable with errors.As.
func Wrap(msg string, err error) error { return wrap(msg, err) }

func wrap(msg string, err error) error { return &short{msg: redact.String(msg), err: err} }

// short prints one masked line instead of the SDK's multi-line dump of the
// response.
type short struct {
	msg string
	err error
}

func (s *short) Error() string { return s.msg }
func (s *short) Unwrap() error { return s.err }

// message extracts the service's own message from an ARM, Graph or Table
// Storage error body.
func message(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	body, err := runtime.Payload(resp)
	if err != nil || len(body) == 0 {
		return ""
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
		OData struct {
			Message struct {
				Value string `json:"value"`
			} `json:"message"`
		} `json:"odata.error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	m := e.Error.Message
	if m == "" {
		m = e.OData.Message.Value
	}
	m = strings.Join(strings.Fields(m), " ")
	// Authorization messages name the missing action and scope near their
	// end: keep those, bound the rest.
	if len(m) > 1000 {
		m = m[:1000] + "…"
	}
	return m
}

// RetryAfter returns the wait a response asks for in its retry-after-ms,
// x-ms-retry-after-ms or Retry-After (seconds or HTTP date) header, or zero.
func RetryAfter(resp *http.Response) time.Duration {
	if resp == nil {
		return 0
	}
	for _, h := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if v := resp.Header.Get(h); v != "" {
			if ms, err := strconv.Atoi(v); err == nil && ms > 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
