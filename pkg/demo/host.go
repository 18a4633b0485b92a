package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/memory"
)

// clock is the demo's simulated time, so that a minute's debounce and an
// hour's back-off pass at once.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// host plays the Functions host: it POSTs invocations to the handler over
// HTTP and delivers queue messages at their scheduled time, redelivering at
// once when the handler fails, as Service Bus does, and dead-lettering after
// ten deliveries.
type host struct {
	base       string
	client     *http.Client
	queue      *memory.Queue
	clock      *clock
	deliveries map[string]int
	dead       []guard.Message
}

// answer is the handler's response to one invocation.
type answer struct {
	status int
	logs   []string
}

func (h *host) invoke(ctx context.Context, function string, body []byte) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/"+function, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Azure-Functions-InvocationId", fmt.Sprintf("demo-%d", time.Now().UnixNano()))
	resp, err := h.client.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("invoke %s: %w", function, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, fmt.Errorf("invoke %s: read answer: %w", function, err)
	}
	var r struct {
		Logs []string `json:"Logs"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return answer{}, fmt.Errorf("invoke %s: answer is not JSON: %w", function, err)
	}
	return answer{status: resp.StatusCode, logs: r.Logs}, nil
}

// deliver sends one queue message the way the Service Bus trigger does:
// the body as a JSON string, the message id and delivery count in Metadata.
func (h *host) deliver(ctx context.Context, m guard.Message) (answer, error) {
	body, err := json.Marshal(m.Body())
	if err != nil {
		return answer{}, err
	}
	h.deliveries[m.ID]++
	env, err := json.Marshal(map[string]any{
		"Data": map[string]any{"message": string(body)},
		"Metadata": map[string]any{
			"MessageId":     strconv.Quote(m.ID),
			"DeliveryCount": strconv.Itoa(h.deliveries[m.ID]),
			"Subject":       strconv.Quote(string(m.Kind)),
		},
	})
	if err != nil {
		return answer{}, err
	}
	a, err := h.invoke(ctx, "RemediationJobs", env)
	if err != nil {
		return answer{}, err
	}
	if a.status >= 300 {
		if h.deliveries[m.ID] >= 10 {
			h.dead = append(h.dead, m)
		} else {
			h.queue.Requeue(m)
		}
	}
	return a, nil
}

// runUntil lets simulated time pass until t, delivering each message when
// it becomes due; print receives every answer.
func (h *host) runUntil(ctx context.Context, t time.Time, print func(time.Time, guard.Message, answer)) error {
	for {
		next, ok := h.queue.Next()
		if !ok || next.After(t) {
			break
		}
		if next.After(h.clock.Now()) {
			h.clock.set(next)
		}
		for _, m := range h.queue.Due(h.clock.Now()) {
			a, err := h.deliver(ctx, m)
			if err != nil {
				return err
			}
			print(h.clock.Now(), m, a)
		}
	}
	if t.After(h.clock.Now()) {
		h.clock.set(t)
	}
	return nil
}
