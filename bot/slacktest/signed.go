package slacktest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/slack-go/slack"
)

// Sign sets Slack's v0 request signature headers on req for body, signed with
// secret at time at; a zero at means now. A stale at produces the request a
// replay would.
func Sign(req *http.Request, secret string, body []byte, at time.Time) {
	if at.IsZero() {
		at = time.Now()
	}
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:", ts)
	mac.Write(body)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
}

// NewSignedRequest returns a POST of body to target, signed as Slack would.
func NewSignedRequest(target, secret, contentType string, body []byte, at time.Time) *http.Request {
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		panic(err) // a test's URL is a constant; a bad one is a bug in the test
	}
	req.Header.Set("Content-Type", contentType)
	Sign(req, secret, body, at)
	return req
}

// Content types of Slack's HTTP deliveries.
const (
	ContentForm = "application/x-www-form-urlencoded"
	ContentJSON = "application/json"
)

// CommandBody is the form body of a slash command delivery. Unset fields
// Slack always sends are filled in, the response_url pointing at s.
func (s *Server) CommandBody(cmd slack.SlashCommand) []byte {
	cmd = fillCommand(s, cmd)
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("token", cmd.Token)
	set("team_id", cmd.TeamID)
	set("team_domain", cmd.TeamDomain)
	set("enterprise_id", cmd.EnterpriseID)
	set("channel_id", cmd.ChannelID)
	set("channel_name", cmd.ChannelName)
	set("user_id", cmd.UserID)
	set("user_name", cmd.UserName)
	set("command", cmd.Command)
	v.Set("text", cmd.Text)
	set("response_url", cmd.ResponseURL)
	set("trigger_id", cmd.TriggerID)
	set("api_app_id", cmd.APIAppID)
	return []byte(v.Encode())
}

// EventCallback is the outer Events API body ("event_callback") around an
// inner event such as a slackevents.MessageEvent or a map.
func EventCallback(eventID string, inner any) json.RawMessage {
	b, err := json.Marshal(map[string]any{
		"token":      "unused-verification-token",
		"team_id":    TeamID,
		"api_app_id": AppID,
		"type":       "event_callback",
		"event_id":   eventID,
		"event_time": time.Now().Unix(),
		"event":      inner,
	})
	if err != nil {
		panic(err) // inner comes from a test; one that cannot marshal is a bug in it
	}
	return b
}

// URLVerification is the body of Slack's url_verification handshake.
func URLVerification(challenge string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"token": "unused", "challenge": challenge, "type": "url_verification"})
	return b
}

// InteractionBody is the form body of an interaction delivery.
func InteractionBody(cb slack.InteractionCallback) []byte {
	b, err := json.Marshal(&cb)
	if err != nil {
		panic(err)
	}
	return []byte(url.Values{"payload": {string(b)}}.Encode())
}

// Message is a plain user message event, as the Events API sends for
// message.channels. threadTS is empty for a top-level message.
func Message(channel, user, ts, threadTS, text string) map[string]any {
	m := map[string]any{
		"type":         "message",
		"channel":      channel,
		"user":         user,
		"text":         text,
		"ts":           ts,
		"event_ts":     ts,
		"channel_type": "channel",
	}
	if threadTS != "" {
		m["thread_ts"] = threadTS
	}
	return m
}

// BlockAction is a block_actions interaction: user clicked the element
// actionID (with value, in block blockID) on the bot's message at messageTS
// in channel.
func (s *Server) BlockAction(user, channel, messageTS, threadTS, blockID, actionID, value string) slack.InteractionCallback {
	return slack.InteractionCallback{
		Type:        slack.InteractionTypeBlockActions,
		User:        slack.User{ID: user, TeamID: TeamID},
		Team:        slack.Team{ID: TeamID},
		Channel:     slack.Channel{GroupConversation: slack.GroupConversation{Conversation: slack.Conversation{ID: channel}}},
		ResponseURL: s.ResponseURL("action-" + actionID),
		TriggerID:   "trigger-" + user,
		APIAppID:    AppID,
		Container:   slack.Container{Type: "message", MessageTs: messageTS, ThreadTs: threadTS, ChannelID: channel},
		Message:     slack.Message{Msg: slack.Msg{Timestamp: messageTS, ThreadTimestamp: threadTS, Channel: channel}},
		ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{
			ActionID: actionID, BlockID: blockID, Value: value, ActionTs: "1700000001.000000",
		}}},
	}
}

// SelectAction is a block_actions interaction choosing option value in the
// static or external select actionID.
func (s *Server) SelectAction(user, channel, messageTS, threadTS, blockID, actionID, value string) slack.InteractionCallback {
	cb := s.BlockAction(user, channel, messageTS, threadTS, blockID, actionID, "")
	cb.ActionCallback.BlockActions[0].SelectedOption = slack.OptionBlockObject{Value: value}
	return cb
}

// ViewSubmission is a view_submission interaction: user submitted the modal
// callbackID carrying privateMetadata, with values[blockID][actionID] typed
// into its inputs.
func (s *Server) ViewSubmission(user, callbackID, privateMetadata string, values map[string]map[string]string) slack.InteractionCallback {
	state := &slack.ViewState{Values: map[string]map[string]slack.BlockAction{}}
	for block, actions := range values {
		state.Values[block] = map[string]slack.BlockAction{}
		for action, v := range actions {
			state.Values[block][action] = slack.BlockAction{ActionID: action, BlockID: block, Type: "plain_text_input", Value: v}
		}
	}
	return slack.InteractionCallback{
		Type:      slack.InteractionTypeViewSubmission,
		User:      slack.User{ID: user, TeamID: TeamID},
		Team:      slack.Team{ID: TeamID},
		APIAppID:  AppID,
		TriggerID: "trigger-" + user,
		View: slack.View{
			ID: "V" + user, Type: slack.VTModal, CallbackID: callbackID, PrivateMetadata: privateMetadata, State: state,
		},
	}
}
