package common

import (
	"bytes"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig/v3"
)

// ProcessTemplate executes text as a Go text/template with args as its
// data and the sprig function library, as go-restricted-runner does: a
// missing key renders as "" (never "<no value>"). It fails for a template
// that does not parse or does not execute.
//
// The runners do not use it: their options take only `{{ .name }}`
// placeholders, filled for each spawn from its params, and a placeholder
// naming a param that is not given is an error there, not "".
func ProcessTemplate(text string, args map[string]interface{}) (string, error) {
	tmpl, err := template.New("command").
		Option("missingkey=zero").
		Funcs(sprig.FuncMap()).
		Parse(text)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, args); err != nil {
		return "", err
	}
	// missingkey=zero still prints "<no value>" for a missing key of a
	// map[string]interface{}.
	return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
}

// ProcessTemplateListFlexible runs ProcessTemplate on each item of list,
// keeping an item as it was when its template fails. The result is never
// nil.
func ProcessTemplateListFlexible(list []string, args map[string]interface{}) []string {
	res := []string{}
	for _, item := range list {
		processed, err := ProcessTemplate(item, args)
		if err != nil {
			processed = item
		}
		res = append(res, processed)
	}
	return res
}
