package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/outpost-edge/outpost/bridge"
	"github.com/outpost-edge/outpost/edge"
	"github.com/outpost-edge/outpost/storage"
)

// The operator commands talk to a running node's HTTP API:
//
//	outpost status                            node, clients, log, bridges
//	outpost bridges                           state, lag, oldest unsent age of each bridge
//	outpost bridges replay NAME --from WHEN   re-send history (RFC 3339 time, "2h" ago, or an offset)
//	outpost log tail [--topic FILTER] [-n N] [--follow]
//	outpost cluster members                   members and peer forwarders
//
// Each takes --http ADDR (default 127.0.0.1:8080), --token (default
// $OUTPOST_TOKEN, sent as a bearer token) and --json (the API's document).

const cliUsage = `usage:
  outpost status            [--http ADDR] [--token T] [--json]
  outpost bridges           [--http ADDR] [--token T] [--json]
  outpost bridges replay NAME --from WHEN   (WHEN: RFC 3339 time, a duration ago such as 2h, or an offset)
  outpost log tail          [--topic FILTER] [-n N] [--follow]
  outpost cluster members   [--http ADDR] [--token T] [--json]
`

// cliOptions are the flags every operator command takes.
type cliOptions struct {
	http, token string
	timeout     time.Duration
	json        bool
	// command-specific
	from, topic string
	n           int
	follow      bool
	interval    time.Duration
}

// cliCommand runs one operator command with its positional arguments.
type cliCommand func(ctx context.Context, c *apiClient, o cliOptions, args []string, w io.Writer) error

var cliCommands = map[string]cliCommand{
	"status":          cliStatus,
	"bridges":         cliBridges,
	"bridges replay":  cliReplay,
	"log tail":        cliLogTail,
	"cluster members": cliClusterMembers,
}

// cli runs an operator command; args start with the command name. It
// returns the exit status: 0, 1 for a failed call, 2 for bad usage.
func cli(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return runCLI(ctx, args, stdout, stderr)
}

func runCLI(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name, rest := args[0], args[1:]
	if len(rest) > 0 && cliCommands[name+" "+rest[0]] != nil {
		name, rest = name+" "+rest[0], rest[1:]
	}
	cmd := cliCommands[name]
	if cmd == nil {
		fmt.Fprintf(stderr, "outpost: unknown command %q\n\n%s", strings.Join(args, " "), cliUsage)
		return 2
	}
	o, pos, err := parseCLIFlags(name, rest, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "outpost:", err)
		return 2
	}
	c := newAPIClient(o.http, o.token, o.timeout)
	if err := cmd(ctx, c, o, pos, stdout); err != nil {
		fmt.Fprintf(stderr, "outpost %s: %v\n", name, err)
		return 1
	}
	return 0
}

// parseCLIFlags accepts flags before, between and after positional
// arguments (outpost bridges replay NAME --from 2h).
func parseCLIFlags(name string, args []string, stderr io.Writer) (cliOptions, []string, error) {
	o := cliOptions{}
	fs := flag.NewFlagSet("outpost "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.http, "http", "127.0.0.1:8080", "the node's HTTP API address")
	fs.StringVar(&o.token, "token", os.Getenv("OUTPOST_TOKEN"), "bearer token for the API (default $OUTPOST_TOKEN)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of each API call")
	fs.BoolVar(&o.json, "json", false, "print the API's JSON document")
	switch name {
	case "bridges replay":
		fs.StringVar(&o.from, "from", "", "where to replay from: RFC 3339 time, a duration ago (2h), or a log offset")
	case "log tail":
		fs.StringVar(&o.topic, "topic", "", "MQTT topic filter (e.g. sensors/+/temp)")
		fs.IntVar(&o.n, "n", logDefaultPage, "records to print (at most 1000)")
		fs.BoolVar(&o.follow, "follow", false, "keep printing new records until interrupted")
		fs.DurationVar(&o.interval, "interval", time.Second, "poll interval with --follow")
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return o, nil, err
		}
		if fs.NArg() == 0 {
			return o, pos, nil
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}

// statusDoc is /api/v1/status as the CLI reads it.
type statusDoc struct {
	Node          string         `json:"node"`
	Version       string         `json:"version"`
	UptimeSeconds float64        `json:"uptime_seconds"`
	Durability    string         `json:"durability"`
	MQTT          edge.Stats     `json:"mqtt"`
	Log           storage.Stats  `json:"log"`
	Bridges       []bridge.Stats `json:"bridges"`
}

func cliStatus(ctx context.Context, c *apiClient, o cliOptions, args []string, w io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q", args[0])
	}
	var st statusDoc
	if err := c.get(ctx, "/api/v1/status", &st); err != nil {
		return err
	}
	if o.json {
		return printJSON(w, st)
	}
	return printStatus(w, st)
}

// printStatus is `outpost status` for people.
func printStatus(w io.Writer, st statusDoc) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	up := time.Duration(st.UptimeSeconds * float64(time.Second)).Round(time.Second)
	fmt.Fprintf(tw, "node\t%s (version %s, up %s)\n", st.Node, st.Version, up)
	fmt.Fprintf(tw, "durability\t%s\n", st.Durability)
	m := st.MQTT
	fmt.Fprintf(tw, "clients\t%d connected, %d subscriptions, %d retained\n", m.ClientsConnected, m.Subscriptions, m.Retained)
	fmt.Fprintf(tw, "messages\t%d in (QoS 0/1/2: %d/%d/%d), %d out, %d append errors\n",
		m.MessagesIn[0]+m.MessagesIn[1]+m.MessagesIn[2], m.MessagesIn[0], m.MessagesIn[1], m.MessagesIn[2], m.MessagesOut, m.AppendErrors)
	l := st.Log
	full := ""
	if l.Full {
		full = ", FULL: appends refused"
	}
	span := fmt.Sprintf("next offset %d", l.NextOffset)
	if l.NextOffset > l.FirstOffset {
		span = fmt.Sprintf("offsets %d-%d", l.FirstOffset, l.NextOffset-1)
	}
	noun := "records"
	if l.Records == 1 {
		noun = "record"
	}
	fmt.Fprintf(tw, "log\t%d %s (%s), %s on disk, %d dropped%s\n",
		l.Records, noun, span, humanBytes(l.DiskBytes), l.Dropped, full)
	for _, b := range st.Bridges {
		fmt.Fprintf(tw, "bridge %s\t%s, lag %d, oldest unsent %s\n", b.Name, b.State, b.Lag, b.OldestUnsentAge.Round(time.Second))
	}
	return tw.Flush()
}

func cliBridges(ctx context.Context, c *apiClient, o cliOptions, args []string, w io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q (subcommand: replay)", args[0])
	}
	var bs []bridge.Stats
	if err := c.get(ctx, "/api/v1/bridges", &bs); err != nil {
		return err
	}
	if o.json {
		return printJSON(w, bs)
	}
	if len(bs) == 0 {
		_, err := fmt.Fprintln(w, "no bridges configured")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tSTATE\tLAG\tOLDEST UNSENT\tSENT\tRETRIES\tDEAD LETTERS")
	for _, b := range bs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%d\t%d\t%d\n", b.Name, b.Kind, b.State, b.Lag,
			b.OldestUnsentAge.Round(time.Second), b.SentRecords, b.Retries, b.DeadLetters)
	}
	return tw.Flush()
}

// replayRequest turns --from into the replay API's body: an offset, an
// RFC 3339 time, or a duration before now.
func replayRequest(from string, now time.Time) (map[string]any, error) {
	if off, err := strconv.ParseUint(from, 10, 64); err == nil {
		return map[string]any{"offset": off}, nil
	}
	if t, err := time.Parse(time.RFC3339, from); err == nil {
		return map[string]any{"time": t.Format(time.RFC3339)}, nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(from, "-")); err == nil && d > 0 {
		return map[string]any{"time": now.Add(-d).UTC().Format(time.RFC3339)}, nil
	}
	return nil, fmt.Errorf("--from %q: want an RFC 3339 time (2026-11-21T08:00:00Z), a duration ago (2h) or a log offset", from)
}

func cliReplay(ctx context.Context, c *apiClient, o cliOptions, args []string, w io.Writer) error {
	if len(args) != 1 || o.from == "" {
		return errors.New("usage: outpost bridges replay NAME --from WHEN")
	}
	body, err := replayRequest(o.from, time.Now())
	if err != nil {
		return err
	}
	var ans struct {
		Replay string `json:"replay"`
		Cursor string `json:"cursor"`
	}
	if err := c.post(ctx, "/api/v1/bridges/"+url.PathEscape(args[0])+"/replay", body, &ans); err != nil {
		if errors.Is(err, errNotFound) {
			return fmt.Errorf("no bridge named %q on this node (outpost bridges lists them): %w", args[0], err)
		}
		return err
	}
	if o.json {
		return printJSON(w, ans)
	}
	_, err = fmt.Fprintf(w, "bridge %s: replay %s, cursor %s\n", args[0], ans.Replay, ans.Cursor)
	return err
}

func cliLogTail(ctx context.Context, c *apiClient, o cliOptions, args []string, w io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q", args[0])
	}
	q := url.Values{"max": {strconv.Itoa(o.n)}}
	if o.topic != "" {
		q.Set("topic", o.topic)
	}
	for {
		var page logPage
		if err := c.get(ctx, "/api/v1/log?"+q.Encode(), &page); err != nil {
			if o.follow && ctx.Err() != nil {
				return nil // interrupted while following: a normal end
			}
			return err
		}
		for _, r := range page.Records {
			if err := printRecord(w, o, r); err != nil {
				return err
			}
		}
		if !o.follow {
			return nil
		}
		q.Set("from", strconv.FormatUint(page.Continue, 10))
		q.Set("max", strconv.Itoa(logMaxPage))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.interval):
		}
	}
}

func printRecord(w io.Writer, o cliOptions, r logRecord) error {
	if o.json {
		return printJSONLine(w, r)
	}
	payload := fmt.Sprintf("(%d bytes binary)", len(r.PayloadBase64))
	if r.Payload != nil {
		payload = strconv.Quote(*r.Payload)
		if len(payload) > 200 {
			payload = payload[:197] + "..."
		}
	}
	_, err := fmt.Fprintf(w, "%d %s %s q%d %s\n", r.Offset, r.Time.UTC().Format(time.RFC3339Nano), r.Topic, r.QoS, payload)
	return err
}

func cliClusterMembers(ctx context.Context, c *apiClient, o cliOptions, args []string, w io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q", args[0])
	}
	var cs clusterStatus
	if err := c.get(ctx, "/api/v1/cluster", &cs); err != nil {
		if errors.Is(err, errNotFound) {
			return fmt.Errorf("this node answers no cluster status: clustering is off (cluster.enabled in its config) or the node predates /api/v1/cluster (%w)", err)
		}
		return err
	}
	if o.json {
		return printJSON(w, cs)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tGOSSIP\tMQTT\tHTTP\tVERSION")
	for _, m := range cs.Members {
		self := ""
		if m.Name == cs.Node {
			self = " (this node)"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, self, m.State, m.Addr, m.Meta.MQTT, m.Meta.HTTP, m.Meta.Version)
	}
	if len(cs.Stats.Forwarders) > 0 {
		fmt.Fprintln(tw, "\nFORWARDER TO\tSTATE\tCURSOR\tLAG\tSENT\t")
		for _, f := range cs.Stats.Forwarders {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t\n", f.Peer, f.State, f.Cursor, f.Lag, f.Sent)
		}
	}
	return tw.Flush()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printJSONLine prints v as one line (a record per line with --follow).
func printJSONLine(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
