package guard

import (
	"time"
)

// failure turns an error of a step into a move, classified once: transient
// errors retry later with back-off (honouring Retry-After, at most an
// hour), a missing permission blocks (for writes, after a few retries: a
// role granted moments ago takes a while to reach every replica), a
// deleted cluster cancels, anything else fails. The service error is kept.
func (r *run) failure(j Job, what string, err error, now time.Time) move {
	msg := what + ": " + err.Error()
	n := j.Attempts + 1
	retry := func() move {
		wait := retryWait(err, n)
		return move{state: j.State, outcome: "retrying at " + stamp(now.Add(wait)) + " after: " + msg, err: msg, wait: now.Add(wait),
			edit: func(j *Job) { j.Attempts = n }}
	}
	resumable := ""
	if j.UpdateETag != "" {
		resumable = "; approve again to resume"
	}
	switch KindOf(err) {
	case KindTransient:
		if n > maxAttempts {
			return move{state: JobFailed, outcome: "failed: " + what + " kept failing" + resumable, err: msg, alert: AlertFailed}
		}
		return retry()
	case KindForbidden:
		if n <= forbiddenRetries {
			return retry()
		}
		return move{state: JobBlocked, outcome: "blocked: the guard's identity may not " + what + resumable, err: msg, alert: AlertBlocked}
	case KindNotFound:
		if !j.committed() {
			return move{state: JobCancelled, outcome: "cancelled: " + what + ": not found", err: msg, alert: AlertCancelled}
		}
	}
	return move{state: JobFailed, outcome: "failed: " + what + resumable, err: msg, alert: AlertFailed}
}

// retryWait is the wait before the n-th retry of a step: 30s doubling, at
// most 30 minutes, or longer when ARM asked for it with Retry-After, up to
// an hour.
func retryWait(err error, n int) time.Duration {
	return min(max(RetryAfterOf(err), doubling(30*time.Second, 30*time.Minute, n)), maxRetryWait)
}

// backoff is the wait before the job's n-th timer while it waits for
// approval: ParkBase doubling up to ParkMax.
func (s *Service) backoff(n int) time.Duration { return doubling(s.parkBase, s.parkMax, n) }

// doubling is base doubled n-1 times, at most limit.
func doubling(base, limit time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}
