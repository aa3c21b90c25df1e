package sender

import "context"

// Preparer is a Transport that wants to see a batch of messages before they
// are sent one by one (as http.Flusher is an optional ResponseWriter): the
// delivery path (Outbox.Deliver, Outbox.Flush) calls Prepare once, after
// the messages are stored and before its fan-out. Prepare only makes the
// sends cheaper; a message that was not prepared is sent all the same.
// Decorators forward it (RetryTransport, LifecycleTransport).
type Preparer interface {
	Prepare(ctx context.Context, msgs []Message)
}

// Prepare calls t's Prepare if it has one and the end of its chain of
// decorators does something with the batch: over a plain MatrixTransport,
// the lifecycle layer would read every message's alert for nothing, one
// after another before the fan-out (and again in Send).
func Prepare(ctx context.Context, t Transport, msgs []Message) {
	if p, ok := t.(Preparer); ok && len(msgs) > 0 && prepares(t) {
		p.Prepare(ctx, msgs)
	}
}

// prepares reports whether what t's decorators forward the batch to is a
// Preparer.
func prepares(t Transport) bool {
	switch d := t.(type) {
	case *RetryTransport:
		return prepares(d.Next)
	case *LifecycleTransport:
		return prepares(d.Next)
	}
	_, ok := t.(Preparer)
	return ok
}

// Prepare implements Preparer: the batch goes to Next unchanged (a retry
// sends the same message).
func (t *RetryTransport) Prepare(ctx context.Context, msgs []Message) {
	Prepare(ctx, t.Next, msgs)
}

// Prepare implements Preparer: each message goes down as Send would send it
// now, related to what the store knows of its alert, so that an encrypted
// update is sealed with its relation. A message whose relation is only
// known once an earlier one is sent (a raise and its resolve in one batch)
// goes as it is; the layer below notices that Send's content differs and
// encrypts it again then.
func (t *LifecycleTransport) Prepare(ctx context.Context, msgs []Message) {
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		out[i] = m
		if lc, ok := t.life(ctx, m); ok {
			out[i].Content = lc.content
		}
	}
	Prepare(ctx, t.Next, out)
}
