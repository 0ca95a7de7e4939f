//go:build faults

package faults

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// notifyChannels is how many webhook channels the notify scenario
// registers; each covers every check, so every flip of a flapper is owed
// to each of them.
const notifyChannels = 100

// notifyDeadline bounds how long after the window closes the scenario
// waits for the last owed message. A delivery whose sender died (or lost
// the database) mid-send waits out its lease (twice the attempt timeout
// plus 30 s, 50 s by default) before another process retries it, and the
// backlog the outages left has to drain on a shared 2-core machine.
const notifyDeadline = 150 * time.Second

// receivers are the channels' webhook endpoints: one listener per channel,
// spread over loopback addresses as real receivers are spread over hosts.
// Each verifies X-Vigil-Signature-256 against its channel's secret and
// counts what it got by X-Vigil-Delivery and by transition.
type receivers struct {
	srvs    []*http.Server
	urls    []string
	secrets []string

	mu sync.Mutex
	// byDelivery counts the requests of each delivery id; a count above 1
	// is a duplicate (at-least-once resends the same id).
	byDelivery map[string]int
	// byPair holds the delivery ids seen for each (channel, transition):
	// more than one id for a pair would be two deliveries owed for one
	// message, which the store's unique key forbids.
	byPair       map[pairKey]map[string]struct{}
	badSignature int
	badBody      int
	received     int
}

type pairKey struct {
	channel    int
	transition int64
}

func startReceivers(n int) (*receivers, error) {
	rc := &receivers{byDelivery: map[string]int{}, byPair: map[pairKey]map[string]struct{}{}}
	for i := range n {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.%d:0", i%32+1))
		if err != nil {
			rc.close()
			return nil, err
		}
		var b [16]byte
		for j := range b {
			b[j] = byte(i*31 + j*7 + 1)
		}
		rc.secrets = append(rc.secrets, hex.EncodeToString(b[:]))
		srv := &http.Server{Handler: rc.handler(i), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		rc.srvs = append(rc.srvs, srv)
		rc.urls = append(rc.urls, "http://"+ln.Addr().String()+"/hook")
	}
	return rc, nil
}

func (rc *receivers) close() {
	for _, s := range rc.srvs {
		_ = s.Close()
	}
}

// handler is channel n's receiver. It answers 200 to every request it
// could read, signed or not: what the suite measures is what Vigil sends,
// and an answer of 4xx would only turn a finding into retries.
func (rc *receivers) handler(n int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read", http.StatusBadRequest)
			return
		}
		m := hmac.New(sha256.New, []byte(rc.secrets[n]))
		m.Write(body)
		want := "sha256=" + hex.EncodeToString(m.Sum(nil))
		signed := hmac.Equal([]byte(want), []byte(r.Header.Get("X-Vigil-Signature-256")))
		var ev struct {
			ID       int64  `json:"id"`
			To       string `json:"to"`
			Reminder bool   `json:"reminder"`
		}
		decodeErr := json.Unmarshal(body, &ev)
		id := r.Header.Get("X-Vigil-Delivery")
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.received++
		switch {
		case !signed:
			rc.badSignature++
		case decodeErr != nil || ev.ID <= 0 || id == "":
			rc.badBody++
		default:
			rc.byDelivery[id]++
			k := pairKey{n, ev.ID}
			if rc.byPair[k] == nil {
				rc.byPair[k] = map[string]struct{}{}
			}
			rc.byPair[k][id] = struct{}{}
		}
	})
}

// registerChannels creates one webhook channel per receiver over REST and
// returns their ids, in receiver order.
func registerChannels(t *testing.T, server string, rc *receivers) []string {
	ids := make([]string, len(rc.urls))
	for i, u := range rc.urls {
		raw, err := json.Marshal(map[string]any{"name": fmt.Sprintf("faults-hook-%03d", i), "type": "webhook",
			"url": u, "secret": rc.secrets[i]})
		require.NoError(t, err)
		resp, err := http.Post("http://"+server+"/api/v1/channels", "application/json", bytes.NewReader(raw))
		require.NoError(t, err)
		out, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusCreated, resp.StatusCode, "create channel %d: %s", i, out)
		var ch struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal(out, &ch))
		ids[i] = ch.ID
	}
	return ids
}

// notifyRun is the notify scenario's state.
type notifyRun struct {
	rc       *receivers
	channels []string
	// from is when every channel existed: a transition at or after it was
	// recorded after them, so it owes a message to each.
	from time.Time
}

// owedTransitions are the ids of the transitions logged between from and
// to that owe a message to every channel: to DOWN, or back UP from DOWN
// (send_resolved defaults to true).
func owedTransitions(ctx context.Context, r *rig, from, to time.Time) ([]int64, error) {
	rows, err := r.pool.Query(ctx, `SELECT id FROM transitions WHERE at >= $1 AND at < $2
		AND (to_state = 'DOWN' OR (to_state = 'UP' AND from_state = 'DOWN')) ORDER BY id`, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// notifyBefore starts the receivers and registers the channels once the
// load is steady.
func notifyBefore(t *testing.T, _ *rig, x *runState) {
	rc, err := startReceivers(notifyChannels)
	require.NoError(t, err)
	t.Cleanup(rc.close)
	x.notify = &notifyRun{rc: rc, channels: registerChannels(t, x.servers[0].addr, rc)}
	x.notify.from = time.Now()
}

// notifyInject kills the delivering process, then crashes and restarts
// PostgreSQL, then restarts RabbitMQ, one after the other, all while the
// flappers' transitions are being delivered.
func notifyInject(t *testing.T, r *rig, x *runState) string {
	ctx := context.Background()
	x.servers[0].kill9()
	time.Sleep(3 * time.Second)
	x.servers[0] = r.restart(x.servers[0])
	killed := time.Since(x.faultAt)

	pgAt := time.Now()
	require.NoError(t, r.s.pg.crash(ctx))
	time.Sleep(5 * time.Second)
	require.NoError(t, r.s.pg.start(ctx))
	pgDown := time.Since(pgAt)

	mqAt := time.Now()
	require.NoError(t, r.s.mq.stop(ctx))
	require.NoError(t, r.s.mq.start(ctx))
	for !r.s.mq.up() {
		time.Sleep(100 * time.Millisecond)
	}
	mqDown := time.Since(mqAt)
	x.down = time.Since(x.faultAt)
	return fmt.Sprintf("server-0 kill -9, replaced after %.1f s; PostgreSQL crashed, back after %.1f s; RabbitMQ restarted, back after %.1f s",
		killed.Seconds(), pgDown.Seconds(), mqDown.Seconds())
}

// notifyAfter waits until every (channel, owed transition) pair of the
// window has reached its receiver, or notifyDeadline passes, and reports
// what was missed and what came twice.
func notifyAfter(t *testing.T, r *rig, x *runState) {
	ctx := context.Background()
	n := x.notify
	owed, err := owedTransitions(ctx, r, n.from, x.to)
	require.NoError(t, err)
	if len(owed) == 0 {
		x.failf("no transition owed a message between the channels' creation and the window's end: the flappers did not flip")
		return
	}
	missingPairs := func() []pairKey {
		n.rc.mu.Lock()
		defer n.rc.mu.Unlock()
		var miss []pairKey
		for c := range n.channels {
			for _, id := range owed {
				if _, ok := n.rc.byPair[pairKey{c, id}]; !ok {
					miss = append(miss, pairKey{c, id})
				}
			}
		}
		return miss
	}
	start := time.Now()
	deadline := x.to.Add(notifyDeadline)
	miss := missingPairs()
	for len(miss) > 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Second)
		miss = missingPairs()
	}
	drained := time.Since(x.to)
	t.Logf("[notify] %d owed pairs; %d missing after waiting %.0f s (%.0f s past the window)",
		len(owed)*len(n.channels), len(miss), time.Since(start).Seconds(), drained.Seconds())

	n.rc.mu.Lock()
	defer n.rc.mu.Unlock()
	var dupRequests, dupIDs, pairsWithTwoIDs int
	for _, c := range n.rc.byDelivery {
		if c > 1 {
			dupIDs++
			dupRequests += c - 1
		}
	}
	for _, ids := range n.rc.byPair {
		if len(ids) > 1 {
			pairsWithTwoIDs++
		}
	}
	if len(miss) > 0 {
		sort.Slice(miss, func(i, j int) bool { return miss[i].transition < miss[j].transition })
		x.failf("%d of %d (channel, transition) pairs never reached their receiver within %s of the window's end, e.g. %v",
			len(miss), len(owed)*len(n.channels), notifyDeadline, miss[:min(len(miss), 10)])
		var states []string
		rows, err := r.pool.Query(ctx, `SELECT state, count(*) FROM deliveries GROUP BY state`)
		if err == nil {
			for rows.Next() {
				var s string
				var c int
				if rows.Scan(&s, &c) == nil {
					states = append(states, fmt.Sprintf("%s=%d", s, c))
				}
			}
			rows.Close()
		}
		t.Logf("[notify] deliveries by state: %v", states)
	}
	if n.rc.badSignature > 0 || n.rc.badBody > 0 {
		x.failf("%d requests had a bad signature and %d a body without a transition id or no delivery id",
			n.rc.badSignature, n.rc.badBody)
	}
	if pairsWithTwoIDs > 0 {
		x.failf("%d (channel, transition) pairs arrived under more than one delivery id", pairsWithTwoIDs)
	}
	x.notes = append(x.notes, fmt.Sprintf("%d channels: %d transitions owed %d messages, %d received (%d requests), %d missing; duplicates: %d requests repeated a delivery id (%d ids), all signatures valid; last owed message in %.0f s after the window",
		len(n.channels), len(owed), len(owed)*len(n.channels), len(owed)*len(n.channels)-len(miss), n.rc.received,
		len(miss), dupRequests, dupIDs, drained.Seconds()))
}
