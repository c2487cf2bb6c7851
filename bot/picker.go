package bot

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/cacheck/ca-check/diagnose"
)

// pickPrefix starts the block_id of a picker's actions block, which carries
// the pasted errors to the click so that nothing has to be stored for a
// question that may never be answered.
const pickPrefix = "pick?"

// suggestTimeout bounds the Customers call behind an external select: Slack
// drops option responses that take more than 3 seconds.
const suggestTimeout = 2 * time.Second

// askTenant posts the customer picker where the answer would go.
func (b *Bot) askTenant(ctx context.Context, dst destination, q question) {
	customers, err := b.diag.Customers(ctx)
	if err != nil {
		b.logger(ctx).Warn("listing GDAP customers failed", "code", diagnose.ErrorCode(err), "err", err)
	}
	msg := pickerMessage(customers, encodePick(q.Errors), err != nil)
	pub := dst
	pub.UpdateTS = ""
	b.deliver(ctx, pub, msg)
}

// encodePick packs what the scenario needs from the pasted errors into at
// most maxBlockID characters: every code, and the correlation ID, app, IP,
// platform, time, flow and claims-challenge policy IDs of the error the
// scenario is taken from. What does not fit is dropped, least useful first.
func encodePick(errs []diagnose.SignInError) string {
	if len(errs) == 0 {
		return pickPrefix
	}
	// The scenario's error first, so that decoding restores it first.
	lead := 0
	for i, e := range errs {
		if e.Category == diagnose.CategoryConditionalAccess {
			lead = i
			break
		}
	}
	e := errs[lead]
	codes := []string{strconv.Itoa(e.Code)}
	for i, x := range errs {
		if i != lead {
			codes = append(codes, strconv.Itoa(x.Code))
		}
	}
	v := url.Values{}
	v.Set("c", strings.Join(codes, ","))
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("r", e.CorrelationID)
	set("a", e.AppID)
	set("i", e.IPAddress)
	set("p", e.DevicePlatform)
	if e.DeviceCodeFlow {
		v.Set("f", "1")
	}
	if !e.Timestamp.IsZero() {
		v.Set("t", strconv.FormatInt(e.Timestamp.Unix(), 10))
	}
	set("x", strings.Join(e.PolicyIDs, ","))
	for _, k := range []string{"p", "i", "t", "a", "f", "x", "r"} {
		if len(pickPrefix)+len(v.Encode()) <= maxBlockID {
			break
		}
		v.Del(k)
	}
	for len(pickPrefix)+len(v.Encode()) > maxBlockID && len(codes) > 1 {
		codes = codes[:len(codes)-1]
		v.Set("c", strings.Join(codes, ","))
	}
	return pickPrefix + v.Encode()
}

// decodePick restores the errors encodePick packed, each with what
// LookupCode knows of its code.
func decodePick(blockID string) []diagnose.SignInError {
	raw, ok := strings.CutPrefix(blockID, pickPrefix)
	if !ok {
		return nil
	}
	v, err := url.ParseQuery(raw)
	if err != nil {
		return nil
	}
	var errs []diagnose.SignInError
	for s := range strings.SplitSeq(v.Get("c"), ",") {
		code, err := strconv.Atoi(s)
		if err != nil || code <= 0 {
			continue
		}
		info := diagnose.LookupCode(code)
		errs = append(errs, diagnose.SignInError{Code: code, Name: info.Name, Category: info.Category})
	}
	if len(errs) > 0 {
		e := &errs[0]
		e.CorrelationID = v.Get("r")
		e.AppID = v.Get("a")
		e.IPAddress = v.Get("i")
		e.DevicePlatform = v.Get("p")
		e.DeviceCodeFlow = v.Get("f") == "1"
		if t, err := strconv.ParseInt(v.Get("t"), 10, 64); err == nil {
			e.Timestamp = time.Unix(t, 0).UTC()
		}
		if x := v.Get("x"); x != "" {
			e.PolicyIDs = strings.Split(x, ",")
		}
	}
	return errs
}

// suggest answers an external select's search with matching customers,
// for those who may ask; anyone else gets no options.
func (b *Bot) suggest(ctx context.Context, who asker, channel, query string) *slack.OptionsResponse {
	ctx, cancel := context.WithTimeout(ctx, suggestTimeout)
	defer cancel()
	if why := b.mayAsk(ctx, who); why != "" {
		b.refused(ctx, refusal{asker: who, Channel: channel, Path: "picker", Why: why})
		return &slack.OptionsResponse{Options: []*slack.OptionBlockObject{}}
	}
	customers, err := b.diag.Customers(ctx)
	if err != nil {
		b.logger(ctx).Warn("listing GDAP customers for the picker failed", "code", diagnose.ErrorCode(err), "err", err)
		return &slack.OptionsResponse{Options: []*slack.OptionBlockObject{}}
	}
	return &slack.OptionsResponse{Options: customerOptions(customers, strings.TrimSpace(query), maxOptions)}
}
