package broadcast

// recentIDs remembers the last n ids added, forgetting the oldest first.
// Transitions arrive at least once, and a repeat comes soon after the
// original (a redelivered job), so a bounded window catches them without
// growing forever.
type recentIDs struct {
	ring []int64
	next int
	full bool
	set  map[int64]struct{}
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{ring: make([]int64, n), set: make(map[int64]struct{}, n)}
}

func (r *recentIDs) has(id int64) bool {
	_, ok := r.set[id]
	return ok
}

// add records id and reports whether it was new.
func (r *recentIDs) add(id int64) bool {
	if r.has(id) {
		return false
	}
	if r.full {
		delete(r.set, r.ring[r.next])
	}
	r.ring[r.next] = id
	r.set[id] = struct{}{}
	r.next++
	if r.next == len(r.ring) {
		r.next, r.full = 0, true
	}
	return true
}

// forgotten reports whether ids as old as id may have been dropped from
// the window: it is full and id is below every id it still holds.
func (r *recentIDs) forgotten(id int64) bool {
	if !r.full {
		return false
	}
	for _, kept := range r.ring {
		if id >= kept {
			return false
		}
	}
	return true
}
