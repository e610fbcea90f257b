package fleet

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// DecodeProfile strictly decodes YAML over DefaultProfile and validates it.
// An unknown key or a value of the wrong type fails with its key path
// ("sensors[1].stuck_for") and, for unknown keys, the allowed keys.
// Invariant (fuzzed): it returns a valid profile or an error wrapping
// ErrProfile, and never panics.
func DecodeProfile(data []byte) (Profile, error) {
	p := DefaultProfile()
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return Profile{}, fmt.Errorf("%w: %v", ErrProfile, err)
	}
	if root.Kind == 0 {
		return Profile{}, fmt.Errorf("%w: empty document", ErrProfile)
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	if err := checkNode(doc, reflect.TypeOf(p), ""); err != nil {
		return Profile{}, fmt.Errorf("%w: %v", ErrProfile, err)
	}
	if len(p.Sensors) > 0 && hasKey(doc, "sensors") {
		p.Sensors = nil // a file's sensor list replaces the default one
	}
	if err := doc.Decode(&p); err != nil {
		return Profile{}, fmt.Errorf("%w: %v", ErrProfile, err)
	}
	return p, p.Validate()
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// checkNode walks n against type t and reports the first unknown key or
// mistyped value by its path.
func checkNode(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		return fmt.Errorf("%s: aliases are not supported", at(path))
	}
	switch {
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s: expected a mapping (line %d)", at(path), n.Line)
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i].Value
			ft, ok := fields[key]
			if !ok {
				return fmt.Errorf("%s: unknown key (allowed: %s)", join(path, key), allowed(fields))
			}
			if err := checkNode(n.Content[i+1], ft, join(path, key)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s: expected a list (line %d)", at(path), n.Line)
		}
		for i, c := range n.Content {
			if err := checkNode(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	default:
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return fmt.Errorf("%s: bad value %q for type %s (line %d)", at(path), n.Value, t, n.Line)
		}
	}
	return nil
}

// yamlFields maps yaml keys to field types, flattening ",inline" structs.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if opts == "inline" {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func allowed(m map[string]reflect.Type) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func at(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}
