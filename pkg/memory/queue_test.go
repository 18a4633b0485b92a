package memory_test

import (
	"testing"
	"time"

	"github.com/aksguard/aksguard/pkg/guard"
	"github.com/aksguard/aksguard/pkg/memory"
)

// TestQueueForgetsAfterItsWindow: as Service Bus's duplicate detection
// does, a message ID sent again within the window is dropped, after it is
// accepted.
func TestQueueForgetsAfterItsWindow(t *testing.T) {
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	q := memory.NewQueueWindow(func() time.Time { return now }, 10*time.Minute)
	send := func() {
		if err := q.Send(t.Context(), guard.Message{ID: "job-1-wake-2", Kind: guard.MessageJob}); err != nil {
			t.Fatal(err)
		}
	}
	send()
	now = now.Add(9 * time.Minute)
	send()
	if n := len(q.Sent()); n != 1 {
		t.Fatalf("within the window: %d messages accepted, want 1", n)
	}
	now = now.Add(time.Minute)
	send()
	if n := len(q.Sent()); n != 2 {
		t.Errorf("after the window: %d messages accepted, want 2", n)
	}
	forever := memory.NewQueue()
	for range 2 {
		_ = forever.Send(t.Context(), guard.Message{ID: "m"})
	}
	if n := len(forever.Sent()); n != 1 {
		t.Errorf("NewQueue accepted %d copies, want 1", n)
	}
}
