package main

import (
	"context"
	"fmt"

	"matrix-notify/sender"
)

// notSent is the transport of an alarm that must not be sent yet: every
// message fails with why, which the outbox keeps as its last error.
type notSent struct{ why error }

func (t notSent) Send(context.Context, sender.Message) (string, error) { return "", t.why }

// keep queues n in the outbox without sending it, for netdata's invocation
// whose configuration (a TOML file, a health_alarm_notify.conf) could not be
// read: what that file would have said (the homeserver, the token, rooms,
// templates) is unknown, but the alarm is not lost. It waits in the held
// outbox, which needs no token to keep it, until `matrix-notify flush`, run
// once the file is readable (or as root, who can read it), sends it with
// the configuration the file gives.
func (a *app) keep(ctx context.Context, c *invocationConfig, n sender.Notification) error {
	s := c.s
	a.log.Error(c.unreadable.Error())
	msgs := sender.Messages(n)
	if s.DryRun {
		return sender.WriteDryRun(a.stdout, msgs)
	}
	ob, err := a.openOutboxScope(s, heldScope)
	if err != nil {
		return fmt.Errorf("%w: %d notifications lost: %v", errNotDelivered, len(msgs), err)
	}
	rep := ob.Deliver(ctx, notSent{fmt.Errorf("not sent: %s could not be read", c.unreadableFile)}, msgs, s.Concurrency)
	queued := rep.Count(sender.OutcomeQueued)
	a.log.Warn(fmt.Sprintf("%d of %d notifications kept in %s, not sent, as %s could not be read: once it can, `matrix-notify flush` delivers them",
		queued, len(msgs), ob.Dir(), c.unreadableFile))
	return fmt.Errorf("%w: %d kept, %d of %d not kept", errNotDelivered, queued, len(msgs)-queued, len(msgs))
}
