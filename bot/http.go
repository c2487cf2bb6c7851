package bot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
)

// maxBodyBytes bounds a Slack delivery. Slash commands and events carry at
// most a 40,000-character message; interaction payloads repeat the message
// they came from. 1 MiB leaves room and still refuses abuse.
const maxBodyBytes = 1 << 20

// Handler returns the HTTP handler for Slack's deliveries in HTTP mode:
// POST /slack/commands, /slack/events and /slack/interactions, each verified
// against the signing secret. Run serves it on Config.HTTPAddr; it is
// exported for embedding and tests.
func (b *Bot) Handler() http.Handler {
	b.handlerOnce.Do(func() {
		mux := http.NewServeMux()
		mux.Handle("POST /slack/commands", b.m.instrument("commands", b.verify(http.HandlerFunc(b.serveCommand))))
		mux.Handle("POST /slack/events", b.m.instrument("events", b.verify(http.HandlerFunc(b.serveEvent))))
		mux.Handle("POST /slack/interactions", b.m.instrument("interactions", b.verify(http.HandlerFunc(b.serveInteraction))))
		if b.cfg.HealthAddr == b.cfg.HTTPAddr {
			health := b.HealthHandler()
			mux.Handle("/healthz", health)
			mux.Handle("/readyz", health)
			mux.Handle("/metrics", health)
		}
		b.handler = b.recoverPanics(withRequestIDs(mux))
	})
	return b.handler
}

// HealthHandler serves /healthz (the process is up), /readyz (the store
// answers and Slack accepted the token) and /metrics.
func (b *Bot) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", b.serveReady)
	mux.Handle("GET /metrics", b.m.handler())
	return mux
}

func (b *Bot) serveReady(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var probs []string
	if b.self.Load() == nil {
		probs = append(probs, "slack: auth.test has not succeeded yet")
	}
	if err := b.store.Ping(ctx); err != nil {
		probs = append(probs, "store: "+err.Error())
	}
	if len(probs) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, p := range probs {
			fmt.Fprintln(w, p)
		}
		return
	}
	io.WriteString(w, "ready\n")
}

// withRequestIDs gives every request an ID that all its log lines carry, the
// work it queued included. Slack sends none, so one is made and echoed in
// X-Request-Id.
func withRequestIDs(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(withRequestID(r.Context(), id)))
	})
}

// recoverPanics turns a handler's panic into a 500 and a log line, and keeps
// serving.
func (b *Bot) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				b.m.errors.WithLabelValues("panic").Inc()
				b.logger(r.Context()).Error("handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// verify admits only requests signed with the signing secret within Slack's
// 5-minute replay window, bodies up to maxBodyBytes. The verified body is
// put back for the handler.
func (b *Bot) verify(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
				return
			}
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		sv, err := slack.NewSecretsVerifier(r.Header, b.cfg.SigningSecret)
		if err == nil {
			_, _ = sv.Write(body)
			err = sv.Ensure()
		}
		if err != nil {
			b.m.errors.WithLabelValues("signature").Inc()
			// The reason only: never the signature, the secret or the body.
			b.logger(r.Context()).Warn("refused an unsigned or stale request", "path", r.URL.Path, "reason", err.Error(), "body_len", len(body))
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func (b *Bot) serveCommand(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer b.m.observeAck("command", start)
	cmd, err := slack.SlashCommandParse(r)
	if err != nil {
		http.Error(w, "malformed slash command", http.StatusBadRequest)
		return
	}
	ack := b.command(r.Context(), cmd)
	if ack == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, ack)
}

func (b *Bot) serveEvent(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer b.m.observeAck("event", start)
	body, _ := io.ReadAll(r.Body)
	ev, err := slackevents.ParseEvent(body, slackevents.OptionNoVerifyToken())
	if err != nil {
		// An event type slack-go does not know is not an error of Slack's:
		// acknowledge it so Slack does not retry.
		b.logger(r.Context()).Debug("unparsed event", "err", err)
		w.WriteHeader(http.StatusOK)
		return
	}
	switch ev.Type {
	case slackevents.URLVerification:
		ch, _ := ev.Data.(*slackevents.EventsAPIURLVerificationEvent)
		if ch == nil {
			http.Error(w, "malformed url_verification", http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]string{"challenge": ch.Challenge})
		return
	case slackevents.CallbackEvent:
		if retry := r.Header.Get("X-Slack-Retry-Num"); retry != "" {
			b.logger(r.Context()).Info("redelivered event", "retry", retry, "reason", r.Header.Get("X-Slack-Retry-Reason"))
		}
		if !b.event(r.Context(), ev) {
			// Full: let Slack redeliver later rather than lose the event.
			w.Header().Set("Retry-After", "30")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
	}
	w.WriteHeader(http.StatusOK)
}

func (b *Bot) serveInteraction(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer b.m.observeAck("interaction", start)
	cb, err := slack.InteractionCallbackParse(r)
	if err != nil {
		http.Error(w, "malformed interaction payload", http.StatusBadRequest)
		return
	}
	if payload := b.interaction(r.Context(), cb); payload != nil {
		writeJSON(w, payload)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}
