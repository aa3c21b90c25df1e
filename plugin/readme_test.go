package main

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readmeTable returns the rows of the first Markdown table after the line
// starting with heading in README.md, keyed by the number in their first
// column (rows of one code are joined).
func readmeTable(t *testing.T, heading string) map[int]string {
	t.Helper()
	f, err := os.Open("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[int]string{}
	sc := bufio.NewScanner(f)
	found, inTable := false, false
	for sc.Scan() {
		line := sc.Text()
		if !found {
			found = strings.HasPrefix(line, heading)
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if inTable {
				break
			}
			continue
		}
		inTable = true
		cells := strings.Split(strings.Trim(line, "|"), "|")
		code, err := strconv.Atoi(strings.TrimSpace(cells[0]))
		if err != nil {
			continue // the header and the separator
		}
		rows[code] = strings.TrimSpace(rows[code] + " " + strings.Join(cells[1:], "|"))
	}
	if !found || len(rows) == 0 {
		t.Fatalf("README.md: no table after %q", heading)
	}
	return rows
}

// checkTable compares a README table with the constants of the code: the
// same codes, each row saying what the code means.
func checkTable(t *testing.T, what string, rows map[int]string, want map[int]string) {
	t.Helper()
	for code, words := range want {
		row, ok := rows[code]
		if !ok {
			t.Errorf("README %s: no row for %d (%s)", what, code, words)
			continue
		}
		if !strings.Contains(row, words) {
			t.Errorf("README %s: the row for %d does not say %q: %s", what, code, words, row)
		}
	}
	for code := range rows {
		if _, ok := want[code]; !ok {
			t.Errorf("README %s: %d is in the table but not in the code", what, code)
		}
	}
}

// The README's exit codes and serve's statuses are the code's: a change to
// either that forgets the other fails here.
func TestReadmeExitCodes(t *testing.T) {
	checkTable(t, "exit codes", readmeTable(t, "## Exit codes"), map[int]string{
		exitDelivered: "delivered to every room",
		exitNothing:   "nothing to send by rule",
		exitUsage:     "usage or configuration error",
		exitFailed:    "not delivered",
	})
	// The usage text says the same.
	for _, s := range []string{"0 delivered to every room", "1 nothing to send by rule", "2 usage or\nconfiguration error", "3 delivery failed or left queued"} {
		if !strings.Contains(usageText, s) {
			t.Errorf("usage text: no %q", s)
		}
	}
}

func TestReadmeServeStatuses(t *testing.T) {
	want := map[int]string{
		statusDelivered:        "delivered to every room",
		statusQueued:           "queued for a reason that passes",
		statusBadRequest:       "malformed",
		statusUnauthorized:     "secret",
		statusNoRoute:          "route",
		statusMethodNotAllowed: "POST",
		statusTooLarge:         "max_body",
		statusMediaType:        "content type",
		statusRefused:          "refused for good",
		statusNotQueued:        "neither delivered nor queued",
	}
	if len(want) != len(serveStatuses) {
		t.Fatalf("serveStatuses has %d statuses, this test knows %d: add the new one to both", len(serveStatuses), len(want))
	}
	for _, s := range serveStatuses {
		if _, ok := want[s]; !ok {
			t.Errorf("status %d of serveStatuses is not checked against the README", s)
		}
	}
	rows := readmeTable(t, "## Uptime Kuma") // the section's first table
	checkTable(t, "serve statuses", rows, want)
	// Only 200 and 202 are 2xx: Kuma counts any 2xx as success.
	for code := range rows {
		if code/100 == 2 && !slices.Contains([]int{statusDelivered, statusQueued}, code) {
			t.Errorf("README: %d is a 2xx that is neither delivered nor queued", code)
		}
	}
}
