package lab

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/patchpilot/patchpilot"
)

// The net-drop fault drops the controller's traffic to a host's address in
// a table of its own, so that the lab never touches anyone else's rules.
// Each rule carries a comment naming the lab and the host, so that heal and
// down remove exactly theirs.
const (
	nftFamily = "inet"
	nftTable  = "patchpilot_lab"
	nftChain  = "output"
)

func dropComment(s *State, host string) string { return "patchpilot-lab " + s.ID + " " + host }

// addDropRule drops every packet the controller sends to the host's address.
// The hosts share the controller's network namespace, so that is all traffic
// to the host, over loopback included.
func addDropRule(ctx context.Context, s *State, h *HostState) error {
	if _, err := lookPath("nft"); err != nil {
		return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "nft not found (install with: apt-get install -y nftables)").WithHint("apt-get install -y nftables")
	}
	cmds := [][]string{
		{"add", "table", nftFamily, nftTable},
		{"add", "chain", nftFamily, nftTable, nftChain, "{ type filter hook output priority 0; policy accept; }"},
		{"add", "rule", nftFamily, nftTable, nftChain, "ip", "daddr", h.Address, "counter", "drop", "comment", strconv.Quote(dropComment(s, h.Name))},
	}
	for _, c := range cmds {
		if _, err := run(ctx, "nft", c...); err != nil {
			return patchpilot.Errorf(patchpilot.EUNAVAILABLE, "add the net-drop rule: %w", err)
		}
	}
	return nil
}

// removeDropRules removes the lab's rules for host ("" for every host of the
// lab), and the table when no rule is left in it.
func removeDropRules(ctx context.Context, s *State, host string) error {
	if _, err := lookPath("nft"); err != nil {
		return nil // no nft: no rule can exist
	}
	out, err := run(ctx, "nft", "-j", "-a", "list", "table", nftFamily, nftTable)
	if err != nil {
		return nil // no table
	}
	var doc struct {
		Nftables []struct {
			Rule *struct {
				Chain   string `json:"chain"`
				Handle  int    `json:"handle"`
				Comment string `json:"comment"`
			} `json:"rule"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return patchpilot.Errorf(patchpilot.EINTERNAL, "parse nft rules: %w", err)
	}
	prefix := "patchpilot-lab " + s.ID + " "
	left := 0
	for _, e := range doc.Nftables {
		r := e.Rule
		if r == nil {
			continue
		}
		ours := strings.HasPrefix(r.Comment, prefix) && (host == "" || r.Comment == dropComment(s, host))
		if !ours {
			left++
			continue
		}
		if _, err := run(ctx, "nft", "delete", "rule", nftFamily, nftTable, r.Chain, "handle", strconv.Itoa(r.Handle)); err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "remove the net-drop rule: %w", err)
		}
	}
	if left == 0 {
		if _, err := run(ctx, "nft", "delete", "table", nftFamily, nftTable); err != nil {
			return patchpilot.Errorf(patchpilot.EINTERNAL, "remove the nft table: %w", err)
		}
	}
	return nil
}
