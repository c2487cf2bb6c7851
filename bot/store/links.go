package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Link is a Slack channel linked to a customer tenant: diagnoses asked in the
// channel default to that tenant.
type Link struct {
	ChannelID  string    // Slack channel ID; the key
	TenantID   string    // the customer tenant's ID
	TenantName string    // its display name, for messages
	LinkedBy   string    // Slack user ID of who linked it
	LinkedAt   time.Time // zero means now
}

// LinkChannel links l.ChannelID to l.TenantID, replacing any earlier link of
// the channel.
func (s *Store) LinkChannel(ctx context.Context, l Link) error {
	if err := required("channel ID", l.ChannelID); err != nil {
		return err
	}
	if err := required("tenant ID", l.TenantID); err != nil {
		return err
	}
	at, err := normTime(l.LinkedAt, "LinkedAt", true)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, s.d.rebind(`
		INSERT INTO channel_links (channel_id, tenant_id, tenant_name, linked_by, linked_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (channel_id) DO UPDATE SET
			tenant_id = excluded.tenant_id, tenant_name = excluded.tenant_name,
			linked_by = excluded.linked_by, linked_at = excluded.linked_at`),
		l.ChannelID, l.TenantID, l.TenantName, l.LinkedBy, s.d.timeArg(at))
	if err != nil {
		return fmt.Errorf("store: link channel %s: %w", l.ChannelID, err)
	}
	return nil
}

// UnlinkChannel removes the channel's link; ErrNotFound if it has none.
func (s *Store) UnlinkChannel(ctx context.Context, channelID string) error {
	if err := required("channel ID", channelID); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, s.d.rebind(`DELETE FROM channel_links WHERE channel_id = ?`), channelID)
	if err != nil {
		return fmt.Errorf("store: unlink channel %s: %w", channelID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: unlink channel %s: %w", channelID, err)
	}
	if n == 0 {
		return fmt.Errorf("channel %s has no link: %w", channelID, ErrNotFound)
	}
	return nil
}

const linkColumns = `channel_id, tenant_id, tenant_name, linked_by, linked_at`

func scanLink(row interface{ Scan(...any) error }) (Link, error) {
	var l Link
	err := row.Scan(&l.ChannelID, &l.TenantID, &l.TenantName, &l.LinkedBy, timeScanner{&l.LinkedAt})
	return l, err
}

// ChannelLink returns the channel's link; ErrNotFound if it has none.
func (s *Store) ChannelLink(ctx context.Context, channelID string) (Link, error) {
	if err := required("channel ID", channelID); err != nil {
		return Link{}, err
	}
	l, err := scanLink(s.rdb.QueryRowContext(ctx, s.d.rebind(`SELECT `+linkColumns+` FROM channel_links WHERE channel_id = ?`), channelID))
	if errors.Is(err, sql.ErrNoRows) {
		return Link{}, fmt.Errorf("channel %s has no link: %w", channelID, ErrNotFound)
	}
	if err != nil {
		return Link{}, fmt.Errorf("store: channel link %s: %w", channelID, err)
	}
	return l, nil
}

// Links returns every channel link, by channel ID.
func (s *Store) Links(ctx context.Context) ([]Link, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+linkColumns+` FROM channel_links ORDER BY channel_id`)
	if err != nil {
		return nil, fmt.Errorf("store: links: %w", err)
	}
	defer rows.Close()
	var ls []Link
	for rows.Next() {
		l, err := scanLink(rows)
		if err != nil {
			return nil, fmt.Errorf("store: links: %w", err)
		}
		ls = append(ls, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: links: %w", err)
	}
	return ls, nil
}
