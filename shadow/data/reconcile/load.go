package reconcile

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"
)

// The sides' LoadReader, for Throttle.
var (
	_ LoadReader = (*MariaDB)(nil)
	_ LoadReader = (*Postgres)(nil)
)

// Load implements LoadReader: Threads_running and, when lag is true and
// the server is a replica, Seconds_Behind_Master (SHOW SLAVE STATUS needs
// the REPLICATION CLIENT or SLAVE MONITOR privilege).
func (m *MariaDB) Load(ctx context.Context, lag bool) (Load, error) {
	var name string
	var running int
	err := m.cfg.DB.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Threads_running'").Scan(&name, &running)
	if err != nil {
		return Load{}, fmt.Errorf("status Threads_running: %w", err)
	}
	l := Load{Running: max(running-1, 0)} // the SHOW itself runs
	if !lag {
		return l, nil
	}
	rows, err := m.cfg.DB.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return Load{}, fmt.Errorf("replica status: %w", err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return Load{}, fmt.Errorf("replica status: %w", err)
	}
	at := -1
	for i, c := range cols {
		if c == "Seconds_Behind_Master" {
			at = i
		}
	}
	if at < 0 {
		return Load{}, fmt.Errorf("replica status: no Seconds_Behind_Master column")
	}
	vals := make([]sql.RawBytes, len(cols))
	dst := make([]any, len(cols))
	for i := range vals {
		dst[i] = &vals[i]
	}
	for rows.Next() { // one row on a replica, none on a primary
		if err := rows.Scan(dst...); err != nil {
			return Load{}, fmt.Errorf("replica status: %w", err)
		}
		l.Replica = true
		if vals[at] == nil {
			l.LagUnknown = true
			continue
		}
		s, err := strconv.ParseInt(string(vals[at]), 10, 64)
		if err != nil {
			return Load{}, fmt.Errorf("replica status: Seconds_Behind_Master %q: %w", vals[at], err)
		}
		l.Lag = max(l.Lag, time.Duration(s)*time.Second)
	}
	if err := rows.Err(); err != nil {
		return Load{}, fmt.Errorf("replica status: %w", err)
	}
	return l, nil
}

// pgLoadSQL counts active client backends other than its own and reads
// the replay lag of the physical standbys: a logical walsender (ficus's own
// capture among them) is bound to a database, a physical one is not. A role
// without pg_read_all_stats (pg_monitor) sees no state of other roles'
// sessions, so grant it to the reconcile user.
const pgLoadSQL = `SELECT
	(SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid())::int,
	(SELECT count(*) FROM pg_stat_replication r JOIN pg_stat_activity a ON a.pid = r.pid WHERE a.datname IS NULL)::int,
	(SELECT COALESCE(max(extract(epoch FROM r.replay_lag)), 0) FROM pg_stat_replication r
		JOIN pg_stat_activity a ON a.pid = r.pid WHERE a.datname IS NULL)::float8`

// Load implements LoadReader.
func (p *Postgres) Load(ctx context.Context, lag bool) (Load, error) {
	var running, standbys int
	var secs float64
	if err := p.cfg.Pool.queryRow(ctx, pgLoadSQL, []any{&running, &standbys, &secs}); err != nil {
		return Load{}, fmt.Errorf("pg_stat_activity: %w", err)
	}
	l := Load{Running: running}
	if lag && standbys > 0 {
		l.Replica, l.Lag = true, time.Duration(secs*float64(time.Second))
	}
	return l, nil
}

// loadReader returns s's LoadReader, or nil. A wrapper of a built-in side
// (a test's, say) that does not pass Load on has none.
func loadReader(s Side) LoadReader {
	if l, ok := s.(LoadReader); ok {
		return l
	}
	return nil
}
