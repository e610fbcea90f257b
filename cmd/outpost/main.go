// Command outpost is the Outpost edge MQTT broker.
//
//	outpost serve [--config FILE] [--data-dir DIR] [--mqtt ADDR] [--http ADDR] [--durability MODE]
//	outpost passwd [-c] [-D] FILE USER
//	outpost version
//	outpost status | bridges | bridges replay | log tail | cluster members   (see cli.go)
package main

import (
	"fmt"
	"os"
)

// version is stamped at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

const usage = `usage: outpost <command> [flags]

commands:
  serve     run a node (outpost serve --help for flags)
  passwd    add a user to a users file or change its password (-c create, -D delete)
  version   print the version

operator commands, against a running node's HTTP API (--http ADDR, --token or $OUTPOST_TOKEN):
  status                      node, clients, log, bridges
  bridges                     each bridge's state, lag and oldest unsent age
  bridges replay NAME --from WHEN
  log tail [--topic FILTER] [-n N] [--follow]
  cluster members
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:])
	case "passwd":
		return passwd(args[1:], os.Stdin, os.Stderr)
	case "status", "bridges", "log", "cluster":
		return cli(args, os.Stdout, os.Stderr)
	case "version", "--version", "-v":
		fmt.Println("outpost", version)
		return 0
	case "help", "--help", "-h":
		fmt.Print(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "outpost: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
