package main

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/outpost-edge/outpost/bridge"
	"github.com/outpost-edge/outpost/storage"
)

// Log inspection limits: a page holds at most logMaxPage records, and one
// request reads at most logScanLimit records looking for topic matches, so
// a filter that matches nothing costs a bounded read.
const (
	logDefaultPage = 20
	logMaxPage     = 1000
	logScanLimit   = 10000
	logReadBatch   = 64
)

// logPage is the GET /api/v1/log document.
type logPage struct {
	// First and Next are the log's bounds when the request ran.
	First uint64 `json:"first"`
	Next  uint64 `json:"next"`
	// Continue is the offset to pass as from to read on after this page.
	Continue uint64      `json:"continue"`
	Records  []logRecord `json:"records"`
}

// logRecord is one record as the API shows it: the payload as text when it
// is UTF-8, else base64 in PayloadBase64.
type logRecord struct {
	Offset        uint64    `json:"offset"`
	Time          time.Time `json:"time"`
	Origin        string    `json:"origin"`
	ClientID      string    `json:"client_id,omitempty"`
	Topic         string    `json:"topic"`
	QoS           byte      `json:"qos"`
	Retain        bool      `json:"retain,omitempty"`
	Payload       *string   `json:"payload,omitempty"`
	PayloadBase64 []byte    `json:"payload_base64,omitempty"`
}

func newLogRecord(r storage.Record) logRecord {
	out := logRecord{Offset: r.Offset, Time: r.Time, Origin: r.Origin, ClientID: r.ClientID,
		Topic: r.Topic, QoS: r.QoS, Retain: r.Retain}
	if utf8.Valid(r.Payload) {
		s := string(r.Payload)
		out.Payload = &s
	} else {
		out.PayloadBase64 = r.Payload
	}
	return out
}

// logQuery is a parsed GET /api/v1/log request.
type logQuery struct {
	from   uint64 // 0: the tail (the last max matches within the scan limit)
	max    int
	filter string // MQTT topic filter; "" matches everything
}

func parseLogQuery(r *http.Request) (logQuery, error) {
	q := logQuery{max: logDefaultPage, filter: r.URL.Query().Get("topic")}
	if v := r.URL.Query().Get("from"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return q, fmt.Errorf("from: %q is not an offset", v)
		}
		q.from = n
	}
	if v := r.URL.Query().Get("max"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > logMaxPage {
			return q, fmt.Errorf("max: %q is not a number from 1 to %d", v, logMaxPage)
		}
		q.max = n
	}
	return q, nil
}

// handleLog serves GET /api/v1/log?from=OFFSET&max=N&topic=FILTER: up to
// max records at or after from whose topic matches the filter, reading at
// most logScanLimit records. Without from it answers the newest matches
// (within the last logScanLimit records), oldest first.
func (n *node) handleLog(w http.ResponseWriter, r *http.Request) {
	q, err := parseLogQuery(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	first, next := n.store.FirstOffset(), n.store.NextOffset()
	page := logPage{First: first, Next: next, Records: []logRecord{}}
	from, tail := q.from, q.from == 0
	if tail {
		from = first
		if next > first+logScanLimit {
			from = next - logScanLimit
		}
		if q.filter == "" && next > first+uint64(q.max) {
			from = next - uint64(q.max)
		}
	}
	page.Continue = max(from, first)
	for scanned := 0; scanned < logScanLimit; {
		recs, err := n.store.Read(r.Context(), page.Continue, min(logReadBatch, logScanLimit-scanned))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if len(recs) == 0 {
			break
		}
		scanned += len(recs)
		for _, rec := range recs {
			if !tail && len(page.Records) == q.max {
				break
			}
			page.Continue = rec.Offset + 1
			if q.filter == "" || bridge.MatchFilter(q.filter, rec.Topic) {
				page.Records = append(page.Records, newLogRecord(rec))
			}
		}
		if tail && len(page.Records) > q.max { // keep the newest max
			page.Records = append(page.Records[:0:0], page.Records[len(page.Records)-q.max:]...)
		}
		if !tail && len(page.Records) == q.max {
			break
		}
	}
	writeJSON(w, page)
}
