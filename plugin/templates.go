package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"matrix-notify/adapters/liquidjs"
	"matrix-notify/sender"
	"matrix-notify/sender/format"
)

// messageTemplates are a section's user templates, parsed once. markdown
// excludes the other two.
type messageTemplates struct {
	section               string
	plain, html, markdown *liquidjs.Template
}

// templateSource returns the inline template or the file's content. A
// relative file name is relative to the TOML file's directory.
func templateSource(inline, file, configDir, key string) (name, src string, err error) {
	if inline != "" && file != "" {
		return "", "", fmt.Errorf("set %s or %s_file, not both", key, key)
	}
	if inline != "" {
		return key, inline, nil
	}
	if file == "" {
		return "", "", nil
	}
	if !filepath.IsAbs(file) && configDir != "" {
		file = filepath.Join(configDir, file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", "", fmt.Errorf("%s_file: %w", key, err)
	}
	return file, string(b), nil
}

// templateSlot is one of a section's three templates as configured.
type templateSlot struct{ key, inline, file string }

// set is the key given for the template (key or key_file), "" if neither.
func (t templateSlot) set() string {
	switch {
	case t.inline != "":
		return t.key
	case t.file != "":
		return t.key + "_file"
	}
	return ""
}

// slots are the section's plain, HTML and Markdown templates.
func (tc templateConfig) slots() [3]templateSlot {
	return [3]templateSlot{{"template", tc.Template, tc.TemplateFile}, {"html_template", tc.HTMLTemplate, tc.HTMLTemplateFile},
		{"markdown_template", tc.MarkdownTemplate, tc.MarkdownTemplateFile}}
}

// loadTemplates parses a [kuma] or [netdata] section's templates, in s's
// time zone. The Liquid engine is made only for a section that has one:
// most alarms use the stock wording.
func (a *app) loadTemplates(s settings, section string, tc templateConfig, configDir string) (messageTemplates, error) {
	mt := messageTemplates{section: section}
	slots := tc.slots()
	if md := slots[2].set(); md != "" {
		for _, other := range slots[:2] {
			if other.set() != "" {
				return mt, fmt.Errorf("config: set %s.%s or %s.%s, not both: the Markdown template makes both bodies", section, md, section, other.set())
			}
		}
	}
	var e *liquidjs.Engine
	for i, dst := range []**liquidjs.Template{&mt.plain, &mt.html, &mt.markdown} {
		t := slots[i]
		name, src, err := templateSource(t.inline, t.file, configDir, section+"."+t.key)
		if err != nil {
			return mt, fmt.Errorf("config: %w", err)
		}
		if src == "" {
			continue
		}
		if e == nil {
			e = liquidjs.New(liquidjs.Options{Location: s.Location, Now: a.now})
		}
		tpl, err := e.Parse(name, src)
		if err != nil {
			return mt, fmt.Errorf("config: %w", err) // names the key or file, line and column
		}
		*dst = tpl
	}
	return mt, nil
}

// content renders the templates over ctx. A template that fails at render
// time never loses the alert: the default message goes out instead, with a
// warning.
func (mt messageTemplates) content(ctx map[string]any, def sender.Content, log *slog.Logger) sender.Content {
	if mt.plain == nil && mt.html == nil && mt.markdown == nil {
		return def
	}
	// render renders t; a failure is logged and reported, and the caller
	// sends the default message.
	render := func(t *liquidjs.Template, key string) (string, bool) {
		out, err := t.Render(ctx)
		if err != nil {
			log.Warn("a template failed, sending the default message", "template", "["+mt.section+"] "+key, "err", err)
			return "", false
		}
		return out, true
	}
	c := def
	if mt.markdown != nil {
		md, ok := render(mt.markdown, "markdown_template")
		if !ok {
			return def
		}
		// Markdown reads as text: the body is the template's output as
		// written, the HTML body its rendering.
		c.Body = md
		c.Format, c.FormattedBody = sender.FormatHTML, format.Sanitize(format.Markdown(md))
		return c
	}
	if mt.plain != nil {
		body, ok := render(mt.plain, "template")
		if !ok {
			return def
		}
		c.Body = body
	}
	if mt.html != nil {
		html, ok := render(mt.html, "html_template")
		if !ok {
			return def
		}
		c.Format, c.FormattedBody = sender.FormatHTML, format.Sanitize(html)
		if mt.plain == nil {
			// The plain body says what the HTML says, not the default text.
			c.Body = format.PlainText(c.FormattedBody)
		}
	} else if mt.plain != nil {
		// A plain template replaces the text; the default HTML would say
		// something else, so it goes.
		c.Format, c.FormattedBody = "", ""
	}
	return c
}
