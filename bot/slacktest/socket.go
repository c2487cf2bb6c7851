package slacktest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/slack-go/slack"
)

// Socket Mode envelope types.
const (
	EnvelopeSlashCommand = "slash_commands"
	EnvelopeEventsAPI    = "events_api"
	EnvelopeInteractive  = "interactive"
)

// Envelope is one Socket Mode request to deliver to the connected app.
type Envelope struct {
	Type    string // EnvelopeSlashCommand, EnvelopeEventsAPI or EnvelopeInteractive
	Payload any    // marshalled as the envelope's payload
	// RetryAttempt and RetryReason mark a redelivery (events_api only).
	RetryAttempt int
	RetryReason  string
}

// Ack is the app's acknowledgement of an envelope.
type Ack struct {
	EnvelopeID string
	// Payload is the response payload, empty when the app acked without one.
	Payload json.RawMessage
	// Latency is the time from writing the envelope to reading the ack.
	Latency time.Duration
}

type socket struct {
	conn *websocket.Conn
	wmu  sync.Mutex // gorilla/websocket allows one writer at a time
	done chan struct{}
	once sync.Once
}

func (s *socket) write(v any) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return s.conn.WriteJSON(v)
}

func (s *socket) ping() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.conn.WriteControl(websocket.PingMessage, []byte("ping"), time.Now().Add(5*time.Second))
}

func (s *socket) close() {
	s.once.Do(func() {
		close(s.done)
		_ = s.conn.Close()
	})
}

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	sock := &socket{conn: conn, done: make(chan struct{})}
	s.mu.Lock()
	old := s.sock
	s.sock = sock
	select {
	case <-s.sockWait:
	default:
		close(s.sockWait)
	}
	interval := s.pingInterval
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
	_ = sock.write(map[string]any{
		"type":            "hello",
		"num_connections": 1,
		"connection_info": map[string]any{"app_id": AppID},
		"debug_info":      map[string]any{"host": "slacktest"},
	})
	_ = sock.ping() // slack-go's dead-man timer starts at the first ping
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-sock.done:
				return
			case <-t.C:
				if sock.ping() != nil {
					return
				}
			}
		}
	}()
	defer sock.close()
	for {
		var ack struct {
			EnvelopeID string          `json:"envelope_id"`
			Payload    json.RawMessage `json:"payload"`
		}
		if err := conn.ReadJSON(&ack); err != nil {
			return
		}
		s.mu.Lock()
		ch := s.acks[ack.EnvelopeID]
		delete(s.acks, ack.EnvelopeID)
		s.mu.Unlock()
		if ch != nil {
			ch <- ack.Payload
		}
	}
}

// WaitConnected waits for a Socket Mode client to connect.
func (s *Server) WaitConnected(ctx context.Context) error {
	select {
	case <-s.sockWait:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("slacktest: no Socket Mode connection: %w", ctx.Err())
	}
}

// Deliver sends env to the connected Socket Mode client (waiting for one to
// connect) and waits for its ack.
func (s *Server) Deliver(ctx context.Context, env Envelope) (Ack, error) {
	if err := s.WaitConnected(ctx); err != nil {
		return Ack{}, err
	}
	payload, err := json.Marshal(env.Payload)
	if err != nil {
		return Ack{}, fmt.Errorf("slacktest: payload: %w", err)
	}
	ch := make(chan json.RawMessage, 1)
	s.mu.Lock()
	s.envSeq++
	id := fmt.Sprintf("env-%06d", s.envSeq)
	s.acks[id] = ch
	sock := s.sock
	s.mu.Unlock()
	msg := map[string]any{
		"type":                     env.Type,
		"envelope_id":              id,
		"payload":                  json.RawMessage(payload),
		"accepts_response_payload": env.Type != EnvelopeEventsAPI,
	}
	if env.RetryAttempt > 0 {
		msg["retry_attempt"] = env.RetryAttempt
		msg["retry_reason"] = env.RetryReason
	}
	start := time.Now()
	if err := sock.write(msg); err != nil {
		return Ack{}, fmt.Errorf("slacktest: write envelope: %w", err)
	}
	select {
	case p := <-ch:
		ack := Ack{EnvelopeID: id, Latency: time.Since(start)}
		if len(p) > 0 && string(p) != "null" {
			ack.Payload = p
		}
		return ack, nil
	case <-ctx.Done():
		s.mu.Lock()
		delete(s.acks, id)
		s.mu.Unlock()
		return Ack{}, fmt.Errorf("slacktest: no ack for %s envelope %s: %w", env.Type, id, ctx.Err())
	}
}

// SlashCommand delivers cmd over Socket Mode and returns the ack.
func (s *Server) SlashCommand(ctx context.Context, cmd slack.SlashCommand) (Ack, error) {
	return s.Deliver(ctx, Envelope{Type: EnvelopeSlashCommand, Payload: fillCommand(s, cmd)})
}

// Event delivers an Events API callback over Socket Mode and returns the ack.
func (s *Server) Event(ctx context.Context, eventID string, inner any) (Ack, error) {
	return s.Deliver(ctx, Envelope{Type: EnvelopeEventsAPI, Payload: EventCallback(eventID, inner)})
}

// Interaction delivers an interaction payload over Socket Mode and returns
// the ack.
func (s *Server) Interaction(ctx context.Context, cb slack.InteractionCallback) (Ack, error) {
	return s.Deliver(ctx, Envelope{Type: EnvelopeInteractive, Payload: &cb})
}

// fillCommand sets the fields Slack always sends that a test may leave out.
func fillCommand(s *Server, cmd slack.SlashCommand) slack.SlashCommand {
	if cmd.Command == "" {
		cmd.Command = "/ca-check"
	}
	if cmd.TeamID == "" {
		cmd.TeamID = TeamID
	}
	if cmd.APIAppID == "" {
		cmd.APIAppID = AppID
	}
	if cmd.ResponseURL == "" {
		cmd.ResponseURL = s.ResponseURL("cmd-" + cmd.UserID + "-" + cmd.ChannelID)
	}
	if cmd.TriggerID == "" {
		cmd.TriggerID = "trigger-" + cmd.UserID
	}
	return cmd
}
