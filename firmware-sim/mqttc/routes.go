package mqttc

import (
	"slices"
	"sync"
)

// routes sends each received message to the handler of the first
// subscribed filter that matches its topic, else to a fallback (the
// OnMessage option). Used by the clients that route deliveries themselves:
// the MQTT 5 one and the lean one.
type routes struct {
	mu       sync.RWMutex
	subs     []route
	fallback Handler
}

type route struct {
	filter string
	h      Handler
}

// add routes filter's messages to h. Call it before sending the SUBSCRIBE:
// retained messages follow the SUBACK at once.
func (rs *routes) add(filter string, h Handler) {
	rs.mu.Lock()
	rs.subs = append(rs.subs, route{filter: filter, h: h})
	rs.mu.Unlock()
}

// remove drops the route of filter added last: the one a refused
// subscription had just added.
func (rs *routes) remove(filter string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for i := len(rs.subs) - 1; i >= 0; i-- {
		if rs.subs[i].filter == filter {
			rs.subs = slices.Delete(rs.subs, i, i+1)
			return
		}
	}
}

// deliver hands a message to its handler, outside the lock (a handler may
// subscribe); false when nothing took it.
func (rs *routes) deliver(topic string, payload []byte) bool {
	rs.mu.RLock()
	h := rs.fallback
	for _, r := range rs.subs {
		if Match(r.filter, topic) {
			h = r.h
			break
		}
	}
	rs.mu.RUnlock()
	if h == nil {
		return false
	}
	h(topic, payload)
	return true
}
