package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"matrix-notify/internal/realpeer"
)

const e2eePassword = "correct horse battery staple"

// e2eeSection measures issue 15's budget: on Dendrite v0.13.8, a device's
// exec alarm into an encrypted room (its store made and its megolm session
// shared by an unrecorded first run) beside the same alarm into a plain
// room, interleaved; and what encryption adds to the binary.
func (b *bench) e2eeSection() error {
	if err := b.e2eeGrowth(); err != nil {
		return err
	}
	binDir := os.Getenv("DENDRITE_BIN_DIR")
	if fi, err := os.Stat(filepath.Join(binDir, "dendrite")); binDir == "" || err != nil || fi.IsDir() {
		b.report.note(fmt.Sprintf("e2ee: DENDRITE_BIN_DIR (%q) has no dendrite: encrypted alarms are not measured (make bench builds it with scripts/realpeers/dendrite.sh).", binDir))
		return nil
	}
	step("e2ee: starting Dendrite")
	// A throwaway one (scripts/realpeers/dendrite.sh: sqlite, loopback, no
	// federation, no rate limits) with the users bot and reader.
	hs, err := realpeer.StartDendrite(filepath.Join(b.tmp, "dendrite"), binDir)
	if err != nil {
		return err
	}
	defer hs.Stop()
	for _, name := range []string{"bot", "reader"} {
		if err := hs.CreateUser(name, e2eePassword); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	reader, err := mautrix.NewClient(hs.URL, "", "")
	if err != nil {
		return err
	}
	if _, err := reader.Login(ctx, &mautrix.ReqLogin{Type: mautrix.AuthTypePassword, Password: e2eePassword, StoreCredentials: true,
		Identifier: mautrix.UserIdentifier{Type: mautrix.IdentifierTypeUser, User: "reader"}}); err != nil {
		return fmt.Errorf("reader login: %w", err)
	}
	// The reader's rooms, the bot invited: matrix-notify joins at its first alarm.
	var roomIDs [2]id.RoomID // plain, encrypted
	for i := range roomIDs {
		req := &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{"@bot:localhost"}}
		if i == 1 {
			req.InitialState = []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}}
		}
		resp, err := reader.CreateRoom(ctx, req)
		if err != nil {
			return fmt.Errorf("creating a room: %w", err)
		}
		roomIDs[i] = resp.RoomID
	}
	enc, err := b.newHome("e2ee-encrypted", hs.URL, []string{roomIDs[1].String()}, "")
	if err != nil {
		return err
	}
	encConf := filepath.Join(enc.user, "matrix-notify.toml")
	login := exec.Command(b.bin, "login", "--homeserver", hs.URL, "--user", "bot", "--config", encConf)
	login.Env, login.Stdin = enc.env, strings.NewReader(e2eePassword+"\n")
	if out, err := login.CombinedOutput(); err != nil {
		return fmt.Errorf("matrix-notify login: %v\n%s", err, out)
	}
	// The plain room's config: the same token, no pickle key, no store.
	data, err := os.ReadFile(encConf)
	if err != nil {
		return err
	}
	plainConf := regexp.MustCompile(`(?m)^(pickle_key|crypto_store)\b.*\n`).ReplaceAllString(string(data), "")
	plain, err := b.newHome("e2ee-plain", hs.URL, []string{roomIDs[0].String()}, plainConf)
	if err != nil {
		return err
	}

	step("e2ee: %d runs each, plain and encrypted room, interleaved, after one unrecorded run each", b.o.runs)
	var res [2][]sample
	for i := -1; i < b.o.runs; i++ {
		for k, h := range []*home{plain, enc} {
			s, err := b.runChild(time.Minute, filepath.Join(h.plugins, "matrix-notify"), alarmArgs(300000+2*i+k, "e2ee_alarm"), h.env)
			if err != nil {
				return err
			}
			if s.code != 0 {
				return fmt.Errorf("the alarm into the %s room exited %d", []string{"plain", "encrypted"}[k], s.code)
			}
			if i >= 0 {
				res[k] = append(res[k], s)
			}
		}
	}
	// What the encrypted room holds is ciphertext, one event per alarm.
	msgs, err := reader.Messages(ctx, roomIDs[1], "", "", mautrix.DirectionBackward, nil, 100)
	if err != nil {
		return err
	}
	n := 0
	for _, ev := range msgs.Chunk {
		if ev.Type == event.EventEncrypted {
			n++
		} else if ev.Type == event.EventMessage {
			return fmt.Errorf("the encrypted room got a plaintext %s", ev.Type)
		}
	}
	if n < b.o.runs+1 {
		b.report.note(fmt.Sprintf("e2ee: the encrypted room holds %d encrypted events, %d alarms were sent", n, b.o.runs+1))
	}

	var rows [][]string
	for k, ss := range res {
		rows = append(rows, append([]string{[]string{"plain room", "encrypted room"}[k]}, measured(ss)...))
	}
	b.report.section("Encrypted rooms", fmt.Sprintf("Dendrite v0.13.8 on loopback, one device logged in by `matrix-notify login`; one exec alarm to one room, the device's second and later runs (%d encrypted events arrived). Median [min–max].", n),
		[]string{"room", "runs", "wall ms", "CPU ms", "peak RSS MB", "exit codes"}, rows)
	p, e := of(res[0], wall).med, of(res[1], wall).med
	maxRSS := of(res[1], rss).max
	b.report.add(line("e2ee: an encrypted exec alarm (a device's second run) <= 1.5x the same alarm into a plain room (wall, median)",
		fmt.Sprintf("<= %.1f ms", 1.5*p), fmt.Sprintf("%.1f ms = %.2fx the plain one (%.1f ms)", e, e/p, p), e <= 1.5*p, false),
		line("e2ee: peak RSS of an encrypted exec alarm (max of the runs)", "<= 20 MB",
			fmt.Sprintf("%.1f MB (the plain one: %.1f MB)", maxRSS, of(res[0], rss).max), maxRSS <= 20, false))
	return nil
}

// e2eeGrowth measures what encryption adds to the binary, there being no
// build without it: the code and read-only data (go tool nm -size) that the
// linker keeps only for sender/e2ee, in the binary make build makes but not
// stripped. Kept "only for" it: reachable in the linker's dependency graph
// (-ldflags=-dumpdep) from its roots but no longer when the edges into
// sender/e2ee, and into the init of the packages only it imports, are cut.
// Symbol sizes leave out the function tables the linker adds, which scale
// with the code: the growth is their share of the stripped binary.
func (b *bench) e2eeGrowth() error {
	const e2ee = "matrix-notify/sender/e2ee"
	step("e2ee: the binary's growth from encryption (go list, go build -ldflags=-dumpdep, go tool nm)")
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./plugin").Output()
	if err != nil {
		return fmt.Errorf("go list: %w", err)
	}
	imports := map[string][]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		imports[f[0]] = f[1:]
	}
	// Packages that only e2ee imports, and graph walks that can avoid them.
	walk := func(edges map[string][]string, root string, cut func(string) bool) map[string]bool {
		seen := map[string]bool{root: true}
		for todo := []string{root}; len(todo) > 0; {
			n := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			for _, m := range edges[n] {
				if !seen[m] && !cut(m) {
					seen[m] = true
					todo = append(todo, m)
				}
			}
		}
		return seen
	}
	pkgs := walk(imports, "matrix-notify/plugin", func(p string) bool { return p == e2ee })
	unstripped := filepath.Join(b.tmp, "matrix-notify-symbols")
	var deps strings.Builder
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-dumpdep", "-o", unstripped, "./plugin")
	build.Env, build.Stderr = append(os.Environ(), "CGO_ENABLED=0"), &deps
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build: %v", err)
	}
	edges := map[string][]string{}
	for _, l := range strings.Split(deps.String(), "\n") {
		if from, to, ok := strings.Cut(l, " -> "); ok {
			edges[from] = append(edges[from], to)
		}
	}
	all := walk(edges, "_", func(string) bool { return false })
	without := walk(edges, "_", func(sym string) bool {
		pkg, init := strings.CutSuffix(sym, "..inittask")
		return strings.HasPrefix(sym, e2ee+".") || init && imports[pkg] != nil && !pkgs[pkg]
	})
	if out, err = exec.Command("go", "tool", "nm", "-size", unstripped).Output(); err != nil {
		return fmt.Errorf("go tool nm: %w", err)
	}
	var total, only float64
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l) // address size type name
		if len(f) < 4 || !strings.Contains("TtRr", f[2]) || !all[f[3]] {
			continue // not code or read-only data (bss, data), or not linked
		}
		size, _ := strconv.ParseFloat(f[1], 64)
		total += size
		if !without[f[3]] {
			only += size
		}
	}
	fi, err := os.Stat(b.bin)
	if err != nil {
		return err
	}
	mb := float64(fi.Size()) / (1 << 20)
	b.report.add(line("e2ee: the binary's growth from encryption (what the linker keeps only for sender/e2ee, its share of the stripped binary)",
		"<= 6 MB", fmt.Sprintf("%.1f MB (%.2f MB of code and read-only data, %.1f%% of the binary's, of %.1f MB)", only/total*mb, only/(1<<20), 100*only/total, mb), only/total*mb <= 6, false))
	return nil
}
