package mqttc

import "testing"

func TestRoutes(t *testing.T) {
	var got []string
	h := func(name string) Handler { return func(topic string, _ []byte) { got = append(got, name+":"+topic) } }
	var rs routes
	if rs.deliver("a/b", nil) {
		t.Fatal("a message with no route and no fallback was taken")
	}
	rs.fallback = h("fallback")
	rs.add("a/+", h("first"))
	rs.add("a/#", h("second"))
	rs.add("a/+", h("again")) // the same filter twice: the first wins, remove drops the last
	for _, topic := range []string{"a/b", "a/b/c", "x"} {
		if !rs.deliver(topic, nil) {
			t.Fatalf("%s not taken", topic)
		}
	}
	rs.remove("a/+")
	rs.remove("a/#")
	rs.remove("never/added")
	rs.deliver("a/b", nil)
	rs.remove("a/+")
	rs.deliver("a/b", nil)
	want := []string{"first:a/b", "second:a/b/c", "fallback:x", "first:a/b", "fallback:a/b"}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}
