package sender

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// DryRunRequest is one line of --dry-run output: the request that would be
// sent, without the access token.
type DryRunRequest struct {
	Method  string  `json:"method"`
	Path    string  `json:"path"`
	Room    string  `json:"room"`
	TxnID   string  `json:"txn_id"`
	Content Content `json:"content"`
}

// WriteDryRun prints one JSON object per message, one per line, in message
// order (not concurrently, so the output is stable).
func WriteDryRun(w io.Writer, msgs []Message) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, m := range msgs {
		req := DryRunRequest{
			Method:  "PUT",
			Path:    SendPath(m.Room, m.TxnID),
			Room:    m.Room,
			TxnID:   m.TxnID,
			Content: m.Content,
		}
		if err := enc.Encode(req); err != nil {
			return fmt.Errorf("dry run: %w", err)
		}
	}
	return nil
}

// DryRunTransport prints each message as WriteDryRun does instead of sending
// it, for long-running modes (serve) where messages arrive concurrently.
type DryRunTransport struct {
	mu sync.Mutex
	W  io.Writer
}

// Send implements Transport.
func (t *DryRunTransport) Send(_ context.Context, m Message) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := WriteDryRun(t.W, []Message{m}); err != nil {
		return "", err
	}
	return "$dry-run-" + m.TxnID, nil
}
