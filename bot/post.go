package bot

import (
	"context"

	"github.com/slack-go/slack"
)

// deliver posts msg to dst: replacing dst.UpdateTS when set, else as a new
// message (in dst.ThreadTS's thread when set). When the bot cannot post in
// the channel (not a member, a DM it is not part of), it falls back to the
// response URL, visible to the channel. It returns the new message's ts when
// known.
func (b *Bot) deliver(ctx context.Context, dst destination, msg message) string {
	opts := []slack.MsgOption{slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...)}
	if dst.UpdateTS != "" {
		_, ts, _, err := b.api.UpdateMessageContext(ctx, dst.Channel, dst.UpdateTS, opts...)
		if err == nil {
			return ts
		}
		b.apiError(ctx, "chat.update", err)
		if dst.ResponseURL != "" {
			b.respond(ctx, dst.ResponseURL, msg, slack.ResponseTypeInChannel, true)
		}
		return ""
	}
	if dst.ThreadTS != "" {
		opts = append(opts, slack.MsgOptionTS(dst.ThreadTS))
	}
	_, ts, err := b.api.PostMessageContext(ctx, dst.Channel, opts...)
	if err == nil {
		return ts
	}
	b.apiError(ctx, "chat.postMessage", err)
	if dst.ResponseURL != "" && cannotPost(err) {
		b.respond(ctx, dst.ResponseURL, msg, slack.ResponseTypeInChannel, false)
	}
	return ""
}

// cannotPost reports whether err means the bot may not post in the channel,
// where the response URL still works.
func cannotPost(err error) bool {
	switch slackErrorCode(err) {
	case "not_in_channel", "channel_not_found", "is_archived", "restricted_action", "ekm_access_denied", "team_access_not_granted":
		return true
	}
	return false
}

// say tells dst a short mrkdwn text: privately to the asker when dst is
// private (a slash command), else where the answer would have gone.
func (b *Bot) say(ctx context.Context, dst destination, text string) {
	msg := message{Text: fallbackMrkdwn(text), Blocks: sections(text)}
	if dst.Private {
		b.whisper(ctx, dst, msg)
		return
	}
	dst.UpdateTS = ""
	b.deliver(ctx, dst, msg)
}

// whisper shows msg to dst.User alone: through the response URL when there
// is one (it works where the bot is not a member), else chat.postEphemeral.
func (b *Bot) whisper(ctx context.Context, dst destination, msg message) {
	if dst.ResponseURL != "" {
		b.respond(ctx, dst.ResponseURL, msg, slack.ResponseTypeEphemeral, false)
		return
	}
	opts := []slack.MsgOption{slack.MsgOptionText(msg.Text, false), slack.MsgOptionBlocks(msg.Blocks...)}
	if dst.ThreadTS != "" {
		opts = append(opts, slack.MsgOptionTS(dst.ThreadTS))
	}
	if _, err := b.api.PostEphemeralContext(ctx, dst.Channel, dst.User, opts...); err != nil {
		b.apiError(ctx, "chat.postEphemeral", err)
	}
}

// respond posts msg to a response URL. replace replaces the message the URL
// belongs to (a click's); otherwise a new message is added.
func (b *Bot) respond(ctx context.Context, responseURL string, msg message, responseType string, replace bool) {
	opts := []slack.MsgOption{
		slack.MsgOptionText(msg.Text, false),
		slack.MsgOptionBlocks(msg.Blocks...),
		slack.MsgOptionResponseURL(responseURL, responseType),
	}
	if replace {
		opts = append(opts, slack.MsgOptionReplaceOriginal(responseURL))
	}
	if _, _, err := b.api.PostMessageContext(ctx, "", opts...); err != nil {
		b.apiError(ctx, "response_url", err)
	}
}

// postAll posts msgs in dst's thread, in order, stopping at the first
// failure (later parts without earlier ones would mislead).
func (b *Bot) postAll(ctx context.Context, dst destination, msgs []message) {
	dst.UpdateTS = ""
	for _, m := range msgs {
		if b.deliver(ctx, dst, m) == "" && dst.ResponseURL == "" {
			return
		}
	}
}

// fallbackMrkdwn is notification text for a mrkdwn text we wrote, whose
// user parts are already escaped.
func fallbackMrkdwn(s string) string {
	return truncateMrkdwn(s, maxFallbackText)
}
