// CoreDNS with only the plugins the cluster's Corefile uses (tests/harness/cluster/coredns.py),
// CoreDNS's documented way to build a custom plugin set: coremain, dnsserver and the plugin
// packages, with dnsserver.Directives in the order of the pinned tag's plugin.cfg.
// build-coredns keys its cache on a hash of this file: a new plugin set is a new binary.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"
)

// The order of plugin.cfg (v1.14.7): the order a query passes through them.
var directives = []string{
	"bind",
	"ready",
	"errors",
	"log",
	"cache",
	"template",
	"kubernetes",
	"forward",
}

func main() {
	dnsserver.Directives = directives
	coremain.Run()
}
