package cluster

import (
	"testing"
	"time"
)

// retain publishes a retained message on n as edge does: appended to the
// log, then stored through RetainLocal. stored, when set, runs between the
// two (a fan-out that lags the log).
func retain(t *testing.T, n *node, topic, payload string, at time.Time, between func()) {
	off := n.log.Append(Message{Topic: topic, Payload: []byte(payload), Retain: true, Time: at})
	if between != nil {
		between()
	}
	m, _ := n.log.read(off, 1)
	n.c.RetainLocal(t.Context(), topic, off, func(superseded bool) {
		if !superseded {
			n.subs.mu.Lock()
			n.subs.retained[topic] = m[0]
			n.subs.mu.Unlock()
		}
	})
}

// will stores a retained message on n before appending it, as mochi does
// with a will: the tracker must restore a newer remote winner.
func will(n *node, topic, payload string, at time.Time) {
	m := Message{Topic: topic, Payload: []byte(payload), Retain: true, Time: at}
	n.subs.mu.Lock()
	n.subs.retained[topic] = m
	n.subs.mu.Unlock()
	n.log.Append(m)
}

func retainedOn(n *node, topic string) string {
	n.subs.mu.Lock()
	defer n.subs.mu.Unlock()
	return string(n.subs.retained[topic].Payload)
}

// TestRetainedConverges: whatever order writes arrive in, every node ends with
// the retained message of the latest ingest time (ties: greater node id),
// including nodes with no subscriber on the topic.
func TestRetainedConverges(t *testing.T) {
	now := time.Now()
	type write struct {
		node    int
		payload string
		at      time.Time
		kind    string // "": a publish; "lagging": its store waits for the tracker's restore; "will"
	}
	tests := []struct {
		name     string
		writes   []write // in real-time order
		want     string
		restores uint64 // older local writes undone, cluster-wide
	}{
		{"later write wins", []write{{0, "a-old", now.Add(-time.Second), ""}, {1, "b-new", now, ""}}, "b-new", 0},
		{"late arrival with an older time loses", []write{{1, "b-new", now, ""}, {0, "a-old", now.Add(-time.Second), ""}}, "b-new", 1},
		{"tie goes to the greater node id", []write{{2, "c-tie", now, ""}, {0, "a-tie", now, ""}}, "c-tie", 1},
		{"a losing store after the restore is refused", []write{{1, "b-new", now, ""}, {0, "a-old", now.Add(-time.Second), "lagging"}}, "b-new", 1},
		{"a losing will is undone", []write{{1, "b-new", now, ""}, {0, "a-old", now.Add(-time.Second), "will"}}, "b-new", 1},
		{"a newer will wins", []write{{1, "b-old", now.Add(-time.Second), ""}, {0, "a-new", now, "will"}}, "a-new", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes := startNodes(t, newNetCut(), nil, nil, nil)
			for _, w := range tc.writes {
				n := nodes[w.node]
				switch w.kind {
				case "will":
					will(n, "r/t", w.payload, w.at)
				case "lagging":
					retain(t, n, "r/t", w.payload, w.at, func() {
						eventually(t, 10*time.Second, "the tracker's restore", func() bool { return n.c.Stats().RetainedRestores > 0 })
					})
				default:
					retain(t, n, "r/t", w.payload, w.at, nil)
				}
				eventually(t, 10*time.Second, "retained write to spread", func() bool {
					for _, n := range nodes {
						if n.log.NextOffset() > 0 {
							if st := n.c.Stats(); len(st.Forwarders) != 2 || st.Forwarders[0].Lag+st.Forwarders[1].Lag != 0 {
								return false
							}
						}
					}
					return true
				})
			}
			// A losing local write is undone by the node's retained tracker,
			// which follows its own log apart from the forwarders: wait for it.
			state := func() (holds []string, restores uint64) {
				for _, n := range nodes {
					holds = append(holds, n.name+"="+retainedOn(n, "r/t"))
					restores += n.c.Stats().RetainedRestores
				}
				return holds, restores
			}
			converged := func() bool {
				for _, n := range nodes {
					if retainedOn(n, "r/t") != tc.want {
						return false
					}
				}
				_, r := state()
				return r == tc.restores
			}
			deadline := time.Now().Add(10 * time.Second)
			for !converged() {
				if time.Now().After(deadline) {
					holds, restores := state()
					t.Fatalf("nodes hold %v with %d restores; want %q everywhere and %d restores", holds, restores, tc.want, tc.restores)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}
