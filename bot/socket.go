package bot

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// runSocket serves Slack over Socket Mode until ctx ends: slack-go dials
// apps.connections.open's websocket and reconnects on Slack's request; this
// loop acknowledges each envelope as soon as it has queued its work.
func (b *Bot) runSocket(ctx context.Context) error {
	client := socketmode.New(b.api, socketmode.OptionLog(slog.NewLogLogger(b.log.Handler(), slog.LevelDebug)))
	runErr := make(chan error, 1)
	go func() { runErr <- client.RunContext(ctx) }()
	for {
		select {
		case <-ctx.Done():
			// RunContext returns once it sees ctx; the envelopes it had not
			// handed over are unacknowledged, and Slack redelivers them.
			<-runErr
			return nil
		case err := <-runErr:
			if ctx.Err() != nil || errors.Is(err, context.Canceled) {
				return nil
			}
			return socketError(err)
		case evt := <-client.Events:
			b.socketEvent(ctx, client, evt)
		}
	}
}

func socketError(err error) error {
	if se := slackErrorCode(err); se != "" {
		return errors.New("bot: Socket Mode: Slack refused the app-level token (" + se + "): check CACHECK_SLACK_APP_TOKEN")
	}
	return errors.New("bot: Socket Mode: " + err.Error())
}

func (b *Bot) socketEvent(ctx context.Context, client *socketmode.Client, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeConnecting:
		b.log.Debug("Socket Mode connecting")
		return
	case socketmode.EventTypeConnected:
		b.log.Info("Socket Mode connected")
		return
	case socketmode.EventTypeConnectionError, socketmode.EventTypeIncomingError, socketmode.EventTypeErrorBadMessage, socketmode.EventTypeErrorWriteFailed:
		b.m.errors.WithLabelValues("socket").Inc()
		b.log.Warn("Socket Mode trouble", "type", evt.Type)
		return
	case socketmode.EventTypeInvalidAuth:
		b.log.Error("Socket Mode: Slack refused the app-level token")
		return
	}
	if evt.Request == nil {
		return
	}
	start := time.Now()
	ctx = withRequestID(ctx, evt.Request.EnvelopeID)
	var payload any
	delivery := ""
	switch evt.Type {
	case socketmode.EventTypeSlashCommand:
		delivery = "command"
		if cmd, ok := evt.Data.(slack.SlashCommand); ok {
			if ack := b.command(ctx, cmd); ack != nil {
				payload = ack
			}
		}
	case socketmode.EventTypeEventsAPI:
		delivery = "event"
		if ev, ok := evt.Data.(slackevents.EventsAPIEvent); ok {
			if evt.Request.RetryAttempt > 0 {
				b.logger(ctx).Info("redelivered event", "retry", evt.Request.RetryAttempt, "reason", evt.Request.RetryReason)
			}
			// Socket Mode has no "retry later": a full queue loses the
			// event, and the metric says so.
			b.event(ctx, ev)
		}
	case socketmode.EventTypeInteractive:
		delivery = "interaction"
		if cb, ok := evt.Data.(slack.InteractionCallback); ok {
			payload = b.interaction(ctx, cb)
		}
	case socketmode.EventTypeHello, socketmode.EventTypeDisconnect:
		return
	default:
		delivery = "other"
	}
	if err := client.AckCtx(ctx, evt.Request.EnvelopeID, payload); err != nil {
		b.m.errors.WithLabelValues("socket").Inc()
		b.logger(ctx).Warn("Socket Mode ack failed", "err", err)
	}
	b.m.observeAck(delivery, start)
}
