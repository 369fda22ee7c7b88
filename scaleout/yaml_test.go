package scaleout_test

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// This file is a reader for the subset of YAML that the files under deploy/
// use, because the module has no YAML dependency: block mappings and block
// sequences (indented or not under their key), `- key: value` items, plain,
// "double-quoted" and 'single-quoted' scalars, one-line flow sequences of
// scalars, empty flow mappings, comments and `---` document separators.
// Scalars stay strings. Anything else (block scalars, anchors, tags, tabs,
// non-empty flow mappings) is an error, so that a manifest outside the
// subset fails the test instead of being misread.

// yamlKey is what the reader accepts as a mapping key.
var yamlKey = regexp.MustCompile(`^[A-Za-z0-9_./-]+$`)

// yamlLine is one line holding something, comments removed.
type yamlLine struct {
	num    int // 1-based line number in the file
	indent int
	text   string
}

// parseYAML returns the documents of src: map[string]any, []any, string or
// nil values.
func parseYAML(src string) ([]any, error) {
	var docs []any
	var lines []yamlLine
	flush := func() error {
		if len(lines) == 0 {
			return nil
		}
		p := &yamlParser{lines: lines}
		v, err := p.block(lines[0].indent)
		if err != nil {
			return err
		}
		if p.i < len(p.lines) {
			return fmt.Errorf("line %d: unexpected indentation", p.lines[p.i].num)
		}
		docs = append(docs, v)
		lines = nil
		return nil
	}
	for i, raw := range strings.Split(src, "\n") {
		raw = strings.TrimRight(raw, " \r")
		if raw == "---" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		text := strings.TrimLeft(raw, " ")
		if strings.HasPrefix(text, "\t") {
			return nil, fmt.Errorf("line %d: tab in indentation", i+1)
		}
		text = strings.TrimRight(stripComment(text), " ")
		if text == "" {
			continue
		}
		lines = append(lines, yamlLine{num: i + 1, indent: len(raw) - len(strings.TrimLeft(raw, " ")), text: text})
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return docs, nil
}

// stripComment removes a `#` comment that starts the text or follows a
// space, outside quotes.
func stripComment(s string) string {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '"' && c == '\\':
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || s[i-1] == ' '):
			return s[:i]
		}
	}
	return s
}

type yamlParser struct {
	lines []yamlLine
	i     int
}

func isSeqItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

// block reads the mapping or sequence starting at the current line, whose
// indentation must be indent.
func (p *yamlParser) block(indent int) (any, error) {
	l := p.lines[p.i]
	if l.indent != indent {
		return nil, fmt.Errorf("line %d: unexpected indentation", l.num)
	}
	if isSeqItem(l.text) {
		return p.sequence(indent)
	}
	return p.mapping(indent)
}

// splitKey splits "key: value" or "key:"; ok is false for anything else.
func splitKey(text string) (key, rest string, ok bool) {
	if text == "" || strings.ContainsRune(`"'[{`, rune(text[0])) {
		return "", "", false
	}
	if k, ok := strings.CutSuffix(text, ":"); ok && !strings.Contains(k, ": ") {
		return k, "", true
	}
	k, rest, ok := strings.Cut(text, ": ")
	return k, strings.TrimLeft(rest, " "), ok
}

func (p *yamlParser) mapping(indent int) (map[string]any, error) {
	m := map[string]any{}
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent < indent {
			break
		}
		if l.indent > indent {
			return nil, fmt.Errorf("line %d: unexpected indentation", l.num)
		}
		key, rest, ok := splitKey(l.text)
		if !ok || isSeqItem(l.text) {
			return nil, fmt.Errorf("line %d: want `key: value`, got %q", l.num, l.text)
		}
		if !yamlKey.MatchString(key) {
			return nil, fmt.Errorf("line %d: unsupported key %q", l.num, key)
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("line %d: duplicate key %q", l.num, key)
		}
		p.i++
		if rest != "" {
			v, err := yamlScalar(rest)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", l.num, err)
			}
			m[key] = v
			continue
		}
		m[key] = nil
		if p.i < len(p.lines) {
			next := p.lines[p.i]
			if next.indent > indent || (next.indent == indent && isSeqItem(next.text)) {
				v, err := p.block(next.indent)
				if err != nil {
					return nil, err
				}
				m[key] = v
			}
		}
	}
	return m, nil
}

func (p *yamlParser) sequence(indent int) ([]any, error) {
	s := []any{}
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if l.indent < indent || (l.indent == indent && !isSeqItem(l.text)) {
			break
		}
		if l.indent > indent {
			return nil, fmt.Errorf("line %d: unexpected indentation", l.num)
		}
		content := strings.TrimPrefix(l.text, "-")
		trimmed := strings.TrimLeft(content, " ")
		switch _, _, isKey := splitKey(trimmed); {
		case trimmed == "":
			p.i++
			var v any
			if p.i < len(p.lines) && p.lines[p.i].indent > indent {
				var err error
				if v, err = p.block(p.lines[p.i].indent); err != nil {
					return nil, err
				}
			}
			s = append(s, v)
		case isKey:
			// "- key: value" opens a mapping whose keys line up with "key".
			p.lines[p.i] = yamlLine{num: l.num, indent: indent + 1 + len(content) - len(trimmed), text: trimmed}
			v, err := p.mapping(p.lines[p.i].indent)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		default:
			p.i++
			v, err := yamlScalar(trimmed)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", l.num, err)
			}
			s = append(s, v)
		}
	}
	return s, nil
}

// yamlScalar reads a value written on one line: a scalar, a flow sequence
// of scalars, or {}.
func yamlScalar(s string) (any, error) {
	switch {
	case s == "{}":
		return map[string]any{}, nil
	case strings.HasPrefix(s, "["):
		inner, ok := strings.CutSuffix(s[1:], "]")
		if !ok {
			return nil, fmt.Errorf("unsupported flow sequence %q (one line only)", s)
		}
		items := []any{}
		if strings.TrimSpace(inner) == "" {
			return items, nil
		}
		for _, part := range splitFlow(inner) {
			part = strings.TrimSpace(part)
			if part == "" || strings.ContainsAny(part[:1], "[{") {
				return nil, fmt.Errorf("unsupported flow sequence item %q", part)
			}
			v, err := yamlString(part)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		return items, nil
	default:
		return yamlString(s)
	}
}

// splitFlow splits a flow sequence's inside at commas outside quotes.
func splitFlow(s string) []string {
	var parts []string
	var quote byte
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '"' && c == '\\':
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == ',':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// yamlString reads a plain or quoted scalar.
func yamlString(s string) (string, error) {
	switch s[0] {
	case '"':
		v, err := strconv.Unquote(s)
		if err != nil {
			return "", fmt.Errorf("bad double-quoted scalar %s: %w", s, err)
		}
		return v, nil
	case '\'':
		if len(s) < 2 || !strings.HasSuffix(s, "'") {
			return "", fmt.Errorf("bad single-quoted scalar %s", s)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	case '|', '>', '&', '*', '!', '{', '%', '@', '`':
		return "", fmt.Errorf("unsupported YAML value %q", s)
	}
	return s, nil
}

// dig walks v along path: a string indexes a mapping, an int a sequence.
func dig(v any, path ...any) (any, bool) {
	for _, step := range path {
		switch k := step.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = m[k]; !ok {
				return nil, false
			}
		case int:
			s, ok := v.([]any)
			if !ok || k < 0 || k >= len(s) {
				return nil, false
			}
			v = s[k]
		default:
			return nil, false
		}
	}
	return v, true
}

// digString is dig for a scalar, "" when absent or not a scalar.
func digString(v any, path ...any) string {
	got, _ := dig(v, path...)
	s, _ := got.(string)
	return s
}

func TestYAMLReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []any
	}{
		{"nested_mappings_and_comments", `
# leading comment
a: 1 # trailing
b:
  c: "x: #y"
  d: 'it''s'
e: http://h:3000/p
`, []any{map[string]any{"a": "1", "b": map[string]any{"c": "x: #y", "d": "it's"}, "e": "http://h:3000/p"}}},
		{"sequences_indented_or_not", `
s:
  - a
  - k: v
    l: w
  -
    m: n
t:
- b
- [x, "y z", 'w']
u: []
v: {}
w:
`, []any{map[string]any{
			"s": []any{"a", map[string]any{"k": "v", "l": "w"}, map[string]any{"m": "n"}},
			"t": []any{"b", []any{"x", "y z", "w"}},
			"u": []any{}, "v": map[string]any{}, "w": nil,
		}}},
		{"documents", "a: 1\n---\nb: 2\n", []any{map[string]any{"a": "1"}, map[string]any{"b": "2"}}},
		{"nested_sequence_items", `
c:
  - name: x
    ports:
      - name: http
        port: "80"
`, []any{map[string]any{"c": []any{map[string]any{"name": "x", "ports": []any{map[string]any{"name": "http", "port": "80"}}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseYAML(tt.src)
			if err != nil {
				t.Fatalf("parseYAML: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("parseYAML:\n got %#v\nwant %#v", got, tt.want)
			}
		})
	}

	bad := []struct{ name, src string }{
		{"block_scalar", "a: |\n  text\n"},
		{"anchor", "a: &x 1\n"},
		{"tab", "a:\n\tb: 1\n"},
		{"flow_mapping", "a: {b: 1}\n"},
		{"duplicate_key", "a: 1\na: 2\n"},
		{"bad_indentation", "a:\n    b: 1\n  c: 2\n"},
		{"not_a_mapping", "a: 1\njust text\n"},
	}
	for _, tt := range bad {
		t.Run("rejects_"+tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := parseYAML(tt.src); err == nil {
				t.Fatalf("parseYAML(%q) = %#v, want an error", tt.src, got)
			}
		})
	}
}
