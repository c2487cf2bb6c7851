package bot

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/diagnose"
)

// userMessage is the one place an error becomes Slack text: the error's own
// sentence (escaped, since it may quote what the user typed) plus what to do
// next by its code. Internal errors show a reference to the logs, never
// their text.
func userMessage(ctx context.Context, err error) string {
	msg := diagnose.EscapeMrkdwn(diagnose.ErrorMessage(err))
	switch diagnose.ErrorCode(err) {
	case diagnose.EINVALID:
		return ":warning: " + msg + "\nType `/ca-check help` for what I understand."
	case diagnose.ENOTFOUND:
		return ":mag: " + msg + "\nTry the tenant ID (a GUID), a verified domain such as `contoso.com`, or the customer's name as it appears in your GDAP relationships."
	case diagnose.EUNAUTHORIZED:
		return ":lock: " + msg
	case diagnose.ECONFLICT:
		return ":arrows_counterclockwise: " + msg
	case diagnose.EUNAVAILABLE:
		return ":hourglass: " + msg + "\nThis is usually temporary: try again in a minute."
	}
	ref := requestID(ctx)
	if ref == "" {
		return ":boom: Something went wrong on my side. Please try again; if it persists, tell whoever runs ca-check."
	}
	return ":boom: Something went wrong on my side (reference `" + ref + "`). Please try again; if it persists, tell whoever runs ca-check with that reference."
}

// consentURL finds the admin-consent link in a Graph access error's message
// (graphclient puts it there for a tenant that has not consented).
func consentURL(err error) string {
	m := consentRE.FindString(diagnose.ErrorMessage(err))
	return strings.TrimRight(m, ".,;)")
}

var consentRE = regexp.MustCompile(`https://[^\s<>|"']*/adminconsent[^\s<>|"']*`)

// noAccess reports whether err means the tenant's evidence cannot be read by
// the bot at all (not consented, GDAP expired, Graph down), as opposed to a
// mistake in the request: the answer then still explains the error.
func noAccess(err error) bool {
	switch diagnose.ErrorCode(err) {
	case diagnose.EUNAUTHORIZED, diagnose.EUNAVAILABLE:
		return true
	}
	return false
}

// apiError counts and logs a failed Slack Web API call.
func (b *Bot) apiError(ctx context.Context, method string, err error) {
	code := "transport"
	var se slack.SlackErrorResponse
	switch {
	case errors.As(err, &se):
		code = se.Err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = "cancelled"
	default:
		if _, ok := errors.AsType[*slack.RateLimitedError](err); ok {
			code = "ratelimited"
		} else if se, ok := errors.AsType[slack.StatusCodeError](err); ok {
			code = se.Status
		}
	}
	b.m.slackErrors.WithLabelValues(method, code).Inc()
	b.logger(ctx).Warn("Slack API call failed", "method", method, "slack_error", code, "err", err)
}

// slackErrorCode is the Slack error code of err ("not_in_channel"), or "".
func slackErrorCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// storeError counts and logs a store failure.
func (b *Bot) storeError(ctx context.Context, op string, err error) {
	b.m.errors.WithLabelValues("store").Inc()
	b.logger(ctx).Error("store failed", "op", op, "err", err)
}
