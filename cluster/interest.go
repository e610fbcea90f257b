package cluster

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
)

// interestState is one node's subscription interest at one version. Versions
// only grow on their node (they start at the node's start time in nanoseconds,
// so a restarted node outranks its previous life).
type interestState struct {
	Node    string   `json:"n"`
	Version uint64   `json:"v"`
	Filters []string `json:"f"`
}

// interestTable is every node's latest known interest. Applying a state keeps
// it only if its version is newer, so duplicated and reordered gossip is
// harmless. Safe for concurrent use; no method blocks.
type interestTable struct {
	// mu guards nodes.
	mu    sync.Mutex
	nodes map[string]interestState
	// changed is signalled (without blocking) when a state is accepted.
	changed chan struct{}
}

func newInterestTable() *interestTable {
	return &interestTable{nodes: map[string]interestState{}, changed: make(chan struct{}, 1)}
}

// apply keeps s if it is newer than what the table holds and reports whether it did.
func (t *interestTable) apply(s interestState) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.nodes[s.Node]; ok && cur.Version >= s.Version {
		return false
	}
	t.nodes[s.Node] = s
	select {
	case t.changed <- struct{}{}:
	default:
	}
	return true
}

// filters returns node's filters and whether any state of node is known.
func (t *interestTable) filters(node string) ([]string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.nodes[node]
	return s.Filters, ok
}

// get returns node's state.
func (t *interestTable) get(node string) (interestState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.nodes[node]
	return s, ok
}

// snapshot encodes every known state (push/pull LocalState).
func (t *interestTable) snapshot() []byte {
	t.mu.Lock()
	all := make([]interestState, 0, len(t.nodes))
	for _, s := range t.nodes {
		all = append(all, s)
	}
	t.mu.Unlock()
	slices.SortFunc(all, func(a, b interestState) int { return strings.Compare(a.Node, b.Node) })
	b, _ := json.Marshal(all) // strings and integers only: cannot fail
	return b
}

// merge applies every state in a snapshot; malformed input is ignored.
func (t *interestTable) merge(b []byte) {
	var all []interestState
	if json.Unmarshal(b, &all) != nil {
		return
	}
	for _, s := range all {
		if s.Node != "" {
			t.apply(s)
		}
	}
}

// normalize sorts and deduplicates filters so equal interest compares equal.
func normalize(filters []string) []string {
	out := slices.Clone(filters)
	slices.Sort(out)
	return slices.Compact(out)
}
