package main

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

func TestLogAPI(t *testing.T) {
	nd := startTestNode(t, testConfig(t.TempDir()))
	pub := mqttClient(t, nd.broker.Addr("mqtt"), "dev", nil)
	for i := 0; i < 30; i++ {
		p := &paho.Publish{Topic: fmt.Sprintf("s/%d/t", i%3), QoS: 1, Payload: []byte(fmt.Sprint(i))}
		if i == 29 {
			p.Payload = []byte{0xff, 0xfe}
		}
		if _, err := pub.Publish(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	base := "http://" + nd.httpAddr() + "/api/v1/log"
	tests := []struct {
		query     string
		offsets   []uint64
		continue_ uint64
	}{
		{"", []uint64{11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30}, 31},
		{"?max=2", []uint64{29, 30}, 31},
		{"?from=5&max=3", []uint64{5, 6, 7}, 8},
		{"?from=28", []uint64{28, 29, 30}, 31},
		{"?from=99", nil, 99},
		{"?topic=s/1/%2B&max=3", []uint64{23, 26, 29}, 31},
		{"?topic=s/1/t&from=1&max=2", []uint64{2, 5}, 6},
		{"?topic=nothing/%23&from=1", nil, 31},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			var page logPage
			getJSON(t, base+tc.query, &page)
			var got []uint64
			for _, r := range page.Records {
				got = append(got, r.Offset)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.offsets) || page.Continue != tc.continue_ || page.First != 1 || page.Next != 31 {
				t.Fatalf("offsets %v continue %d (first %d next %d); want %v continue %d", got, page.Continue, page.First, page.Next, tc.offsets, tc.continue_)
			}
		})
	}
	var page logPage
	getJSON(t, base+"?max=1", &page)
	if r := page.Records[0]; r.Payload != nil || string(r.PayloadBase64) != "\xff\xfe" || r.ClientID != "dev" || r.QoS != 1 {
		t.Fatalf("binary record %+v", r)
	}
	for _, q := range []string{"?from=x", "?max=0", "?max=1001"} {
		resp, err := http.Get(base + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, resp.StatusCode)
		}
	}
}
