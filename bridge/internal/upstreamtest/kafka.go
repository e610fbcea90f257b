package upstreamtest

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// StartKafka starts an in-process kfake cluster (one broker, topic "t" with
// 3 partitions) on 127.0.0.1, closed at cleanup.
func StartKafka(t testing.TB) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "t"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
