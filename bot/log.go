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
