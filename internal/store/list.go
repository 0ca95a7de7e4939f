package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-dev/vigil/internal/check"
	"github.com/vigil-dev/vigil/internal/registry"
)

// maxServiceCursor bounds a services cursor before it is decoded: a name
// is at most 200 characters (800 bytes) and an id far less.
const maxServiceCursor = 2048

// serviceWhere builds the WHERE clause of a listing from f, with only the
// conditions f asks for. A catch-all condition per filter (empty means
// any) would be one cached generic plan for every call, and that plan
// cannot use the trigram index for a name that happens to be set.
type serviceWhere struct {
	conds []string
	args  []any
}

func newServiceWhere(f registry.ListFilter) *serviceWhere {
	w := &serviceWhere{conds: []string{"s.deleted_at IS NULL"}}
	if f.Tag != "" {
		w.add("s.tags @> ARRAY[%s]::text[]", f.Tag)
	}
	if f.State != "" {
		w.add("cs.state = %s", string(f.State))
	}
	if f.Name != "" {
		w.add(`s.name ILIKE %s`, "%"+escapeLike(f.Name)+"%")
	}
	return w
}

// add appends a condition whose one %s is the next placeholder.
func (w *serviceWhere) add(cond string, arg any) {
	w.args = append(w.args, arg)
	w.conds = append(w.conds, fmt.Sprintf(cond, "$"+strconv.Itoa(len(w.args))))
}

func (w *serviceWhere) placeholder(arg any) string {
	w.args = append(w.args, arg)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *serviceWhere) String() string { return " WHERE " + strings.Join(w.conds, " AND ") }

// escapeLike makes q match literally inside a LIKE pattern (whose escape
// character is the backslash): a search for "50%" is not a wildcard.
func escapeLike(q string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q)
}

// serviceOrder is the listing order. Byte order (COLLATE "C") is the same
// on every database whatever its locale, and the services_list index
// (migration 0007) serves exactly it, so a page reads only its own rows.
const serviceOrder = ` ORDER BY s.name COLLATE "C", s.id`

// ListServices returns every active service that f selects, in name
// order. It is for callers that need them all (seeding metrics); the REST
// API pages with PageServices.
func (s *Store) ListServices(ctx context.Context, f registry.ListFilter) ([]registry.Service, error) {
	w := newServiceWhere(f)
	rows, err := s.pool.Query(ctx, `SELECT `+serviceColumns+serviceFrom+w.String()+serviceOrder, w.args...)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	out, err := collectServices(rows)
	if err == nil {
		err = s.withRegionStates(ctx, out)
	}
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	return out, nil
}

// PageServices returns one page of the active services q selects, in name
// order, and the cursor of the next page ("" after the last). Paging is by
// keyset, the last (name, id) returned: a service registered or deleted
// while a client pages neither repeats nor hides another, it is simply on
// its page or not.
func (s *Store) PageServices(ctx context.Context, q registry.ServiceQuery) ([]registry.Service, string, error) {
	limit := clampLimit(q.Limit)
	w := newServiceWhere(q.ListFilter)
	if q.Cursor != "" {
		name, id, err := decodeServiceCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		w.conds = append(w.conds, fmt.Sprintf(`(s.name COLLATE "C", s.id) > (%s::text COLLATE "C", %s::text)`,
			w.placeholder(name), w.placeholder(id)))
	}
	sql := `SELECT ` + serviceColumns + serviceFrom + w.String() + serviceOrder + ` LIMIT ` + w.placeholder(limit+1)
	rows, err := s.pool.Query(ctx, sql, w.args...)
	if err != nil {
		return nil, "", fmt.Errorf("page services: %w", err)
	}
	out, err := collectServices(rows)
	if err != nil {
		return nil, "", fmt.Errorf("page services: %w", err)
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeServiceCursor(out[limit-1].Name, out[limit-1].ID)
	}
	// One more query per page, and only for a page that holds a check
	// with regions.
	if err := s.withRegionStates(ctx, out); err != nil {
		return nil, "", fmt.Errorf("page services: %w", err)
	}
	return out, next, nil
}

// CountServices counts the active services f selects per state, in one
// grouped scan of services joined to check_state. f.State is ignored:
// the answer is the count of every state.
func (s *Store) CountServices(ctx context.Context, f registry.ListFilter) (registry.StateCounts, error) {
	f.State = ""
	w := newServiceWhere(f)
	// One statement, one snapshot: the counts and the newest transition id
	// they include.
	rows, err := s.pool.Query(ctx, `SELECT cs.state, count(*), (SELECT coalesce(max(id), 0) FROM transitions)`+
		serviceFrom+w.String()+` GROUP BY cs.state`, w.args...)
	if err != nil {
		return registry.StateCounts{}, fmt.Errorf("count services: %w", err)
	}
	defer rows.Close()
	out := registry.StateCounts{ByState: map[check.State]int64{}}
	for rows.Next() {
		var (
			state string
			n     int64
		)
		if err := rows.Scan(&state, &n, &out.LastTransitionID); err != nil {
			return registry.StateCounts{}, fmt.Errorf("count services: %w", err)
		}
		out.ByState[check.State(state)] = n
		out.Total += n
	}
	if err := rows.Err(); err != nil {
		return registry.StateCounts{}, fmt.Errorf("count services: %w", err)
	}
	return out, nil
}

func collectServices(rows pgx.Rows) ([]registry.Service, error) {
	defer rows.Close()
	out := []registry.Service{}
	for rows.Next() {
		sv, err := scanService(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sv)
	}
	return out, rows.Err()
}

// Services cursors are the last returned name and id, base64url-encoded
// behind a version prefix. Names and ids never hold a NUL (registration
// refuses control characters), so NUL separates them.
func encodeServiceCursor(name, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte("s1:" + name + "\x00" + id))
}

func decodeServiceCursor(c string) (name, id string, err error) {
	if len(c) > maxServiceCursor {
		return "", "", registry.ErrInvalidCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", "", registry.ErrInvalidCursor
	}
	rest, ok := strings.CutPrefix(string(raw), "s1:")
	if !ok {
		return "", "", registry.ErrInvalidCursor
	}
	name, id, ok = strings.Cut(rest, "\x00")
	if !ok || id == "" || check.HasControl(name) || check.HasControl(id) {
		return "", "", registry.ErrInvalidCursor
	}
	return name, id, nil
}
