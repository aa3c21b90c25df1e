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

// Prepare calls t's Prepare if it has one.
func Prepare(ctx context.Context, t Transport, msgs []Message) {
	if p, ok := t.(Preparer); ok && len(msgs) > 0 {
		p.Prepare(ctx, msgs)
	}
}

// prepares reports whether the transport at the end of t's decorators
// (each one's Unwrap, as http.ResponseController finds what a
// ResponseWriter wraps) is a Preparer. Over a plain MatrixTransport the
// lifecycle layer does not relate the batch before the fan-out: it would
// read every message's alert for nothing, one after another before the
// fan-out (and again in Send).
func prepares(t Transport) bool {
	for {
		d, ok := t.(interface{ Unwrap() Transport })
		if !ok {
			break
		}
		t = d.Unwrap()
	}
	_, ok := t.(Preparer)
	return ok
}

// Prepare implements Preparer: the batch goes to Next unchanged (a retry
// sends the same message).
func (t *RetryTransport) Prepare(ctx context.Context, msgs []Message) {
	Prepare(ctx, t.Next, msgs)
}

// Unwrap is the transport t decorates.
func (t *RetryTransport) Unwrap() Transport { return t.Next }

// Unwrap is the transport t decorates.
func (t *LifecycleTransport) Unwrap() Transport { return t.Next }

// Prepare implements Preparer: if a Preparer is below, each message goes
// down as Send would send it now, related to what the store knows of its
// alert, so that an encrypted update is sealed with its relation. A
// message whose relation is only known once an earlier one is sent (a
// raise and its resolve in one batch) goes as it is; the layer below
// notices that Send's content differs and encrypts it again then.
func (t *LifecycleTransport) Prepare(ctx context.Context, msgs []Message) {
	if !prepares(t.Next) {
		return
	}
	out := make([]Message, len(msgs))
	for i, m := range msgs {
		out[i] = m
		if lc, ok := t.life(ctx, m); ok {
			out[i].Content = lc.content
		}
	}
	Prepare(ctx, t.Next, out)
}
