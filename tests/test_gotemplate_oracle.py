"""The template engine against real Go text/template and html/template (skipped when `go` is not installed).

A small Go program renders every case over a struct shaped like tunasync's records; our engine renders
the same cases over the equivalent mapping; outputs and error texts must be identical.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tunasync.gotemplate import ExecError, TemplateError, parse
from tunasync.models import SyncStatus

GO_PROGRAM = r"""
package main

import (
	"bytes"
	"encoding/json"
	htmltemplate "html/template"
	"os"
	"text/template"
	"time"
)

type SyncStatus uint8

func (s SyncStatus) String() string {
	return []string{"none", "failed", "success", "syncing", "pre-syncing", "paused", "disabled"}[s]
}

type Item struct {
	Name       string
	IsMaster   bool
	Status     SyncStatus
	LastUpdate time.Time
	Zero       time.Time
	Size       string
	Retry      int
	Tags       []string
	Empty      []string
	Ratio      float64
}

type Case struct {
	Tpl  string `json:"tpl"`
	HTML bool   `json:"html"`
}

type Result struct {
	Out   string `json:"out"`
	Err   string `json:"err"`
	Parse bool   `json:"parse"`
}

func main() {
	var cases []Case
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	item := Item{
		Name: "c++ <x>", IsMaster: true, Status: 2,
		LastUpdate: time.Date(2024, 5, 1, 12, 34, 56, 500000000, time.FixedZone("CST", 8*3600)),
		Zero:       time.Time{}, Size: "1.33T", Retry: 0, Tags: []string{"a", "b", "c"}, Ratio: 2.5,
	}
	var results []Result
	for _, c := range cases {
		var buf bytes.Buffer
		var r Result
		if c.HTML {
			t, err := htmltemplate.New("log").Parse(c.Tpl)
			if err != nil {
				r = Result{Err: err.Error(), Parse: true}
			} else {
				err = t.Execute(&buf, item)
				r.Out = buf.String()
				if err != nil {
					r.Err = err.Error()
				}
			}
		} else {
			t, err := template.New("").Parse(c.Tpl)
			if err != nil {
				r = Result{Err: err.Error(), Parse: true}
			} else {
				err = t.Execute(&buf, item)
				r.Out = buf.String()
				if err != nil {
					r.Err = err.Error()
				}
			}
		}
		results = append(results, r)
	}
	json.NewEncoder(os.Stdout).Encode(results)
}
"""

DATA = {
    "Name": "c++ <x>",
    "IsMaster": True,
    "Status": SyncStatus.SUCCESS,
    "LastUpdate": datetime(2024, 5, 1, 12, 34, 56, 500000, tzinfo=timezone(timedelta(hours=8), "CST")),
    "Zero": datetime(1, 1, 1, tzinfo=timezone.utc),
    "Size": "1.33T",
    "Retry": 0,
    "Tags": ["a", "b", "c"],
    "Empty": [],
    "Ratio": 2.5,
}

TEXT_CASES = [
    "{{.Name}}",
    "{{.Name}} {{.IsMaster}} {{.Status}} {{.Size}} {{.Retry}} {{.Ratio}}",
    "{{.LastUpdate}}|{{.Zero}}",
    "{{.Tags}}|{{.Empty}}",
    '{{printf "%-12s|%5s|%05d|%x|%X|%o|%b|%c|%q|%U" .Name .Size 42 255 255 8 5 65 .Name 9731}}',
    '{{printf "%v %s %d %t" .Status .Status .Status .IsMaster}}',
    '{{printf "%6.2f|%e|%g|%v|%.3s|%T" .Ratio 1234.5678 0.000012 1e21 .Name .Tags}}',
    '{{printf "%d %s" 1}}',
    '{{printf "%d" 1 "x" 2.5}}',
    '{{printf "%d" .Name}}|{{printf "%s" 3}}|{{printf "%t" 1}}|{{printf "%z" 1}}',
    "{{printf \"%%|%5t|%-5d|%+d\" true 3 3}}",
    '{{.Name | printf "<%s>"}}|{{.Size | printf "%s-%s" "x"}}',
    "{{if .IsMaster}}m{{else}}s{{end}}{{if .Retry}}r{{else if .Size}}z{{end}}{{if .Status}}st{{end}}",
    "{{if and .IsMaster .Retry}}a{{end}}{{if or .Retry .Size}}o{{end}}{{if not .Retry}}n{{end}}",
    "{{and .IsMaster .Size}}|{{or .Retry .Empty .Name}}|{{and 0 1}}",
    '{{if eq .Size "1.33T" "x"}}eq{{end}}{{if ne .Retry 1}}ne{{end}}{{if lt .Retry 1}}lt{{end}}'
    "{{if ge .Ratio 2.5}}ge{{end}}{{if gt 3 2}}gt{{end}}{{if le 2 2}}le{{end}}",
    "{{with .Size}}({{.}}){{end}}{{with .Retry}}({{.}}){{else}}none{{end}}",
    "{{range $i, $t := .Tags}}{{if $i}},{{end}}{{$i}}={{$t}}{{end}}",
    "{{range .Empty}}x{{else}}empty{{end}}|{{range .Tags}}{{.}}{{end}}",
    '{{range .Tags}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}|{{range .Tags}}{{if eq . "b"}}{{break}}{{end}}{{.}}{{end}}',
    "{{$n := .Name}}{{$s := .Size}}{{with .Tags}}{{$n}}/{{$s}}/{{index . 2}}{{end}}{{$n = \"y\"}}{{$n}}",
    "{{$.Name}}|{{range .Tags}}{{$.Size}}{{end}}",
    "  a  {{- .Size -}}  b  {{- /* c */ -}}  d",
    "{{/* only a comment */}}",
    "{{len .Name}} {{len .Tags}} {{index .Tags 1}} {{slice .Name 1 3}} {{slice .Tags 1}}",
    '{{print "a" 1 2 "b" 3.5 true}}|{{println 1 "x"}}|{{print}}',
    '{{html "<a href=\'x\'>&+"}}|{{urlquery "a b&c=d/é"}}|{{js "it\'s <b>"}}',
    "{{`raw {{ }}`}}|{{\"esc\\t\\x41\\u00e9\"}}|{{'a'}}|{{0x1F}}|{{1_000}}|{{-5}}|{{1.5e3}}|{{010}}",
    "{{.LastUpdate.Format \"2006-01-02 15:04:05.000 Mon Jan _2 3PM MST -0700 Z07:00\"}}",
    "{{.LastUpdate.Unix}} {{.LastUpdate.Year}} {{.LastUpdate.Month}} {{.LastUpdate.Day}} {{.LastUpdate.Weekday}}"
    " {{.LastUpdate.UTC}} {{.Zero.IsZero}} {{.LastUpdate.YearDay}}",
    "{{(index .Tags 0)}}{{(printf \"%s\" .Size)}}",
    "{{nil}}",
    "{{.}}",
    "{{with $x := .Size}}{{$x}}{{end}}|{{if $y := .Retry}}{{$y}}{{else}}{{$y}}{{end}}",
    "{{with $x := .Size}}{{end}}{{$x}}",
    "{{range $i, $e, $f := .Tags}}{{end}}",
    '{{.Size | printf "%s" | len}}|{{.Tags | len}}|{{slice .Name}}',
    "{{index .Tags -1}}",
    '{{printf "%8.3f|%-8.2e|%08.3f|%+.1f|%x" 3.14159 31415.9 -3.14159 2.0 "hi"}}',
    '{{printf "%5s|%-5s|%.2s|%5.1s|" "é" "日本" "日本語" "xyz"}}',
    '{{printf "%v|%d|%s|%q" .Tags .Tags .Tags .Tags}}',
    '{{printf "%x %X %5t|%v" .Name .Name false .Zero}}',
    '{{printf "%s" nil}}|{{printf "%v" nil}}|{{printf "%d" nil}}',
    '{{.LastUpdate.Format "Jan 2, 2006 at 3:04pm (MST)"}}|{{.LastUpdate.Format "20060102T150405Z0700"}}',
    '{{.Zero.Format "2006-01-02T15:04:05Z07:00"}}|{{.LastUpdate.Format ".999999999|.000000|,000|.9|05.99"}}',
    "a\n{{- .Size}}\n  {{.Size -}}\n  b",
    "{{ .Size }}|{{\n.Size\n}}|{{- 3}}|{{-3}}|{{3 -}} x",
    "{{if eq .Status 2}}two{{end}}{{if ne .Status 1}}notone{{end}}",
    "{{not .Status}}|{{and .Status .Size}}|{{or .Zero .Size}}",
    "{{range $k, $v := .Tags}}{{$k}}{{end}}|{{range .Tags}}{{with .}}{{break}}{{end}}{{end}}x",
    "{{if .Tags}}t{{end}}{{if .Empty}}e{{end}}{{if .Zero}}z{{end}}{{if .Ratio}}r{{end}}",
    "{{else}}",
    "{{end}}",
    "{{range .Tags}}{{else}}{{else}}{{end}}",
    "{{if .X}}{{end}}",
    "{{printf \"%s\" (.Nope)}}",
    "x\n  {{.Name}} {{.Nope}} after",
    "{{.Name.Foo}}",
    "{{.Tags.Foo}}",
    "{{printf}}",
    "{{index .Tags 5}}",
    "{{len 3}}",
    "{{.Size 1}}",
    '{{"x" 1}}',
    "{{if}}x{{end}}",
    "{{.Name",
    "{{if .Name}}x",
    "x{{end}}",
    "{{nosuch .Name}}",
    "{{}}",
    "{{else}}",
    "{{break}}",
    '{{"abc}}',
    "{{/* x }}",
    "{{$x}}",
    "{{range .Name}}{{end}}",
    "{{.Name | .Size}}",
    "{{eq .Name 1}}",
]

HTML_CASES = [
    "/var/log/tunasync/{{.Name}}",
    "/var/log/{{.Name}}/{{.Size}}+{{printf \"%s&%d\" .Name 1}}",
    "/var/log/{{.Name}}/{{.Nope}}/x",
    "/log/{{if .IsMaster}}{{.Name}}{{end}}/{{.Retry}}",
    '{{printf "%s" "a\'b\\"c&d\\x00e+f"}}/{{.Tags}}/{{.Status}}/{{.IsMaster}}',
    "{{.LastUpdate}}/{{.Ratio}}/{{nil}}",
]


@pytest.fixture(scope="module")
def go_results(tmp_path_factory):
    go = shutil.which("go")
    if go is None:
        pytest.skip("go is not installed: no Go text/template oracle (apt install golang-go)")
    d: Path = tmp_path_factory.mktemp("gotpl")
    (d / "main.go").write_text(GO_PROGRAM)
    cases = [{"tpl": t, "html": False} for t in TEXT_CASES] + [{"tpl": t, "html": True} for t in HTML_CASES]
    env = dict(os.environ, GO111MODULE="off", GOCACHE=str(d / "cache"), GOPATH=str(d / "gopath"))
    proc = subprocess.run([go, "run", str(d / "main.go")], input=json.dumps(cases), capture_output=True,
                          text=True, env=env, timeout=300, check=True)
    return dict(zip([(c["tpl"], c["html"]) for c in cases], json.loads(proc.stdout), strict=True))


def _ours(tpl: str, html: bool) -> dict:
    try:
        t = parse(tpl, "log" if html else "")
    except TemplateError as exc:
        return {"out": "", "err": str(exc), "parse": True}
    try:
        return {"out": t.execute(DATA, html=html, strict=True, type_name="main.Item"), "err": "", "parse": False}
    except ExecError as exc:
        return {"out": exc.partial, "err": str(exc), "parse": False}


@pytest.mark.parametrize("tpl", TEXT_CASES)
def test_text_template_matches_go(go_results, tpl):
    assert _ours(tpl, False) == go_results[(tpl, False)]


@pytest.mark.parametrize("tpl", HTML_CASES)
def test_html_template_matches_go(go_results, tpl):
    go = go_results[(tpl, True)]
    ours = _ours(tpl, True)
    assert ours["out"] == go["out"]
    assert bool(ours["err"]) == bool(go["err"])
