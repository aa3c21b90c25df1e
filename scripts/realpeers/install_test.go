package realpeers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestInstallScript: scripts/install.sh finds netdata's plugins directory in
// each layout (from `netdata -W buildinfo` when it says, else the known
// layouts), installs the binary and the wrapper with alarm-notify.sh's mode,
// and says what it did; --plugins-dir DIR installs there whatever detection
// would find, and --dry-run says what it would install and changes nothing
// (README: "`--plugins-dir DIR` names the directory; `--dry-run` only
// says"). Hermetic: every layout is built under a --prefix or a scratch
// directory and netdata is a stand-in script.
func TestInstallScript(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(repo, "scripts/install.sh")
	bin := filepath.Join(t.TempDir(), "matrix-notify")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	const newBuildinfo = "Netdata Version: v2.2.0\nDefault Directories:\n    Plugins:          /usr/libexec/netdata/plugins.d\nPlugins:\n    apps:  YES\n"
	const oldBuildinfo = "Version: netdata v1.37.1\nConfigure options:  '--prefix=/usr' '--libexecdir=${prefix}/lib' '--libexecdir=/usr/local/lib' '--with-math'\nPlugins:\n    apps:                    YES\n"
	cases := []struct {
		name      string
		buildinfo string   // what the stand-in netdata prints; "" for no netdata
		dirs      []string // plugins.d directories holding alarm-notify.sh
		mode      os.FileMode
		want      string // the directory chosen, "" for an error
	}{
		{"debian", "", []string{"/usr/lib/netdata/plugins.d"}, 0o755, "/usr/lib/netdata/plugins.d"},
		{"rpm", "", []string{"/usr/libexec/netdata/plugins.d"}, 0o750, "/usr/libexec/netdata/plugins.d"},
		{"static", "", []string{"/opt/netdata/usr/libexec/netdata/plugins.d"}, 0o755, "/opt/netdata/usr/libexec/netdata/plugins.d"},
		{"buildinfo 2.x wins over a stale layout", newBuildinfo, []string{"/usr/lib/netdata/plugins.d", "/usr/libexec/netdata/plugins.d"}, 0o755, "/usr/libexec/netdata/plugins.d"},
		{"buildinfo 1.37 configure options", oldBuildinfo, []string{"/usr/local/lib/netdata/plugins.d", "/usr/lib/netdata/plugins.d"}, 0o755, "/usr/local/lib/netdata/plugins.d"},
		{"no netdata", "", nil, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, d := range tc.dirs {
				if err := os.MkdirAll(root+d, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root+d, "alarm-notify.sh"), []byte("#!/bin/bash\n"), tc.mode); err != nil {
					t.Fatal(err)
				}
				os.Chmod(filepath.Join(root+d, "alarm-notify.sh"), tc.mode)
				if os.Geteuid() == 0 { // as netdata's: root:netdata on Debian
					must(t, os.Chown(filepath.Join(root+d, "alarm-notify.sh"), 0, 65534))
				}
			}
			netdata := filepath.Join(t.TempDir(), "netdata")
			if tc.buildinfo != "" {
				os.WriteFile(netdata, []byte("#!/bin/sh\n[ \"$1 $2\" = '-W buildinfo' ] || exit 1\ncat <<'EOF'\n"+tc.buildinfo+"EOF\n"), 0o755)
			}
			cmd := exec.Command("bash", script, "--prefix", root, "--bin", bin)
			cmd.Env = append(os.Environ(), "NETDATA="+netdata)
			out, err := cmd.CombinedOutput()
			if tc.want == "" {
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
					t.Fatalf("want exit 2, got %v:\n%s", err, out)
				}
				if !strings.Contains(string(out), "--plugins-dir") || !strings.Contains(string(out), "/usr/lib/netdata/plugins.d") {
					t.Errorf("the error should say where it looked and how to name the directory:\n%s", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v:\n%s", err, out)
			}
			dir := root + tc.want
			for _, name := range []string{"matrix-notify", "alarm-notify-with-matrix.sh"} {
				st, err := os.Stat(filepath.Join(dir, name))
				if err != nil {
					t.Fatalf("not installed in %s: %v\n%s", tc.want, err, out)
				}
				if st.Mode().Perm() != tc.mode {
					t.Errorf("%s: mode %v, want alarm-notify.sh's %v", name, st.Mode().Perm(), tc.mode)
				}
				if sys := st.Sys().(*syscall.Stat_t); os.Geteuid() == 0 && (sys.Uid != 0 || sys.Gid != 65534) {
					t.Errorf("%s: owner %d:%d, want alarm-notify.sh's 0:65534", name, sys.Uid, sys.Gid)
				}
				if !strings.Contains(string(out), "installed "+filepath.Join(dir, name)) {
					t.Errorf("the script does not say it installed %s:\n%s", name, out)
				}
			}
			if !strings.Contains(string(out), "script to execute on alarm = "+filepath.Join(dir, "matrix-notify")) {
				t.Errorf("the next steps do not name the installed path:\n%s", out)
			}
			// The link on PATH, for the commands run by hand.
			link := filepath.Join(root, "usr/local/bin/matrix-notify")
			if to, err := os.Readlink(link); err != nil || to != filepath.Join(dir, "matrix-notify") {
				t.Errorf("link %s -> %q (%v), want %s", link, to, err, filepath.Join(dir, "matrix-notify"))
			}
			if !strings.Contains(string(out), "linked "+link+" -> ") || !strings.Contains(string(out), "runuser -u netdata -- "+link+" test") {
				t.Errorf("the script does not say it linked %s, or does not use the link:\n%s", link, out)
			}
			matches, _ := filepath.Glob(filepath.Join(root, "*/*/*/*/*.plugin"))
			if len(matches) > 0 {
				t.Errorf("installed as a *.plugin: %v", matches)
			}
		})
	}

	// layout makes the plugins directory dir, holding an alarm-notify.sh with mode.
	layout := func(t *testing.T, dir string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		script := filepath.Join(dir, "alarm-notify.sh")
		if err := os.WriteFile(script, []byte("#!/bin/bash\n"), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(script, mode)
	}
	run := func(t *testing.T, netdataBuildinfo string, args ...string) (string, error) {
		t.Helper()
		netdata := filepath.Join(t.TempDir(), "netdata")
		if netdataBuildinfo != "" {
			os.WriteFile(netdata, []byte("#!/bin/sh\n[ \"$1 $2\" = '-W buildinfo' ] || exit 1\ncat <<'EOF'\n"+netdataBuildinfo+"EOF\n"), 0o755)
		}
		cmd := exec.Command("bash", append([]string{script, "--bin", bin}, args...)...)
		cmd.Env = append(os.Environ(), "NETDATA="+netdata)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	t.Run("--plugins-dir names the directory", func(t *testing.T) {
		// Detection would pick the Debian layout under root (and netdata
		// names yet another directory): --plugins-dir wins over both.
		root := t.TempDir()
		detected := root + "/usr/lib/netdata/plugins.d"
		layout(t, detected, 0o755)
		named := filepath.Join(t.TempDir(), "my plugins.d")
		layout(t, named, 0o750)
		out, err := run(t, newBuildinfo, "--prefix", root, "--plugins-dir", named)
		if err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		for _, name := range []string{"matrix-notify", "alarm-notify-with-matrix.sh"} {
			st, err := os.Stat(filepath.Join(named, name))
			if err != nil {
				t.Fatalf("not installed in the named %s: %v\n%s", named, err, out)
			}
			if st.Mode().Perm() != 0o750 {
				t.Errorf("%s: mode %v, want the named directory's alarm-notify.sh's 0750", name, st.Mode().Perm())
			}
			if !strings.Contains(out, "installed "+filepath.Join(named, name)+" (") {
				t.Errorf("the script does not say it installed %s:\n%s", filepath.Join(named, name), out)
			}
			if _, err := os.Stat(filepath.Join(detected, name)); err == nil {
				t.Errorf("also installed %s in the detected %s", name, detected)
			}
		}
		if !strings.Contains(out, "script to execute on alarm = "+filepath.Join(named, "matrix-notify")) {
			t.Errorf("the next steps do not name the installed path:\n%s", out)
		}
		if out, err := run(t, "", "--plugins-dir", named, "--print-plugins-dir"); err != nil || strings.TrimSpace(out) != named {
			t.Errorf("--print-plugins-dir with --plugins-dir: %v %q, want %q", err, out, named)
		}

		missing := filepath.Join(t.TempDir(), "nowhere")
		out, err = run(t, "", "--plugins-dir", missing)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(out, missing) {
			t.Errorf("--plugins-dir naming no directory: want exit 2 naming it, got %v:\n%s", err, out)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Errorf("--plugins-dir made the missing directory %s", missing)
		}
	})

	t.Run("--no-link", func(t *testing.T) {
		root := t.TempDir()
		dir := root + "/usr/lib/netdata/plugins.d"
		layout(t, dir, 0o755)
		out, err := run(t, "", "--prefix", root, "--no-link")
		if err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if _, err := os.Lstat(filepath.Join(root, "usr/local/bin/matrix-notify")); err == nil {
			t.Errorf("--no-link linked:\n%s", out)
		}
		if !strings.Contains(out, "runuser -u netdata -- "+filepath.Join(dir, "matrix-notify")+" test") {
			t.Errorf("without the link, the hint must name the path:\n%s", out)
		}
	})

	t.Run("--dry-run changes nothing and says what it would do", func(t *testing.T) {
		root := t.TempDir()
		dir := root + "/usr/lib/netdata/plugins.d"
		layout(t, dir, 0o750)
		// An older matrix-notify already installed: a dry run keeps it.
		must(t, os.WriteFile(filepath.Join(dir, "matrix-notify"), []byte("old version\n"), 0o700))
		before := snapshot(t, root)
		for _, args := range [][]string{
			{"--prefix", root, "--dry-run"},
			{"--plugins-dir", dir, "-n"},
		} {
			out, err := run(t, "", args...)
			if err != nil {
				t.Fatalf("%v: %v:\n%s", args, err, out)
			}
			if after := snapshot(t, root); after != before {
				t.Errorf("%v changed the tree:\nbefore:\n%s\nafter:\n%s", args, before, after)
			}
			for _, name := range []string{"matrix-notify", "alarm-notify-with-matrix.sh"} {
				if !strings.Contains(out, "would install "+filepath.Join(dir, name)+" (") || !strings.Contains(out, " 0750)") {
					t.Errorf("%v does not say it would install %s with alarm-notify.sh's mode 0750:\n%s", args, filepath.Join(dir, name), out)
				}
			}
			if strings.Contains(out, "\ninstalled ") || strings.HasPrefix(out, "installed ") {
				t.Errorf("%v says it installed something:\n%s", args, out)
			}
		}
	})
}

// snapshot lists every file under root with its mode and content.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %v", path, info.Mode())
		if d.Type().IsRegular() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, " %q", data)
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
