package slacktest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/slack-go/slack"
)

// Call is one request the fake received.
type Call struct {
	// Seq is the call's position among all recorded calls.
	Seq    int
	Method string // "chat.postMessage", … or MethodResponseURL
	// Token is the token the client sent (form field or bearer header).
	Token string
	// Header is the request's headers (User-Agent, …).
	Header http.Header
	// Args are the form fields; for a JSON body, its top-level properties
	// (strings as they are, other values as JSON text).
	Args url.Values
	// JSON is the decoded body when it was JSON.
	JSON map[string]any
	// Blocks are the message's blocks, or the published view's.
	Blocks slack.Blocks
	// Body is the raw request body.
	Body []byte
	// Error is the Slack error code the fake answered with, if it failed
	// the call on purpose.
	Error string
}

// Arg returns the form field or top-level JSON property name.
func (c Call) Arg(name string) string { return c.Args.Get(name) }

// Texts returns every text in the message as Slack would render it: the
// text argument and each "text" of the blocks and their elements (sections,
// fields, context, buttons, options), in document order.
func (c Call) Texts() []string {
	var out []string
	if t := c.Args.Get("text"); t != "" {
		out = append(out, t)
	}
	raw, err := json.Marshal(c.Blocks)
	if err != nil {
		return out
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return out
	}
	collectTexts(v, &out)
	return out
}

// Text returns Texts joined by newlines, for Contains-style assertions.
func (c Call) Text() string { return strings.Join(c.Texts(), "\n") }

func collectTexts(v any, out *[]string) {
	switch v := v.(type) {
	case map[string]any:
		if t, ok := v["text"].(string); ok {
			*out = append(*out, t)
		}
		for k, e := range v {
			if k == "text" {
				if _, isString := e.(string); isString {
					continue
				}
			}
			collectTexts(e, out)
		}
	case []any:
		for _, e := range v {
			collectTexts(e, out)
		}
	}
}

// ActionIDs returns the action_id of every interactive element in the
// blocks, with their values, as "action_id=value".
func (c Call) ActionIDs() []string {
	var out []string
	for _, b := range c.Blocks.BlockSet {
		switch b := b.(type) {
		case *slack.ActionBlock:
			if b.Elements == nil {
				continue
			}
			for _, e := range b.Elements.ElementSet {
				switch e := e.(type) {
				case *slack.ButtonBlockElement:
					out = append(out, e.ActionID+"="+e.Value)
				case *slack.SelectBlockElement:
					out = append(out, e.ActionID+"=")
				}
			}
		case *slack.SectionBlock:
			if b.Accessory == nil {
				continue
			}
			if e := b.Accessory.ButtonElement; e != nil {
				out = append(out, e.ActionID+"="+e.Value)
			}
			if e := b.Accessory.SelectElement; e != nil {
				out = append(out, e.ActionID+"=")
			}
		}
	}
	return out
}

// Button returns the button with actionID in the blocks, and the block ID of
// the block holding it.
func (c Call) Button(actionID string) (btn *slack.ButtonBlockElement, blockID string) {
	for _, b := range c.Blocks.BlockSet {
		switch b := b.(type) {
		case *slack.ActionBlock:
			if b.Elements == nil {
				continue
			}
			for _, e := range b.Elements.ElementSet {
				if e, ok := e.(*slack.ButtonBlockElement); ok && e.ActionID == actionID {
					return e, b.BlockID
				}
			}
		case *slack.SectionBlock:
			if b.Accessory != nil && b.Accessory.ButtonElement != nil && b.Accessory.ButtonElement.ActionID == actionID {
				return b.Accessory.ButtonElement, b.BlockID
			}
		}
	}
	return nil, ""
}

// Select returns the select menu with actionID in the blocks, and the block
// ID of the block holding it.
func (c Call) Select(actionID string) (sel *slack.SelectBlockElement, blockID string) {
	for _, b := range c.Blocks.BlockSet {
		switch b := b.(type) {
		case *slack.ActionBlock:
			if b.Elements == nil {
				continue
			}
			for _, e := range b.Elements.ElementSet {
				if e, ok := e.(*slack.SelectBlockElement); ok && e.ActionID == actionID {
					return e, b.BlockID
				}
			}
		case *slack.SectionBlock:
			if b.Accessory != nil && b.Accessory.SelectElement != nil && b.Accessory.SelectElement.ActionID == actionID {
				return b.Accessory.SelectElement, b.BlockID
			}
		}
	}
	return nil, ""
}
