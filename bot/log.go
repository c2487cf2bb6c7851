package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
)

type ctxKey int

const requestIDKey ctxKey = iota

// withRequestID returns ctx carrying id, which every log line of the
// delivery's work repeats, so one answer's lines can be found together.
func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// logger is base with the request ID of ctx. Log lines never carry tokens,
// secrets or pasted text: lengths and codes only.
func logger(ctx context.Context, base *slog.Logger) *slog.Logger {
	if id := requestID(ctx); id != "" {
		return base.With("request_id", id)
	}
	return base
}

func (b *Bot) logger(ctx context.Context) *slog.Logger { return logger(ctx, b.log) }

// requestIDHandler adds the request ID of each record's context, for
// loggers used by code that only passes the context along (the approval
// service).
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
